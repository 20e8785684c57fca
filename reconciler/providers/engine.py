"""engine: per-instance tasks with cron / interval / one-shot schedules and prompts.

See ../shared/platforms/engine-scheduled-tasks.txt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, ClassVar

from reconciler import timing

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target

MAX_CONCURRENT = 3
# How far ahead the same-minute check looks, and how many fires of one schedule it counts.
CROWD_WINDOW = timedelta(days=7)
CROWD_MAX_FIRES = 2_100


def crowded_minutes(
    schedules: Sequence[ResolvedSchedule], now: datetime
) -> dict[datetime, list[ResolvedSchedule]]:
    """Minutes (UTC) in the coming week when more than MAX_CONCURRENT enabled tasks are due."""
    due: dict[datetime, list[ResolvedSchedule]] = defaultdict(list)
    until = now + CROWD_WINDOW
    for s in schedules:
        if not s.schedule.enabled:
            continue
        trigger = timing.trigger_for(s.schedule.schedule, s.timezone, created_at=now)
        for count, fire in enumerate(trigger.iter_fires(now)):
            if fire > until or count >= CROWD_MAX_FIRES:
                break
            due[fire.astimezone(timezone.utc).replace(second=0, microsecond=0)].append(s)
    return {minute: group for minute, group in due.items() if len(group) > MAX_CONCURRENT}


class EngineProvider:
    name: ClassVar[str] = "engine"

    @classmethod
    def check(
        cls, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        for s in schedules:
            where = f"engine target {s.target!r}"
            sched = s.schedule
            if sched.action.app is not None:
                out.append(
                    s.diagnostic(("action", "app"), f"{where}: engine runs prompts only; it has no app runs")
                )
            at = sched.schedule.at
            if at is not None:
                fire = timing.trigger_for(sched.schedule, s.timezone).next_after(now - timedelta(microseconds=1))
                if fire is None:
                    out.append(
                        s.diagnostic(("schedule", "at"), f"{where}: one-shot time {at.isoformat()} is in the past")
                    )
        reported: set[str] = set()
        for minute, group in sorted(crowded_minutes(schedules, now).items()):
            keys = sorted({s.key for s in group})
            for s in group:
                if s.key in reported:
                    continue
                reported.add(s.key)
                out.append(
                    s.diagnostic(
                        ("schedule",),
                        f"engine target {s.target!r}: {len(group)} tasks are due at "
                        f"{minute:%Y-%m-%d %H:%M} UTC ({', '.join(keys)}); the engine runs at most "
                        f"{MAX_CONCURRENT} at once and the rest wait for the next tick",
                        "warning",
                    )
                )
        return out
