"""Real and virtual time: the runner's loop (`--simulate`, the tests, a live run) and the
sandbox's scheduler (`--clock virtual`) run on these."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Protocol

# Even with nothing due the loop wakes this often, so a suspended laptop or a wall-clock jump
# is noticed within a minute. One wake-up a minute is not polling in any sense that costs CPU.
MAX_SLEEP_SECONDS = 60.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Clock(Protocol):
    """`wait` is called with `cond` held and returns when `deadline` may have come."""

    virtual: bool

    def now(self) -> datetime: ...

    def wait(self, cond: threading.Condition, deadline: datetime | None) -> None: ...


class RealClock:
    virtual = False

    def now(self) -> datetime:
        return utcnow()

    def wait(self, cond: threading.Condition, deadline: datetime | None) -> None:
        timeout = MAX_SLEEP_SECONDS
        if deadline is not None:
            timeout = min(timeout, max(0.0, (deadline - utcnow()).total_seconds()))
        # Woken early by notify() on reload, run completion or shutdown; the caller re-checks.
        cond.wait(timeout)


class VirtualClock:
    """Time jumps straight to the next deadline: a simulated week takes no real time."""

    virtual = True

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        """Forward to `when`; never back."""
        self._now = max(self._now, when.astimezone(timezone.utc))

    def restart(self, at: datetime) -> None:
        """Start again at `at`, earlier or not (a sandbox reset to a fresh database)."""
        self._now = at.astimezone(timezone.utc)

    def wait(self, cond: threading.Condition, deadline: datetime | None) -> None:
        if deadline is not None:
            self.advance_to(deadline)
