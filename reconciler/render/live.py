"""Live views: the status table over every target, a task's run history, import results.

Tables go through render.tables: rich on a terminal, plain columns otherwise, control
characters escaped (render.text.printable) like every name or field a platform sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape

from reconciler.importer import Imported
from reconciler.render import Formats
from reconciler.render.tables import render_table
from reconciler.render.text import printable
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
    """A cell: escaped for the terminal first, then for rich's markup."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(printable(str(value)))


def render_status(rows: Sequence[StatusRow], *, color: bool) -> str:
    if not rows:
        return "no tasks on any target"
    cells = [
        [*(_text(v) for v in (r.target, r.key, r.title, r.enabled, r.last_status,
                              r.last_run, r.next_run, r.errors)),
         f"[{STATE_STYLES[r.state]}]{r.state}[/]" if r.state in STATE_STYLES else r.state]
        for r in rows
    ]  # fmt: skip
    notes = [
        f"note: target {r.target}: unreadable live object id {printable(str(r.remote_id))}: "
        f"{r.reason}; left alone"
        for r in rows
        if r.reason
    ]
    return "\n".join([render_table(None, STATUS_COLUMNS, cells, color=color), *notes])


def render_runs(runs: Sequence[Mapping[str, Any]], *, color: bool) -> str:
    if not runs:
        return "no runs yet"
    cells = [
        [_text(next((r[k] for k in keys if k in r), None)) for keys in RUN_FIELDS.values()]
        for r in runs
    ]
    return render_table(None, list(RUN_FIELDS), cells, color=color)


RUNS_FORMATS: Formats[Sequence[Mapping[str, Any]]] = {
    "text": lambda runs, color: render_runs(runs, color=color),
    "json": lambda runs, _: json.dumps(runs, indent=2, ensure_ascii=False),
}


def render_imported(results: Sequence[Imported]) -> str:
    lines = []
    for r in results:
        where = r.path or "-"
        line = f"{r.status:<8} {r.key:<32} {where}" + (f"  ({r.message})" if r.message else "")
        lines.append(printable(line))
    return "\n".join(lines) if lines else "no live task matched"


def render_families(results: Sequence[Imported]) -> str:
    """What `import --templates` found: each template and its tasks, or that there was none."""
    found: dict[str, list[str]] = {}
    for r in results:
        if r.template:
            found.setdefault(r.template, []).append(r.key)
    if not found:
        return "templates: none found (no two tasks differ in one value only)"
    return "\n".join(
        f"template {name}: {len(keys)} tasks ({', '.join(keys)}) in one file"
        for name, keys in found.items()
    )
