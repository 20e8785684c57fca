"""aitroop: presets (interval / daily / weekly / monthly) and send_message / run_app actions.

See ../shared/platforms/aitroop-schedules.txt. There is no raw cron: an expression equal to a
preset maps to it, any other is refused with the platform's own advice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import timing
from reconciler.forms import Json, LiveTask, TaskStatus
from reconciler.model import MAX_INTERVAL
from reconciler.platforms.aitroop.rules import MIN_INTERVAL
from reconciler.platforms.rest import (
    MarkerStyle,
    RestProvider,
    Unreadable,
    flag_at,
    mapping_at,
    shown,
    text_at,
    time_at,
    weekday_names,
    whole_at,
)

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import ScheduleSpec

MIN_INTERVAL_SECONDS = MIN_INTERVAL.total_seconds()
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
_MAX_SECONDS = int(MAX_INTERVAL.total_seconds())


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
        days = timing.weekday_numbers(schedule["weekly"]["days"])
        return "weekly", {"time": schedule["weekly"]["at"], "days": days}
    if schedule.get("monthly") is not None:
        return "monthly", {"time": schedule["monthly"]["at"], "day": schedule["monthly"]["day"]}
    raise ValueError("aitroop has no one-shot schedules")


def document_schedule(kind: Any, config: Mapping[str, Any]) -> Json:
    """A preset as the document schedule it came from (presets stay presets); Unreadable for
    any other shape."""
    where = "schedule_config."
    if kind == "interval":
        unit = config.get("unit", "minutes")
        size = _UNIT_SECONDS.get(unit) if type(unit) is str else None
        if size is None:
            raise Unreadable(f"`{where}unit` is {shown(unit)}, neither minutes nor hours")
        every = whole_at(config, "every", where)
        if every is None or not 1 <= every * size <= _MAX_SECONDS:
            raise Unreadable(f"`{where}every` is {shown(every)}, not a number of {unit} above 0")
        return {"every": timing.format_duration(timedelta(seconds=every * size))}
    if kind == "daily":
        return {"daily": time_at(config, "time", where)}
    if kind == "weekly":
        days = config.get("days")
        if (
            not isinstance(days, list)
            or not days
            or any(type(d) is not int or not 0 <= d <= 6 for d in days)
        ):
            raise Unreadable(
                f"`{where}days` is {shown(days)}, not a list of weekday numbers 0-6 (0 = Sunday)"
            )
        return {"weekly": {"at": time_at(config, "time", where), "days": weekday_names(days)}}
    if kind == "monthly":
        day = whole_at(config, "day", where)
        if day is None or not 1 <= day <= 31:
            raise Unreadable(f"`{where}day` is {shown(day)}, not a day of the month 1-31")
        return {"monthly": {"at": time_at(config, "time", where), "day": day}}
    raise Unreadable(f"`schedule_type` is {shown(kind)}, none of interval, daily, weekly, monthly")


class AitroopProvider(RestProvider):
    name: ClassVar[str] = "aitroop"
    marker_style = MARKER
    marker_field = "name"
    defaults = DEFAULTS
    update_method = "PUT"  # PUT replaces every writable field, so the whole payload goes
    plain_fields: ClassVar[Mapping[tuple[str, ...], tuple[str, ...]]] = {
        ("enabled",): ("enabled",),
        ("action_config", "prompt"): ("action", "prompt"),  # a send_message task's
    }

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

    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        title, marker = MARKER.detach(text_at(remote, "name") or "")
        schedule = document_schedule(
            remote.get("schedule_type"), mapping_at(remote, "schedule_config")
        )
        schedule["timezone"] = text_at(remote, "timezone") or "UTC"
        config = mapping_at(remote, "action_config")
        kind = remote.get("action_type")
        if kind == "run_app":
            where = "action_config."
            app_input = mapping_at(config, "app_input", where)
            action: Json = {
                "app": {"id": text_at(config, "app_id", where), "input": dict(app_input)}
            }
        elif kind in ("send_message", None):
            action = {"prompt": text_at(config, "prompt", "action_config.") or ""}
        else:
            raise Unreadable(f"`action_type` is {shown(kind)}, neither send_message nor run_app")
        return {
            "name": marker.key if marker else None,
            "title": title,
            "enabled": flag_at(remote, "enabled", True),
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
    def problems(cls, s: ResolvedSchedule, where: str, now: datetime) -> Iterator[Diagnostic]:
        sched = s.schedule
        problem = _schedule_problem(sched.schedule)
        if problem:
            yield s.diagnostic(("schedule", *problem[0]), f"{where}: {problem[1]}")
        if sched.deliver is not None:
            yield s.diagnostic(
                ("deliver",),
                f"{where}: aitroop has no delivery setting; build delivery into the app (a Slack or email stage)",
            )
        if sched.history == "fresh":
            yield s.diagnostic(
                ("history",),
                f"{where}: aitroop keeps one session per schedule; `history: fresh` cannot be expressed",
            )
        if sched.max_retries is not None:
            yield s.diagnostic(
                ("max_retries",),
                f"{where}: aitroop neither retries nor auto-disables; max_retries is ignored",
                "warning",
            )
        if sched.description:
            yield s.diagnostic(
                ("description",),
                f"{where}: aitroop stores no description; it is not sent",
                "warning",
            )
        if sched.action.app is not None:
            for key, value in sched.action.app.input.items():
                if isinstance(value, str) and PLACEHOLDER.search(value):
                    yield s.diagnostic(
                        ("action", "app", "input", key),
                        f"{where}: aitroop passes inputs verbatim and does not expand "
                        f"{PLACEHOLDER.search(value).group(0)!r}; use dynamic_default on the app's input schema",  # type: ignore[union-attr]
                        "warning",
                    )
        if not s.timezone_explicit and sched.schedule.form != "every":
            yield s.diagnostic(
                ("schedule",),
                f"{where}: no timezone given: aitroop runs it in UTC (its most common surprise); "
                "set schedule.timezone or defaults.timezone",
                "warning",
            )
