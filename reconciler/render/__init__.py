"""Renderers: turn results and plans (plain data) into text, JSON, markdown or GitHub output."""
