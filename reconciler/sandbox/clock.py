"""Times on the wire and next-run computation, both platforms.

Fire times come from reconciler.timing (the same code `schedctl next` and the runner use), so
the sandbox and the tool cannot disagree about zones and DST.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reconciler import timing


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime) -> str:
    """JavaScript's toISOString(): UTC, milliseconds, 'Z'. Fixed width, so strings sort in time order."""
    # isoformat is several times faster than strftime (the scheduler writes many of these).
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def iso_or_none(t: datetime | None) -> str | None:
    return None if t is None else iso(t)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 timestamp, in UTC; one without an offset is taken as UTC. Raises
    ValueError, also for one whose UTC time is past year 9999 or before year 1."""
    value = timing.parse_instant(text)
    try:
        # Now rather than when the time is next shown or compared, which would be a 500.
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range in UTC") from None


def is_zone(name: str) -> bool:
    try:
        timing.get_zone(name)
    except ValueError:
        return False
    return True


def check_cron(expression: str) -> str | None:
    """Why a 5-field expression does not parse, or None when it does."""
    try:
        timing.CronExpr.parse(expression)
    except timing.CronError as exc:
        return str(exc)
    return None


def next_cron(expression: str, zone: str, after: datetime) -> datetime | None:
    return timing.CronTrigger(expression, zone).next_after(after)


def next_interval(every: timedelta, anchor: datetime, after: datetime) -> datetime | None:
    return timing.IntervalTrigger(every, anchor).next_after(after)


def next_once(at: datetime, after: datetime) -> datetime | None:
    return timing.OnceTrigger(at).next_after(after)
