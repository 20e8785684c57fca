"""engine: per-instance tasks with cron / interval / one-shot schedules and prompts.

See ../shared/platforms/engine-scheduled-tasks.txt.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import timing
from reconciler.errors import ConfigError
from reconciler.model import weekday_number
from reconciler.providers.base import (
    Json,
    LiveTask,
    Marker,
    MarkerStyle,
    RestProvider,
    TaskStatus,
    canonical_cron,
    utc_iso,
)

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.http import ApiClient
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import ScheduleSpec, Target

MAX_CONCURRENT = 3
# How far ahead the same-minute check looks, and how many fires of one schedule it counts:
# a week of a daily or hourly task; two days of a 15-minute one, whose day repeats itself.
CROWD_WINDOW = timedelta(days=7)
CROWD_MAX_FIRES = 200


def _spec_key(spec: ScheduleSpec) -> tuple[object, ...]:
    """What makes two schedule specs fire alike (cheaper than repr for thousands)."""
    weekly = (spec.weekly.at, tuple(spec.weekly.days)) if spec.weekly else None
    monthly = (spec.monthly.at, spec.monthly.day) if spec.monthly else None
    return (spec.cron, spec.every, spec.anchor, spec.at, spec.daily, weekly, monthly, spec.timezone)


def _crowds(
    schedules: Sequence[ResolvedSchedule], now: datetime
) -> tuple[list[list[int]], list[tuple[int, list[int]]]]:
    """(classes, crowds): the indexes of enabled schedules that fire alike, by class, and each
    epoch minute of the coming week when more than MAX_CONCURRENT are due, with its classes."""
    # Schedules sharing a schedule and zone share their fires: compute each distinct one once,
    # and count by class (thousands of tasks share a few schedules).
    alike: dict[tuple[tuple[object, ...], str], list[int]] = defaultdict(list)
    for index, s in enumerate(schedules):
        if s.schedule.enabled:
            alike[(_spec_key(s.schedule.schedule), s.timezone)].append(index)
    classes = list(alike.values())
    due: dict[int, list[int]] = defaultdict(list)  # epoch minute -> class numbers
    until = (now + CROWD_WINDOW).timestamp()
    for number, indexes in enumerate(classes):
        first = schedules[indexes[0]]
        trigger = timing.trigger_for(first.schedule.schedule, first.timezone, created_at=now)
        minutes: dict[int, None] = {}  # a task due twice in one minute is still one task
        for fire in itertools.islice(trigger.iter_fires(now), CROWD_MAX_FIRES):
            stamp = fire.timestamp()
            if stamp > until:
                break
            minutes[int(stamp) // 60] = None
        for minute in minutes:
            due[minute].append(number)
    crowds = [
        (minute, numbers)
        for minute, numbers in due.items()
        if sum(len(classes[n]) for n in numbers) > MAX_CONCURRENT
    ]
    return classes, crowds


def crowded_minutes(
    schedules: Sequence[ResolvedSchedule], now: datetime
) -> dict[datetime, list[ResolvedSchedule]]:
    """Minutes (UTC) in the coming week when more than MAX_CONCURRENT enabled tasks are due."""
    classes, crowds = _crowds(schedules, now)
    return {
        datetime.fromtimestamp(minute * 60, timezone.utc): [
            schedules[i] for n in numbers for i in classes[n]
        ]
        for minute, numbers in crowds
    }


SANDBOX_INSTANCE = "local"
# The marker is the description's last line: `[schedctl:owner/key]`.
MARKER = MarkerStyle(open="[schedctl:", close="]", joiner="\n\n")
DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "history": "keep",
    "max_retries": 3,
    "delete_after_run": False,
    "schedule.timezone": "UTC",
}


def preset_cron(schedule: Mapping[str, Any]) -> str | None:
    """The cron of a daily / weekly / monthly document schedule, or None for other forms."""
    if schedule.get("daily") is not None:
        return timing.preset_to_cron("daily", schedule["daily"])
    if schedule.get("weekly") is not None:
        weekly = schedule["weekly"]
        days = sorted({weekday_number(d) for d in weekly["days"]})
        return timing.preset_to_cron("weekly", weekly["at"], days=days)
    if schedule.get("monthly") is not None:
        return timing.preset_to_cron(
            "monthly", schedule["monthly"]["at"], day=schedule["monthly"]["day"]
        )
    return None


def engine_schedule(schedule: Mapping[str, Any], zone: str) -> Json:
    """A document schedule as the engine's union: cron (presets too), interval or one-shot."""
    cron = schedule.get("cron")
    if cron is not None or (cron := preset_cron(schedule)) is not None:
        return {"type": "cron", "expression": canonical_cron(cron), "timezone": zone}
    if schedule.get("every") is not None:
        every_ms = int(timing.parse_duration(schedule["every"]).total_seconds() * 1000)
        out: Json = {"type": "interval", "everyMs": every_ms}
        if schedule.get("anchor") is not None:
            out["anchorAt"] = utc_iso(schedule["anchor"], zone)
        return out
    if schedule.get("at") is not None:
        return {"type": "one-shot", "runAt": utc_iso(schedule["at"], zone)}
    raise ValueError(f"no schedule form in {dict(schedule)!r}")


def document_schedule(remote: Mapping[str, Any]) -> Json:
    """The engine's schedule union as a document schedule."""
    schedule = remote.get("schedule") or {}
    kind = schedule.get("type")
    if kind == "cron":
        return {
            "cron": schedule.get("expression", ""),
            "timezone": schedule.get("timezone") or "UTC",
        }
    if kind == "interval":
        seconds = int(schedule.get("everyMs", 0)) // 1000
        out: Json = {"every": timing.format_duration(timedelta(seconds=seconds))}
        if schedule.get("anchorAt"):
            out["anchor"] = utc_iso(schedule["anchorAt"])
        return out
    if kind == "one-shot":
        return {"at": utc_iso(schedule["runAt"])}
    return {"unknown": schedule}  # compares as a difference, never silently equal


class EngineProvider(RestProvider):
    name: ClassVar[str] = "engine"
    marker_style = MARKER
    defaults = DEFAULTS
    update_method = "PATCH"

    def __init__(self, client: ApiClient, target: Target, *, target_name: str, owner: str) -> None:
        super().__init__(client, target, target_name=target_name, owner=owner)
        instance = target.instance or (SANDBOX_INSTANCE if target.sandbox else None)
        if not instance:
            raise ConfigError(f"engine target {target_name!r} needs `instance` (the instance slug)")
        self.instance = instance

    def collection_path(self) -> str:
        return f"api/instances/{self.instance}/scheduled-tasks"

    def describe_target(self) -> str:
        return f"engine instance {self.instance!r}"

    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json:
        schedule = document["schedule"]
        action = document["action"]
        if action.get("prompt") is None:
            raise ValueError("engine runs prompts only; it has no app runs")
        deliver = document.get("deliver") or {}
        max_retries = document.get("max_retries")
        return {
            "name": document.get("title") or document["name"],
            "description": MARKER.attach(document.get("description") or "", self.marker(key)),
            "prompt": action["prompt"],
            "schedule": engine_schedule(schedule, schedule.get("timezone") or timezone),
            "enabled": document.get("enabled", True),
            "outboundChannel": deliver.get("channel"),
            "outboundTarget": deliver.get("target"),
            "keepHistory": document.get("history", "keep") != "fresh",
            "deleteAfterRun": bool(document.get("delete_after_run", False)),
            "maxRetries": 3 if max_retries is None else max_retries,
        }

    def split_marker(self, remote: Mapping[str, Any]) -> tuple[str, Marker | None]:
        _, marker = MARKER.detach(str(remote.get("description") or ""))
        return str(remote.get("name") or ""), marker

    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        description, marker = MARKER.detach(str(remote.get("description") or ""))
        doc: Json = {"name": marker.key if marker else None, "title": str(remote.get("name") or "")}
        if description:
            doc["description"] = description
        doc["enabled"] = remote.get("enabled", True)
        doc["schedule"] = document_schedule(remote)
        doc["action"] = {"prompt": remote.get("prompt", "")}
        if remote.get("outboundChannel") and remote.get("outboundTarget"):
            doc["deliver"] = {
                "channel": remote["outboundChannel"],
                "target": remote["outboundTarget"],
            }
        doc["history"] = "keep" if remote.get("keepHistory", True) else "fresh"
        doc["max_retries"] = remote.get("maxRetries", 3)
        doc["delete_after_run"] = remote.get("deleteAfterRun", False)
        return doc

    def status_of(self, remote: Mapping[str, Any]) -> TaskStatus:
        return TaskStatus(
            enabled=remote.get("enabled"),
            last_status=remote.get("lastStatus"),
            last_run=remote.get("lastRunAt"),
            next_run=remote.get("nextRunAt"),
            consecutive_errors=remote.get("consecutiveErrors"),
        )

    def adoption_payload(self, task: LiveTask, remote: Mapping[str, Any], key: str) -> Json:
        # PATCH only the description: nothing else about the adopted task changes.
        return {"description": remote["description"]}

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
                    s.diagnostic(
                        ("action", "app"), f"{where}: engine runs prompts only; it has no app runs"
                    )
                )
            at = sched.schedule.at
            if at is not None:
                fire = timing.trigger_for(sched.schedule, s.timezone).next_after(
                    now - timedelta(microseconds=1)
                )
                if fire is None:
                    out.append(
                        s.diagnostic(
                            ("schedule", "at"),
                            f"{where}: one-shot time {at.isoformat()} is in the past",
                        )
                    )
        classes, crowds = _crowds(schedules, now)
        reported: set[str] = set()
        done: set[int] = set()  # classes whose tasks have all been warned about
        for stamp, numbers in sorted(crowds):
            if done.issuperset(numbers):  # without building a group of thousands
                continue
            done.update(numbers)
            group = [schedules[i] for n in numbers for i in classes[n]]
            fresh = [s for s in group if s.key not in reported]
            if not fresh:  # each task is warned about once, at its first crowded minute
                continue
            minute = datetime.fromtimestamp(stamp * 60, timezone.utc)
            keys = sorted({s.key for s in group})
            named = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            for s in fresh:
                reported.add(s.key)
                out.append(
                    s.diagnostic(
                        ("schedule",),
                        f"engine target {s.target!r}: {len(group)} tasks are due at "
                        f"{minute:%Y-%m-%d %H:%M} UTC ({named}); the engine runs at most "
                        f"{MAX_CONCURRENT} at once and the rest wait for the next tick",
                        "warning",
                    )
                )
        return out
