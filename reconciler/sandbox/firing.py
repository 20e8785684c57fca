"""The sandbox's scheduler: ticks at the platform's cadence and lets its rules fire due tasks.

What is shared lives here: the clock (real, or virtual and moved by `POST /__sandbox/clock`),
the tick grid, skipped ticks, runs that end later, one transaction per advance. What a tick
does is the platform's (its folder's sandbox.py: `Firing`), by its documented rules.

A virtual advance fires every tick in between in-process, without sleeping: ticks where
nothing is due are jumped over (they would change nothing), so a simulated week costs what
its runs cost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from .clock import iso, parse_iso, utc_now
from .options import ClockKind
from .outcomes import unit
from .service import Context

log = logging.getLogger("reconciler.sandbox")

_VIRTUAL_NOW = "virtual_now"
# One advance may cover at most this much virtual time: bounded work per request.
MAX_ADVANCE = timedelta(days=366)


@runtime_checkable
class Firing(Protocol):
    """A platform's scheduler rules, as its sandbox API implements them."""

    @property
    def tick(self) -> timedelta: ...

    def restart(self, now: datetime) -> None:
        """What the platform does to its tasks when it starts (engine: intervals from lastRunAt)."""

    def fire(self, now: datetime) -> int:
        """One tick at `now`: claim and run what is due; the number of runs started."""

    def settle(self, now: datetime) -> int:
        """Record the runs that ended by `now`; how many."""


class VirtualClock:
    """Stands still until advanced; never goes back."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = max(self._now, when.astimezone(timezone.utc))


@dataclass(frozen=True)
class Advanced:
    """What one advance did (the answer of `POST /__sandbox/clock`)."""

    now: datetime
    ticks: int  # ticks in the span, skipped ones included
    skipped: int  # ticks that did not happen (run faults)
    runs: int  # runs started

    def to_json(self) -> dict[str, object]:
        return {
            "now": iso(self.now),
            "ticks": self.ticks,
            "skipped": self.skipped,
            "runs": self.runs,
        }


class Scheduler:
    """One sandbox's scheduler: `advance()` on a virtual clock, a thread on the real one."""

    def __init__(
        self, ctx: Context, firing: Firing, kind: ClockKind, virtual: VirtualClock | None
    ) -> None:
        self.ctx = ctx
        self.firing = firing
        self.kind = kind
        self.virtual = virtual
        now = ctx.now()
        self._start = now
        self._next_tick = now + firing.tick  # a timer's first tick comes one period in
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with ctx.lock, ctx.store.batch():
            firing.restart(now)

    @staticmethod
    def start_time(ctx: Context, start: datetime | None) -> datetime:
        """Where a virtual clock starts: where this database's stopped, else `start`, else now."""
        stored = ctx.store.get_meta(_VIRTUAL_NOW)
        if stored is not None:
            return parse_iso(stored)
        return (start or utc_now()).replace(microsecond=0)

    def now(self) -> datetime:
        return self.ctx.now()

    def reset(self, start: datetime) -> None:
        """Back to a fresh sandbox's clock (RunningSandbox.reset)."""
        if self.virtual is not None:
            self.virtual._now = start.astimezone(timezone.utc)
        self._start = self.ctx.now()
        self._next_tick = self._start + self.firing.tick

    # -- virtual -------------------------------------------------------------------------------

    def advance(self, to: datetime) -> Advanced:
        """Move a virtual clock to `to`, firing every tick up to and including it."""
        if self.virtual is None:
            raise ValueError("the clock is real: start the sandbox with --clock virtual to move it")
        now = self.ctx.now()
        if to < now:
            raise ValueError(f"the clock is at {iso(now)}; it does not go back to {iso(to)}")
        if to - now > MAX_ADVANCE:
            raise ValueError(f"advance at most {MAX_ADVANCE.days} days at a time")
        ticks = skipped = runs = 0
        period = self.firing.tick
        with self.ctx.lock, self.ctx.store.batch():
            while self._next_tick <= to:
                due = self.ctx.store.earliest_due()
                if due is None:
                    break
                due_at = parse_iso(due)
                if due_at > self._next_tick:
                    # Nothing is due before then: jump to the first tick at or after it.
                    behind = -(-(due_at - self._next_tick) // period)
                    if self._next_tick + behind * period > to:
                        break
                    ticks += behind
                    self._next_tick += behind * period
                    continue
                at = self._next_tick
                self._next_tick += period
                ticks += 1
                self.virtual.set(at)
                done, fired = self._tick(at)
                skipped += not done
                runs += fired
            if self._next_tick <= to:  # nothing more is due: count the idle ticks only
                behind = (to - self._next_tick) // period + 1
                ticks += behind
                self._next_tick += behind * period
            self.virtual.set(to)
            self.firing.settle(to)
            self.ctx.store.set_meta(_VIRTUAL_NOW, iso(to))
        return Advanced(to, ticks, skipped, runs)

    def _tick(self, at: datetime) -> tuple[bool, int]:
        """(whether the tick happened, runs started). Called with the lock and a batch held."""
        self.firing.settle(at)
        if self.ctx.runs.tick_skipped(at, lambda what: unit(self.ctx.salt, what)):
            return False, 0
        return True, self.firing.fire(at)

    # -- real ----------------------------------------------------------------------------------

    def start(self) -> None:
        """The real clock's tick loop, in a background thread, until stop()."""
        if self.virtual is not None or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, name="schedctl-sandbox-ticks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(max(0.0, (self._next_tick - utc_now()).total_seconds())):
            at = self._next_tick
            self._next_tick += self.firing.tick
            try:
                with self.ctx.lock, self.ctx.store.batch():
                    self._tick(self.ctx.now())
            except Exception:  # a bad tick must not end the loop; the next one tries again
                log.exception("sandbox scheduler: the tick at %s failed", iso(at))
            if self._next_tick < utc_now():  # suspended or slow: catch up with one tick
                self._next_tick = utc_now() + self.firing.tick
