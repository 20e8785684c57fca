"""Live views: the status table over every target, a task's run history, import results.

Tables go through render.tables: rich on a terminal, plain columns otherwise, control
characters escaped (render.text.printable) like every name or field a platform sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rich.markup import escape

from reconciler.importer import Imported
from reconciler.render import Formats
from reconciler.render.tables import natural_key, render_table, when_cell, zone_of
from reconciler.render.text import printable
from reconciler.status import StatusRow

# No `enabled` column: a disabled task says so in the attention column, keeping 100 columns.
STATUS_COLUMNS = ("target", "key", "title", "last run", "next run", "state")
STATE_STYLES = {"in sync": "green", "drifted": "yellow", "missing": "red", "not in repo": "magenta"}
# What a state asks of a reader, where the state's name alone leaves them guessing.
STATE_WORDS = {
    "drifted": "differs from the repo",
    "missing": "apply creates it",
    "not in repo": "orphan: --prune deletes it",
}
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


def attention(row: StatusRow) -> list[str]:
    """Why a row needs a look, in words: auto-disabled, an error streak, drift."""
    words = []
    errors = row.errors or 0
    runs = "error" if errors == 1 else "errors"
    if errors and row.enabled is False:
        words.append(f"auto-disabled after {errors} {runs} in a row")
    elif errors:
        words.append(f"failing: {errors} {runs} in a row")
    elif row.enabled is False:
        words.append("disabled")
    if row.state in STATE_WORDS:
        words.append(STATE_WORDS[row.state])
    return words


HEALTH_STYLES = {"ok": "green", "missed": "red", "failing": "red", "auto-disabled": "red"}


def _health(word: str | None) -> str:
    if word is None:
        return "-"
    return f"[{HEALTH_STYLES.get(word, 'yellow')}]{escape(word)}[/]" if word != "-" else "-"


def render_status(
    rows: Sequence[StatusRow], *, color: bool, wide: bool = False, now: datetime | None = None
) -> str:
    """One row per task, sorted naturally; times in the schedule's zone (`wide`: full ISO and
    UTC); and, where a row needs a look, why."""
    if not rows:
        return "no tasks on any target"
    now = now or datetime.now(timezone.utc)
    ordered = sorted(rows, key=lambda r: (natural_key(r.target), natural_key(r.key)))
    why = {id(r): attention(r) for r in ordered}
    # The audit's words, when some task has one other than ok: a column of "ok" would only
    # take the room the attention words need (every task healthy is what no column says).
    judged = any(r.health not in (None, "ok", "-") for r in ordered)
    cells = []
    for r in ordered:
        zone = zone_of(r.timezone)
        last = when_cell(r.last_run, zone, now, wide=wide, short=True)
        if r.last_status:
            last = f"{r.last_status} {last}" if r.last_run else r.last_status
        state = f"[{STATE_STYLES[r.state]}]{r.state}[/]" if r.state in STATE_STYLES else r.state
        cells.append(
            [
                *(_text(v) for v in (r.target, r.key, r.title)),
                _text(last),
                _text(when_cell(r.next_run, zone, now, wide=wide)),
                *([_text("; ".join(why[id(r)]))] if any(why.values()) else []),
                *([_health(r.health)] if judged else []),
                state,
            ]
        )
    columns = list(STATUS_COLUMNS)
    if any(why.values()):  # a column of reasons only when some row has one
        columns.insert(-1, "attention")
    if judged:  # the audit's word for each task (`schedctl audit` says why)
        columns.insert(-1, "health")
    notes = [
        f"note: target {r.target}: unreadable live object id {printable(str(r.remote_id))}: "
        f"{r.reason}; left alone"
        for r in ordered
        if r.reason
    ]
    table = render_table(
        None,
        columns,
        cells,
        color=color,
        keep=("target", "key", "last run", "next run", "health", "state"),
        squeeze="title",
    )
    return "\n".join([table, *notes])


def render_runs(
    runs: Sequence[Mapping[str, Any]],
    *,
    color: bool,
    zone: str | None = None,
    wide: bool = False,
    now: datetime | None = None,
) -> str:
    """A task's runs as the platform sent them, start times in the schedule's zone."""
    if not runs:
        return "no runs yet"
    now = now or datetime.now(timezone.utc)
    where = zone_of(zone)
    cells = []
    for r in runs:
        row = {
            name: next((r[k] for k in keys if k in r), None) for name, keys in RUN_FIELDS.items()
        }
        row["started"] = when_cell(row["started"], where, now, wide=wide)
        cells.append([_text(v) for v in row.values()])
    title = f"times in {zone}" if zone else None
    table = render_table(
        title,
        list(RUN_FIELDS),
        cells,
        color=color,
        keep=("run", "task", "trigger", "status", "started", "duration ms"),
        squeeze="error",
    )
    return table


@dataclass(frozen=True)
class RunLog:
    """A task's runs as the platform sent them, and the zone its start times are shown in."""

    records: Sequence[Mapping[str, Any]]
    zone: str | None = None


RUNS_FORMATS: Formats[RunLog] = {
    "text": lambda log, style: render_runs(
        log.records, color=style.color, zone=log.zone, wide=style.wide
    ),
    "json": lambda log, _: json.dumps(log.records, indent=2, ensure_ascii=False),
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
