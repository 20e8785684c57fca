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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_findings(
    diagnostics: Sequence[Diagnostic], files: int, schedules: int, *, config: bool = False
) -> str:
    """Each finding, then one summary line. `files`: schedule files read or tried; `config`:
    whether a config file was read too (it counts among the files checked)."""
    lines = [str(d) for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    if errors:
        found = {d.file for d in diagnostics if d.file}
        where = f" in {_count(len(found), 'file')}" if found else ""
        lines.append(
            f"{_count(errors, 'error')}, {_count(warnings, 'warning')}{where} "
            f"({_count(files + config, 'file')} checked)"
        )
    else:
        lines.append(
            f"ok: {_count(schedules, 'schedule')} in {_count(files, 'file')} "
            f"{'is' if schedules == 1 else 'are'} valid"
            + (f", {_count(warnings, 'warning')}" if warnings else "")
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
        # An annotation without a file (a --target typo) shows on the run; without a line, on
        # the file.
        props = f" file={_escape_github(d.file, prop=True)}" if d.file else ""
        if d.file and d.line > 0:
            props += f",line={d.line},col={d.column}"
        lines.append(f"::{d.severity}{props}::{_escape_github(d.message)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Findings:
    """What `validate` found, with the counts its summary line gives."""

    diagnostics: Sequence[Diagnostic]
    files: int
    schedules: int
    valid: bool
    config: bool = False  # a config file was read too: it counts among the files checked


FORMATS: Formats[Findings] = {
    "text": lambda f, _: render_findings(f.diagnostics, f.files, f.schedules, config=f.config),
    "json": lambda f, _: render_json(f.diagnostics, f.valid),
    # No findings, no workflow commands: not even an empty line in the log.
    "github": lambda f, _: render_github(f.diagnostics) if f.diagnostics else None,
}
