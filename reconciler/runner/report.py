"""Plain-text lines for runs, and the `--simulate FROM..UNTIL` window. Returns strings only."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

from reconciler import timing
from reconciler.errors import UsageError, map_exceptions
from reconciler.runner.store import RunRecord

SUMMARY_WIDTH = 80


def show_time(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    dt = dt.astimezone(timezone.utc)
    spec = "milliseconds" if dt.microsecond else "seconds"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def show_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms}ms" if ms < 10_000 else f"{ms / 1000:.1f}s"


def summary(record: RunRecord) -> str:
    text = record.error if record.status != "ok" and record.error else record.output
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= SUMMARY_WIDTH else line[: SUMMARY_WIDTH - 1] + "…"


def run_line(record: RunRecord) -> str:
    """time (the slot, UTC), schedule, status, duration, and the first line of output or error."""
    status = record.status + (" (manual)" if record.trigger == "manual" else "")
    parts = [
        show_time(record.scheduled_for),
        record.schedule,
        status,
        show_duration(record.duration_ms),
    ]
    text = summary(record)
    return "  ".join([*parts, text] if text else parts)


def next_run_text(due: tuple[str, datetime] | None, now: datetime) -> str:
    """'next: NAME at TIME (in 2h30m)', for the runner's start line."""
    if due is None:
        return "nothing is due to fire"
    key, at = due
    seconds = max(0, math.ceil((at - now).total_seconds()))
    if seconds >= 600:  # minutes are precise enough, and a start that took a second shows 1h
        seconds = round(seconds / 60) * 60
    wait = timing.format_duration(timedelta(seconds=seconds))
    return f"next: {key} at {show_time(at)} (in {wait})"


def empty_window(start: datetime, until: datetime) -> str:
    """What `--simulate` says when nothing fires in its window."""
    return f"no runs between {show_time(start)} and {show_time(until)} (FROM included, UNTIL not)"


def timeline_json(records: Sequence[RunRecord]) -> str:
    """`--simulate --format json`: the fires that ran, in order, as {"name", "scheduled_for"}."""
    return json.dumps(
        [
            {
                "name": r.schedule,
                "scheduled_for": r.scheduled_for.isoformat() if r.scheduled_for else None,
            }
            for r in records
            if r.status != "skipped"
        ],
        indent=2,
    )


def _instant(text: str, now: datetime) -> datetime:
    text = text.strip()
    if text == "now":
        return now
    wanted = "a date or time (2026-01-05, 2026-01-05T09:00, ...Z or +01:00, now)"
    with map_exceptions(
        {ValueError: lambda _: UsageError(f"--simulate: {text!r} is not {wanted}")}
    ):
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return timing.parse_instant(text)


def parse_window(text: str, now: datetime) -> tuple[datetime, datetime]:
    """FROM..UNTIL: ISO dates or times (naive ones are UTC) or `now`; UNTIL may be `+7d`."""
    start_text, sep, until_text = text.partition("..")
    if not sep or not start_text.strip() or not until_text.strip():
        raise UsageError(
            f"--simulate {text!r}: expected FROM..UNTIL, e.g. 2026-01-05..2026-01-12 or now..+7d"
        )
    start = _instant(start_text, now)
    until_text = until_text.strip()
    if until_text.startswith("+"):
        wrong = UsageError(f"--simulate: {until_text!r} is not a duration like +7d or +12h")
        with map_exceptions({ValueError: lambda _: wrong}):
            until = start + timing.parse_duration(until_text[1:])
    else:
        until = _instant(until_text, now)
    if until <= start:
        raise UsageError(f"--simulate {text!r}: UNTIL must come after FROM")
    if until - start > timedelta(days=366 * 5):
        raise UsageError(f"--simulate {text!r}: a window of at most five years, please")
    return start.astimezone(timezone.utc), until.astimezone(timezone.utc)
