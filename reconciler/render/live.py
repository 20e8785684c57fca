"""Live views: the status table over every target, a task's run history, import results."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.importer import Imported
from reconciler.status import StatusRow

STATUS_COLUMNS = (
    "target",
    "key",
    "title",
    "enabled",
    "last status",
    "last run",
    "next run",
    "errors",
    "state",
)
STATE_STYLES = {"in sync": "green", "drifted": "yellow", "missing": "red", "not in repo": "magenta"}
# The same run field under each platform's name (engine camelCase, aitroop snake_case).
RUN_FIELDS: dict[str, tuple[str, ...]] = {
    "run": ("runId", "run_id", "id"),
    "task": ("schedule", "taskId", "task_id"),
    "trigger": ("triggerType", "triggered", "trigger"),
    "status": ("status",),
    "started": ("startedAt", "started_at"),
    "duration ms": ("durationMs", "duration_ms"),
    "error": ("error", "last_error"),
}


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    rich: bool,
    styles: Sequence[str | None] = (),
) -> str:
    """A rich table on a terminal, plain aligned columns otherwise (stable for scripts)."""
    if rich:
        from rich.console import Console
        from rich.table import Table

        out = Table(*headers, show_lines=False)
        for index, row in enumerate(rows):
            out.add_row(*row, style=styles[index] if index < len(styles) else None)
        buffer = io.StringIO()
        Console(file=buffer, force_terminal=True, width=200).print(out)
        return buffer.getvalue().rstrip("\n")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def render_status(rows: Sequence[StatusRow], *, rich: bool) -> str:
    cells = [
        [
            r.target,
            r.key,
            r.title,
            _text(r.enabled),
            _text(r.last_status),
            _text(r.last_run),
            _text(r.next_run),
            _text(r.errors),
            r.state,
        ]
        for r in rows
    ]
    styles = [STATE_STYLES.get(r.state) for r in rows]
    return (
        table(STATUS_COLUMNS, cells, rich=rich, styles=styles) if rows else "no tasks on any target"
    )


def render_runs(runs: Sequence[Mapping[str, Any]], *, rich: bool) -> str:
    if not runs:
        return "no runs yet"
    cells = [
        [_text(next((r[k] for k in keys if k in r), None)) for keys in RUN_FIELDS.values()]
        for r in runs
    ]
    return table(list(RUN_FIELDS), cells, rich=rich)


def render_imported(results: Sequence[Imported]) -> str:
    lines = []
    for r in results:
        where = r.path or "-"
        lines.append(
            f"{r.status:<8} {r.key:<32} {where}" + (f"  ({r.message})" if r.message else "")
        )
    return "\n".join(lines) if lines else "no live task matched"
