"""aitroop: presets (interval / daily / weekly / monthly) and send_message / run_app actions.

See ../shared/platforms/aitroop-schedules.txt. There is no raw cron: an expression equal to a
preset maps to it, any other is refused with the platform's own advice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import timing
from reconciler.model import weekday_number
from reconciler.providers.base import (
    Json,
    LiveTask,
    Marker,
    MarkerStyle,
    RestProvider,
    TaskStatus,
    weekday_names,
)
from reconciler.spread import crowd_warnings

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import ScheduleSpec, Target

MIN_INTERVAL_SECONDS = 300
PLACEHOLDER = re.compile(r"\{\{\s*[^}]+\}\}")


def cron_to_preset(cron: str) -> tuple[str, dict[str, Any]] | None:
    """("daily"|"weekly"|"monthly", schedule_config) when the cron equals a preset, else None."""
    expr = timing.CronExpr.parse(cron)
    if expr.minute_star or expr.hour_star or len(expr.minutes) != 1 or len(expr.hours) != 1:
        return None
    if len(expr.months) != 12:
        return None
    at = f"{next(iter(expr.hours)):02d}:{next(iter(expr.minutes)):02d}"
    all_days = len(expr.days) == 31
    all_weekdays = len(expr.weekdays) == 7
    if all_days and all_weekdays:
        return "daily", {"time": at}
    if expr.dom_star and not expr.dow_star:
        return "weekly", {"time": at, "days": sorted(expr.weekdays)}
    if expr.dow_star and not expr.dom_star and len(expr.days) == 1:
        return "monthly", {"time": at, "day": next(iter(expr.days))}
    return None


def interval_config(every: str) -> dict[str, Any] | None:
    """{"every": n, "unit": "minutes"|"hours"} or None when not whole minutes."""
    seconds = int(timing.parse_duration(every).total_seconds())
    if seconds % 3600 == 0:
        return {"every": seconds // 3600, "unit": "hours"}
    if seconds % 60 == 0:
        return {"every": seconds // 60, "unit": "minutes"}
    return None


def _schedule_problem(spec: ScheduleSpec) -> tuple[tuple[str, ...], str] | None:
    """(path under `schedule`, message) when aitroop cannot express this schedule."""
    if spec.at is not None:
        return (
            ("at",),
            "aitroop has no one-shot schedules (use engine, or a daily schedule you disable)",
        )
    if spec.cron is not None:
        preset = cron_to_preset(spec.cron)
        if preset is None:
            return ("cron",), (
                f"aitroop has no raw cron and {spec.cron!r} matches no preset "
                "(daily / weekly / monthly at one time): schedule it daily at the earliest time "
                "it could fire and add a guard at the top of the app, as the platform suggests"
            )
        if preset[0] == "monthly" and preset[1]["day"] > 28:
            message = f"{spec.cron!r} is monthly on day {preset[1]['day']}"
            return ("cron",), f"{message}: aitroop allows days 1-28 only"
        return None
    if spec.every is not None:
        seconds = timing.parse_duration(spec.every).total_seconds()
        if seconds < MIN_INTERVAL_SECONDS:
            return ("every",), f"every {spec.every}: aitroop rejects intervals below 5 minutes"
        if interval_config(spec.every) is None:
            return ("every",), f"every {spec.every}: aitroop intervals are whole minutes or hours"
        if spec.anchor is not None:
            return ("anchor",), "aitroop intervals cannot be anchored (they count from creation)"
        return None
    if spec.monthly is not None and spec.monthly.day > 28:
        return ("monthly", "day"), f"monthly day {spec.monthly.day}: aitroop allows days 1-28 only"
    return None


# No description field: the marker is a suffix of the name, `Title [[owner/key]]`.
MARKER = MarkerStyle(open="[[", close="]]", joiner=" ")
DEFAULTS: Mapping[str, Any] = {"enabled": True, "schedule.timezone": "UTC"}
_UNIT_SECONDS = {"minutes": 60, "hours": 3600}


def preset_of(schedule: Mapping[str, Any]) -> tuple[str, Json]:
    """(schedule_type, schedule_config) of a document schedule; ValueError when none fits."""
    if schedule.get("cron") is not None:
        preset = cron_to_preset(schedule["cron"])
        if preset is None:
            raise ValueError(f"aitroop has no raw cron and {schedule['cron']!r} matches no preset")
        return preset
    if schedule.get("every") is not None:
        config = interval_config(schedule["every"])
        if config is None:
            raise ValueError(
                f"every {schedule['every']}: aitroop intervals are whole minutes or hours"
            )
        return "interval", config
    if schedule.get("daily") is not None:
        return "daily", {"time": schedule["daily"]}
    if schedule.get("weekly") is not None:
        days = sorted({weekday_number(d) for d in schedule["weekly"]["days"]})
        return "weekly", {"time": schedule["weekly"]["at"], "days": days}
    if schedule.get("monthly") is not None:
        return "monthly", {"time": schedule["monthly"]["at"], "day": schedule["monthly"]["day"]}
    raise ValueError("aitroop has no one-shot schedules")


def document_schedule(kind: Any, config: Mapping[str, Any]) -> Json:
    """A preset as the document schedule it came from: presets stay presets."""
    if kind == "interval":
        seconds = int(config.get("every", 0)) * _UNIT_SECONDS.get(str(config.get("unit")), 60)
        return {"every": timing.format_duration(timedelta(seconds=seconds))}
    if kind == "daily":
        return {"daily": config.get("time")}
    if kind == "weekly":
        return {
            "weekly": {"at": config.get("time"), "days": weekday_names(config.get("days") or [])}
        }
    if kind == "monthly":
        return {"monthly": {"at": config.get("time"), "day": config.get("day")}}
    return {"unknown": {"schedule_type": kind, "schedule_config": dict(config)}}


class AitroopProvider(RestProvider):
    name: ClassVar[str] = "aitroop"
    marker_style = MARKER
    defaults = DEFAULTS
    update_method = "PUT"  # PUT replaces every writable field, so the whole payload goes
    # A worker ticks about every 60 s and takes due tasks in batches of 50.
    tick_seconds: ClassVar[int] = 60
    tick_capacity: ClassVar[int] = 50

    def collection_path(self) -> str:
        return "api/scheduled-tasks"

    def describe_target(self) -> str:
        return "aitroop"

    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json:
        schedule = document["schedule"]
        kind, config = preset_of(schedule)
        action = document["action"]
        if action.get("prompt") is not None:
            action_type, action_config = "send_message", {"prompt": action["prompt"]}
        else:
            app = action["app"]
            action_type, action_config = (
                "run_app",
                {"app_id": app["id"], "app_input": app.get("input") or {}},
            )
        return {
            "name": MARKER.attach(document.get("title") or document["name"], self.marker(key)),
            "enabled": document.get("enabled", True),
            "schedule_type": kind,
            "schedule_config": config,
            "timezone": schedule.get("timezone") or timezone,
            "action_type": action_type,
            "action_config": action_config,
        }

    def split_marker(self, remote: Mapping[str, Any]) -> tuple[str, Marker | None]:
        return MARKER.detach(str(remote.get("name") or ""))

    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        title, marker = self.split_marker(remote)
        schedule = document_schedule(
            remote.get("schedule_type"), remote.get("schedule_config") or {}
        )
        schedule["timezone"] = remote.get("timezone") or "UTC"
        config = remote.get("action_config") or {}
        if remote.get("action_type") == "run_app":
            action: Json = {
                "app": {"id": config.get("app_id"), "input": dict(config.get("app_input") or {})}
            }
        else:
            action = {"prompt": config.get("prompt", "")}
        return {
            "name": marker.key if marker else None,
            "title": title,
            "enabled": remote.get("enabled", True),
            "schedule": schedule,
            "action": action,
        }

    def status_of(self, remote: Mapping[str, Any]) -> TaskStatus:
        return TaskStatus(
            enabled=remote.get("enabled"),
            last_status=remote.get("last_status"),
            last_run=remote.get("last_run_at"),
            next_run=remote.get("next_run_at"),
        )

    def adoption_payload(self, task: LiveTask, remote: Mapping[str, Any], key: str) -> Json:
        return dict(remote)  # PUT: the same task, renamed with the marker

    @classmethod
    def check(
        cls, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        for s in schedules:
            where = f"aitroop target {s.target!r}"
            sched = s.schedule
            problem = _schedule_problem(sched.schedule)
            if problem:
                out.append(s.diagnostic(("schedule", *problem[0]), f"{where}: {problem[1]}"))
            if sched.deliver is not None:
                out.append(
                    s.diagnostic(
                        ("deliver",),
                        f"{where}: aitroop has no delivery setting; build delivery into the app (a Slack or email stage)",
                    )
                )
            if sched.history == "fresh":
                out.append(
                    s.diagnostic(
                        ("history",),
                        f"{where}: aitroop keeps one session per schedule; `history: fresh` cannot be expressed",
                    )
                )
            if sched.max_retries is not None:
                out.append(
                    s.diagnostic(
                        ("max_retries",),
                        f"{where}: aitroop neither retries nor auto-disables; max_retries is ignored",
                        "warning",
                    )
                )
            if sched.description:
                out.append(
                    s.diagnostic(
                        ("description",),
                        f"{where}: aitroop stores no description; it is not sent",
                        "warning",
                    )
                )
            if sched.action.app is not None:
                for key, value in sched.action.app.input.items():
                    if isinstance(value, str) and PLACEHOLDER.search(value):
                        out.append(
                            s.diagnostic(
                                ("action", "app", "input", key),
                                f"{where}: aitroop passes inputs verbatim and does not expand "
                                f"{PLACEHOLDER.search(value).group(0)!r}; use dynamic_default on the app's input schema",  # type: ignore[union-attr]
                                "warning",
                            )
                        )
            if not s.timezone_explicit and sched.schedule.form != "every":
                out.append(
                    s.diagnostic(
                        ("schedule",),
                        f"{where}: no timezone given: aitroop runs it in UTC (its most common surprise); "
                        "set schedule.timezone or defaults.timezone",
                        "warning",
                    )
                )
        out.extend(crowd_warnings(cls, schedules, now))
        return out
