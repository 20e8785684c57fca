"""aitroop: presets (interval / daily / weekly / monthly) and send_message / run_app actions.

See ../shared/platforms/aitroop-schedules.txt. There is no raw cron: an expression equal to a
preset maps to it, any other is refused with the platform's own advice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import timing

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


def _schedule_problem(spec: ScheduleSpec) -> tuple[str, str] | None:
    """(field, message) when aitroop cannot express this schedule."""
    if spec.at is not None:
        return (
            "at",
            "aitroop has no one-shot schedules (use engine, or a daily schedule you disable)",
        )
    if spec.cron is not None:
        if cron_to_preset(spec.cron) is None:
            return "cron", (
                f"aitroop has no raw cron and {spec.cron!r} matches no preset "
                "(daily / weekly / monthly at one time): schedule it daily at the earliest time "
                "it could fire and add a guard at the top of the app, as the platform suggests"
            )
        return None
    if spec.every is not None:
        seconds = timing.parse_duration(spec.every).total_seconds()
        if seconds < MIN_INTERVAL_SECONDS:
            return "every", f"every {spec.every}: aitroop rejects intervals below 5 minutes"
        if interval_config(spec.every) is None:
            return "every", f"every {spec.every}: aitroop intervals are whole minutes or hours"
        if spec.anchor is not None:
            return "anchor", "aitroop intervals cannot be anchored (they count from creation)"
        return None
    if spec.monthly is not None and spec.monthly.day > 28:
        return "monthly", f"monthly day {spec.monthly.day}: aitroop allows days 1-28 only"
    return None


class AitroopProvider:
    name: ClassVar[str] = "aitroop"

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
                out.append(s.diagnostic(("schedule", problem[0]), f"{where}: {problem[1]}"))
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
        return out
