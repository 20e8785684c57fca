"""Each platform's run rules, so a local run behaves as the platform will (`--semantics`).

engine (engine-scheduled-tasks.txt): auto-disable after `maxRetries` consecutive errors
(default 3); `keepHistory` reuses one conversation id, otherwise a fresh one per run;
one-shots with `deleteAfterRun` are deleted after a success.

aitroop (aitroop-schedules.txt): never auto-disables ("failures wait for the next tick");
send_message reuses one session per schedule, run_app has none; an interval below 5 minutes
is not run: "the scheduler pushes next_run_at forward by 5 min and skips".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from reconciler import timing

if TYPE_CHECKING:
    from reconciler.model import Schedule
    from reconciler.runner.store import ScheduleState

SemanticsName = Literal["engine", "aitroop"]
Conversation = Literal["keep", "fresh", "none"]
SEMANTICS_NAMES: tuple[SemanticsName, ...] = ("engine", "aitroop")


@dataclass(frozen=True)
class Semantics:
    name: SemanticsName
    default_max_retries: int | None  # None: errors never disable a schedule
    min_interval: timedelta | None = None  # shorter intervals are skipped, not run
    push_forward: timedelta = timedelta(0)  # how far a skipped below-minimum tick moves

    def max_errors(self, schedule: Schedule) -> int | None:
        """Consecutive errors that disable the schedule, or None for never."""
        if self.default_max_retries is None:
            return None
        retries = (
            schedule.max_retries if schedule.max_retries is not None else self.default_max_retries
        )
        return max(1, retries)  # max_retries: 0 means no second chance, not "disabled from birth"

    def below_minimum(self, schedule: Schedule) -> bool:
        every = schedule.schedule.every
        return (
            self.min_interval is not None
            and every is not None
            and timing.parse_duration(every) < self.min_interval
        )

    def conversation(self, schedule: Schedule) -> Conversation:
        if self.name == "aitroop":
            return "none" if schedule.action.app is not None else "keep"
        return schedule.history

    def notes(self, schedule: Schedule) -> list[str]:
        """Where this platform treats the schedule differently from what the file says."""
        out: list[str] = []
        if self.name == "aitroop":
            if schedule.history == "fresh" and schedule.action.app is None:
                out.append("history: fresh: aitroop keeps one session per schedule; runs as keep")
            if schedule.max_retries is not None:
                out.append("max_retries: aitroop never auto-disables; ignored")
            if self.below_minimum(schedule):
                out.append(
                    f"every {schedule.schedule.every}: below aitroop's 5-minute minimum; "
                    "each tick is skipped and pushed 5 minutes forward"
                )
        return out


ENGINE = Semantics("engine", default_max_retries=3)
AITROOP = Semantics(
    "aitroop",
    default_max_retries=None,
    min_interval=timedelta(minutes=5),
    push_forward=timedelta(minutes=5),
)
SEMANTICS: dict[str, Semantics] = {"engine": ENGINE, "aitroop": AITROOP}


def semantics_for_platform(platform: str) -> Semantics:
    """A plugin platform has no rules of its own here: the engine's are the documented default."""
    return SEMANTICS.get(platform, ENGINE)


def after_run(
    state: ScheduleState, status: str, *, max_errors: int | None, retire_on_success: bool
) -> ScheduleState:
    """The schedule's state once a run ended with `status` (pure; the same object if unchanged)."""
    if status == "ok":
        if state.consecutive_errors == 0 and (state.retired or not retire_on_success):
            return state  # the common case, unchanged: the store then writes nothing
        return replace(state, consecutive_errors=0, retired=state.retired or retire_on_success)
    if status != "error":  # skipped and interrupted runs say nothing about the task's health
        return state
    errors = state.consecutive_errors + 1
    if max_errors is not None and errors >= max_errors and not state.disabled:
        reason = f"auto-disabled after {errors} consecutive error{'s' if errors != 1 else ''}"
        return replace(state, consecutive_errors=errors, disabled=True, disabled_reason=reason)
    return replace(state, consecutive_errors=errors)
