"""The shared machinery of run rules, so a local run behaves as the platform will (`--semantics`).

Each platform states its rules as data (reconciler.platforms.RunRules, in its folder's
rules.py); Semantics applies them to a schedule, and after_run to a run's outcome. A platform
whose rules are not known (a plugin registering a bare provider class) runs with neutral
rules, which add nothing to what the schedule file says, and a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from reconciler import platforms, timing
from reconciler.errors import ConfigError, UsageError
from reconciler.platforms import RunRules, count_error

if TYPE_CHECKING:
    from reconciler.model import Schedule
    from reconciler.runner.store import ScheduleState

log = logging.getLogger("reconciler.runner")

Conversation = Literal["keep", "fresh", "none"]
NEUTRAL = RunRules()


@dataclass(frozen=True)
class Semantics:
    name: str
    rules: RunRules

    @property
    def push_forward(self) -> timedelta:
        return self.rules.push_forward

    def max_errors(self, schedule: Schedule) -> int | None:
        """Consecutive errors that disable the schedule, or None for never."""
        return self.rules.max_errors(schedule.max_retries)

    def below_minimum(self, schedule: Schedule) -> bool:
        every = schedule.schedule.every
        return self.rules.below_minimum(None if every is None else timing.parse_duration(every))

    def conversation(self, schedule: Schedule) -> Conversation:
        return self.rules.conversation(schedule.history, app=schedule.action.app is not None)

    def notes(self, schedule: Schedule) -> list[str]:
        """Where this platform treats the schedule differently from what the file says."""
        out: list[str] = []
        rules, name = self.rules, self.name
        if (
            rules.sessions == "per-schedule"
            and schedule.history == "fresh"
            and schedule.action.app is None
        ):
            out.append(f"history: fresh: {name} keeps one session per schedule; runs as keep")
        if not rules.honours_max_retries and schedule.max_retries is not None:
            if rules.default_max_retries is None:
                out.append(f"max_retries: {name} never auto-disables; ignored")
            else:
                out.append(
                    f"max_retries: {name} disables after {rules.default_max_retries} "
                    "consecutive errors whatever the file says; ignored"
                )
        if self.below_minimum(schedule) and rules.min_interval is not None:
            out.append(
                f"every {schedule.schedule.every}: below {name}'s "
                f"{_words(rules.min_interval, adjective=True)} minimum; each tick is skipped "
                f"and pushed {_words(rules.push_forward)} forward"
            )
        return out


def _words(span: timedelta, *, adjective: bool = False) -> str:
    """`5 minutes`, or `5-minute` before a noun; a span not in whole minutes as `90s`."""
    seconds = int(span.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            if adjective:
                return f"{count}-{unit}"
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return timing.format_duration(span)


def semantics_for_platform(platform: str) -> Semantics:
    """The run rules of a registered platform; neutral ones, with a warning, when not known."""
    try:
        found = platforms.get(platform)
    except ConfigError:
        known = platforms.names()
        raise UsageError(f"unknown --semantics {platform!r} ({platforms.one_of(known)})") from None
    if found.rules is None:
        log.warning(
            "platform %r states no run rules (its plugin registers a bare provider class): "
            "runs follow the schedule file only (no auto-disable without max_retries, no "
            "minimum interval, history as written)",
            platform,
        )
        return Semantics(platform, NEUTRAL)
    return Semantics(platform, found.rules)


def after_run(
    state: ScheduleState, status: str, *, max_errors: int | None, retire_on_success: bool
) -> ScheduleState:
    """The schedule's state once a run ended with `status` (pure; the same object if unchanged)."""
    errors, disables = count_error(state.consecutive_errors, status, max_errors)
    if status == "ok":
        retired = state.retired or retire_on_success
        if errors == state.consecutive_errors and retired == state.retired:
            return state  # the common case, unchanged: the store then writes nothing
        return replace(state, consecutive_errors=0, retired=retired)
    if disables and not state.disabled:
        reason = f"auto-disabled after {errors} consecutive error{'s' if errors != 1 else ''}"
        return replace(state, consecutive_errors=errors, disabled=True, disabled_reason=reason)
    if errors == state.consecutive_errors:  # skipped and interrupted runs change nothing
        return state
    return replace(state, consecutive_errors=errors)
