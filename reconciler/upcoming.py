"""`schedctl next`: the coming fire times of resolved schedules, with plain-words descriptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler import platforms, timing
from reconciler.loader import Project, ResolvedSchedule


@dataclass
class Upcoming:
    name: str
    target: str
    timezone: str
    description: str
    fires: list[datetime]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "target": self.target,
            "timezone": self.timezone,
            "description": self.description,
            "fires": [f.isoformat() for f in self.fires],
            "notes": self.notes,
        }


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
