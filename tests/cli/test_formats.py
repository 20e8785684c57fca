"""Formats as a registry: `--format` offers exactly the renderer's FORMATS, one emit prints."""

from __future__ import annotations

import importlib
import re

import pytest

from reconciler.errors import Diagnostic
from reconciler.render.diagnostics import FORMATS, Findings

from ..conftest import run_cli


@pytest.mark.parametrize(
    ("command", "module", "mapping"),
    [
        ("validate", "reconciler.render.diagnostics", "FORMATS"),
        ("plan", "reconciler.render.plan", "FORMATS"),
        ("next", "reconciler.render.upcoming", "FORMATS"),
        ("runs", "reconciler.render.live", "RUNS_FORMATS"),
    ],
)
def test_format_choices_are_the_renderers_keys(command: str, module: str, mapping: str) -> None:
    out = run_cli([command, "--help"])
    shown = re.search(r"--format \[([^\]]+)\]", out.stdout)
    assert shown, out.stdout
    assert shown.group(1).split("|") == list(getattr(importlib.import_module(module), mapping))


def test_github_format_prints_nothing_without_findings() -> None:
    assert FORMATS["github"](Findings([], 1, 1, True), False) is None
    found = [Diagnostic("a.yaml", 2, 3, "bad, really")]
    assert FORMATS["github"](Findings(found, 1, 0, False), False) == (
        "::error file=a.yaml,line=2,col=3::bad, really"
    )
