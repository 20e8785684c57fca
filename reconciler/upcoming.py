"""`schedctl next`: the coming fire times of resolved schedules, with plain-words descriptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler import platforms, timing
from reconciler.loader import Project, ResolvedSchedule
from reconciler.records import fields_of


@dataclass
class Upcoming:
    name: str
    target: str
    timezone: str
    description: str
    fires: list[datetime]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The JSON form: the fields in their order, the fires as ISO text."""
        return {**vars(self), "fires": [f.isoformat() for f in self.fires]}


def upcoming_for(
    resolved: ResolvedSchedule, platform: str, start: datetime, count: int
) -> Upcoming:
    spec = resolved.schedule.schedule
    trigger = timing.trigger_for(spec, resolved.timezone)
    zone = timing.get_zone(spec.timezone or resolved.timezone)
    notes = []
    if spec.every is not None and spec.anchor is None:
        notes.append("no anchor: counted here from 1970-01-01T00:00Z")
    # What the platform does differently from this preview (its folder's rules.py).
    note = platforms.get(platform).next_notes.get(spec.form)
    if note:
        notes.append(note)
    hashed = resolved.hashed
    if hashed is not None:
        how = " (moved by spreading: its own minute was full)" if hashed.moved else ""
        notes.append(f"H time: {hashed.written} is {hashed.resolved}{how}")
    if not resolved.schedule.enabled:
        notes.append("disabled: it will not fire until enabled")
    return Upcoming(
        name=resolved.key,
        target=resolved.target,
        timezone=resolved.timezone,
        description=timing.describe(spec),
        fires=[f.astimezone(zone) for f in trigger.fires(start, count)],
        notes=notes,
    )


def upcoming(project: Project, names: Sequence[str], start: datetime, count: int) -> list[Upcoming]:
    """Every selected schedule's next `count` fires strictly after `start`."""
    chosen = [s for s in project.schedules if not names or s.key in names]
    return [
        upcoming_for(s, project.config.targets[s.target].platform, start, count) for s in chosen
    ]


# ---------------------------------------------------------------------------------------------
# `next --load`: due tasks per minute against each target's per-tick capacity


@dataclass(frozen=True)
class MinuteDue:
    minute: datetime  # UTC, the start of the minute
    keys: list[str]


@dataclass
class TargetLoad:
    target: str
    platform: str
    capacity: int | None  # tasks one tick starts (the most one minute holds on time)
    tick_seconds: int | None
    start: datetime
    until: datetime
    minutes: list[MinuteDue]  # the minutes with anything due, in order

    @property
    def peak(self) -> MinuteDue | None:
        return max(self.minutes, key=lambda m: len(m.keys), default=None)

    @property
    def over(self) -> list[MinuteDue]:
        cap = self.capacity
        return [m for m in self.minutes if cap is not None and len(m.keys) > cap]

    def to_dict(self) -> dict[str, object]:
        peak = self.peak
        return {
            **fields_of(self, "target", "platform", "capacity", "tick_seconds"),
            "from": self.start.isoformat(),
            "until": self.until.isoformat(),
            "peak": len(peak.keys) if peak else 0,
            "over_capacity": [
                {"minute": m.minute.isoformat(), "due": len(m.keys), "keys": m.keys}
                for m in self.over
            ],
            "minutes": [
                {"minute": m.minute.isoformat(), "due": len(m.keys), "keys": m.keys}
                for m in self.minutes
            ],
        }


def load_report(
    project: Project, names: Sequence[str], start: datetime, days: int
) -> list[TargetLoad]:
    """Per target: each minute's due tasks from the hour of `start` for `days` days (UTC)."""
    from datetime import timedelta, timezone

    from reconciler.spread import due_minutes, platform_capacity

    first = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    until = first + timedelta(days=days)
    out: list[TargetLoad] = []
    for name, target in project.config.targets.items():
        chosen = [s for s in project.for_target(name) if not names or s.key in names]
        if not chosen and names:
            continue
        capacity = platform_capacity(target.platform)
        # Fires strictly after the instant before the hour: one due at its first minute counts.
        due = due_minutes(chosen, first - timedelta(microseconds=1), until - timedelta(seconds=1))
        minutes = [
            MinuteDue(
                datetime.fromtimestamp(minute * 60, timezone.utc),
                sorted(chosen[i].key for i in due[minute]),
            )
            for minute in sorted(due)
        ]
        out.append(
            TargetLoad(
                name,
                target.platform,
                capacity.tasks if capacity else None,
                capacity.tick_seconds if capacity else None,
                first,
                until,
                minutes,
            )
        )
    return out
