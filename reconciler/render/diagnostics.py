"""Validation results as text, JSON or GitHub workflow commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import Diagnostic
from reconciler.render import Formats


def _escape_github(value: str, *, prop: bool = False) -> str:
    # Workflow-command escaping: %, CR and LF always; ':' and ',' inside properties.
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def render_text(diagnostics: Sequence[Diagnostic], files: int, schedules: int) -> str:
    lines = [str(d) for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    if errors:
        lines.append(f"{errors} error(s), {warnings} warning(s) in {files} file(s)")
    else:
        lines.append(
            f"ok: {schedules} schedule(s) in {files} file(s) are valid"
            + (f", {warnings} warning(s)" if warnings else "")
        )
    return "\n".join(lines)


def render_json(diagnostics: Sequence[Diagnostic], valid: bool) -> str:
    return json.dumps(
        {
            "valid": valid,
            "errors": [d.to_dict() for d in diagnostics if d.severity == "error"],
            "warnings": [d.to_dict() for d in diagnostics if d.severity == "warning"],
        },
        indent=2,
    )


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        props = f"file={_escape_github(d.file, prop=True)},line={d.line},col={d.column}"
        lines.append(f"::{d.severity} {props}::{_escape_github(d.message)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Findings:
    """What `validate` found, with the counts its summary line gives."""

    diagnostics: Sequence[Diagnostic]
    files: int
    schedules: int
    valid: bool


FORMATS: Formats[Findings] = {
    "text": lambda f, _: render_text(f.diagnostics, f.files, f.schedules),
    "json": lambda f, _: render_json(f.diagnostics, f.valid),
    # No findings, no workflow commands: not even an empty line in the log.
    "github": lambda f, _: render_github(f.diagnostics) if f.diagnostics else None,
}
