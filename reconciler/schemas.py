"""The JSON schemas of schedule files and schedctl.yaml, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.model import Config, Fleet, Schedule

SCHEMA_ID = "https://schedctl.dev/schemas/{name}"  # an identifier, never fetched


def schedule_file_schema() -> dict[str, Any]:
    """A schedule document, or a template document (one with `template` or `for_each`).

    The properties of both are listed at the top, so editors complete either kind; which one
    a document must be is decided by if/then/else.
    """
    schema = Schedule.model_json_schema()
    template = Fleet.model_json_schema()
    defs = {**schema.pop("$defs", {}), **template.pop("$defs", {})}
    defs["Fleet"] = template
    required = schema.pop("required")
    properties = dict(schema["properties"])
    for key, value in template["properties"].items():
        properties.setdefault(key, value)
    return {
        **schema,
        "properties": properties,
        "if": {"anyOf": [{"required": ["template"]}, {"required": ["for_each"]}]},
        "then": {"$ref": "#/$defs/Fleet"},
        "else": {"required": required},
        "$defs": defs,
    }


def build_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, build, title in (
        ("schedule.schema.json", schedule_file_schema, "schedctl schedule file"),
        ("config.schema.json", Config.model_json_schema, "schedctl config (schedctl.yaml)"),
    ):
        schema = build()
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID.format(name=name),
            **schema,
            "title": title,
        }
        out[name] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write_schemas(out_dir: str | Path, *, check: bool = False) -> list[Path]:
    """Write (or with check=True only compare) the schemas; return the files that differ."""
    directory = Path(out_dir)
    differs: list[Path] = []
    for name, schema in build_schemas().items():
        path = directory / name
        text = render(schema)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            differs.append(path)
            if not check:
                directory.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return differs
