"""The scheduler loop: a heap of next fires, one thread sleeping until the earliest.

One loop serves the live runner (RealClock, a bounded pool of worker threads) and
`--simulate` (VirtualClock, runs executed inline): time is the only difference.

Locks: `_cond` guards the heap and the entries; the store has its own lock. Code holding the
store lock never takes `_cond`, so the two cannot deadlock.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from reconciler import platforms, timing
from reconciler.clock import Clock, RealClock
from reconciler.errors import RunnerError, UsageError
from reconciler.runner.executors import (
    NOT_STARTED,
    Executor,
    Outcome,
    RunContext,
    parse_executor,
)
from reconciler.runner.semantics import after_run, semantics_for_platform
from reconciler.runner.store import (
    Claim,
    Offer,
    RunRecord,
    RunStatus,
    RunStore,
    ScheduleState,
    open_store,
)

if TYPE_CHECKING:
    from reconciler.model import Schedule

log = logging.getLogger("reconciler.runner")

MissedPolicy = Literal["once", "skip"]
_TICK = timedelta(microseconds=1)
_Job = TypeVar("_Job")  # what a worker loop takes off its queue
# After the grace period and cancel_all(), how long workers get to record how their runs ended.
_CANCEL_WAIT_SECONDS = 5.0
# A worker whose run waits for a free place under --max-concurrent (held by other replicas)
# looks again this often; a run finishing here wakes it at once.
_START_POLL_SECONDS = 0.1
# Fires due at one instant are claimed this many to a transaction: one commit for many claims,
# while the first runs of a burst still start after one small commit.
_CLAIM_CHUNK = 16
# On the real clock, the fires of one instant are claimed ahead of it by about the time their
# claims take (as Quartz's JDBC store acquires triggers ahead of their fire time), so a
# burst's claims are committed when its instant comes and its runs start at once: a single
# fire about a millisecond ahead, a burst of hundreds at most _CLAIM_AHEAD_MAX. A claim still
# precedes its run; at shutdown a slot claimed ahead and not yet due is given back, and a
# runner killed in that moment leaves it claimed, recorded interrupted like any claimed slot.
_CLAIM_AHEAD_MAX = 0.1  # seconds
_CLAIM_COST_START = 0.0005  # seconds per claim until measured


class Runnable(Protocol):
    """What the runner needs of a schedule; loader.ResolvedSchedule is one."""

    @property
    def key(self) -> str: ...

    @property
    def schedule(self) -> Schedule: ...

    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class RunnerOptions:
    db_path: Path | None = None  # None: an in-memory database (nothing written)
    store_url: str | None = None  # postgresql://…: replicas share it (db_path is then unused)
    lease: float = 30.0  # seconds a silent replica keeps its runs before another takes over
    executor: str = "print"
    max_concurrent: int = 3
    missed: MissedPolicy = "once"
    semantics: str = field(default_factory=platforms.default_name)  # whose run rules apply
    timeout: float = 600.0  # seconds one run may take
    grace: float = 30.0  # seconds running runs get to finish at shutdown
    artifacts_dir: Path | None = None  # default: `artifacts/` next to the database
    # The config's token variables (every target's token_env): kept from the executors.
    withheld_env: frozenset[str] = frozenset()

    def artifacts(self) -> Path | None:
        if self.artifacts_dir is not None:
            return self.artifacts_dir
        return None if self.db_path is None else self.db_path.parent / "artifacts"

    def sqlite_path(self) -> Path | None:
        return None if self.store_url is not None else self.db_path


def fingerprints(item: Runnable) -> tuple[str, str]:
    """(when it fires, the whole definition), as short hashes."""
    zone = f"|{item.timezone}"
    spec = item.schedule.schedule.model_dump_json() + zone
    whole = item.schedule.model_dump_json(exclude={"targets", "overrides"}) + zone
    return (
        hashlib.sha1(spec.encode(), usedforsecurity=False).hexdigest()[:16],
        hashlib.sha1(whole.encode(), usedforsecurity=False).hexdigest()[:16],
    )


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)


@dataclass(eq=False, slots=True)  # one per schedule
class _Entry:
    item: Runnable
    trigger: timing.Trigger
    def_fp: str  # the whole definition's fingerprint (when it fires is the store's to compare)
    gen: int  # heap items of an older generation are stale (the schedule changed or stopped)
    active: bool = False

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def schedule(self) -> Schedule:
        return self.item.schedule


@dataclass(frozen=True)
class _Due:
    entry: _Entry
    slot: datetime
    skip: str | None  # why this tick is recorded as skipped, not run
    gen: int  # the entry's generation when popped
    next: datetime | None  # the fire after it, when known without computing


@dataclass(frozen=True)
class _Ran:
    """A run that ended (or never started), for the closer to record."""

    entry: _Entry
    claim: Claim
    outcome: Outcome
    started: datetime
    completed: datetime
    executed: bool  # False: not started (shutdown came first): no artifacts


class _RunLock:
    """One live runner per database: a second would recover (interrupt) the first's runs."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._file = self.path.open("a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, documented
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            raise RunnerError(
                f"another `schedctl run` is using {db_path} (lock {self.path}); "
                "stop it, or give this one its own --db"
            ) from None

    def release(self) -> None:
        self._file.close()  # closing drops the flock


@dataclass
class _Counters:
    fired: int = 0
    skipped: int = 0
    finished: dict[str, int] = field(default_factory=dict)


class Runner:
    """Fires schedules on time: `start()`, then `serve()` until `stop()`, then `shutdown()`."""

    def __init__(
        self,
        schedules: Iterable[Runnable],
        options: RunnerOptions,
        *,
        clock: Clock | None = None,
        executor: Executor | None = None,
        on_run: Callable[[RunRecord], None] | None = None,
        inline: bool | None = None,
    ) -> None:
        if options.max_concurrent < 1:
            raise UsageError("--max-concurrent must be at least 1")
        self.options = options
        self.semantics = semantics_for_platform(options.semantics)
        self.clock: Clock = clock or RealClock()
        self.executor = executor or parse_executor(options.executor)
        self._owns_executor = executor is None
        self._closed = False
        self.inline = self.clock.virtual if inline is None else inline  # simulate: no threads
        # Not on a shared store: there the replica claiming furthest ahead would take every
        # slot, and the others would only wait for its death.
        self._ahead = not self.clock.virtual and options.store_url is None
        self._claim_cost = _CLAIM_COST_START  # seconds per claim, a moving average
        self._at: dict[float, int] = {}  # heap items per instant: how big the next burst is
        self._on_run = on_run
        self._items = list(schedules)
        self._artifacts = options.artifacts()
        self._withheld = options.withheld_env
        lock = threading.RLock()  # re-entrant: a signal handler may take it
        self._cond = threading.Condition(lock)  # the heap, the entries, stopping: wakes serve()
        self._settled = threading.Condition(lock)  # a run ended or stopping: wakes its waiters
        self._heap: list[tuple[float, str, int, int, datetime]] = []  # (ts, key, seq, gen, slot)
        self._seq = 0
        self._entries: dict[str, _Entry] = {}
        self._active: dict[str, str] = {}  # run_id -> key: claimed and not finished
        self._stopping = False
        self._hurry = False
        self._queue: queue.SimpleQueue[tuple[_Entry, Claim] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._closer: threading.Thread | None = None
        self._closer_queue: queue.SimpleQueue[_Ran | None] = queue.SimpleQueue()
        self._emit_lock = threading.Lock()
        self._lock: _RunLock | None = None
        self._store: RunStore | None = None
        self._include_now = False  # `--simulate`: a slot at the window's start is due
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.counters = _Counters()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def store(self) -> RunStore:
        if self._store is None:
            raise RunnerError("the runner has not started")
        return self._store

    def start(
        self, *, exclusive: bool = True, plan: bool = True, include_now: bool = False
    ) -> None:
        """Open the database, interrupt what dead runners left running, and plan every fire.

        `exclusive`: a runner serving schedules (SQLite: hold the file's lock for the whole
        run). Without it (`--once`), stale runs are recovered only when no runner holds it.
        `plan`: schedule fires (and say why some will not); `--once` only needs the entries.
        `include_now`: a slot at the clock's start fires too (`--simulate` includes FROM).
        On PostgreSQL there is no file lock: every process holds a lease instead, and the
        runs of one whose lease ran out are interrupted by the others.
        """
        self._include_now = include_now
        db = self.options.sqlite_path()
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._lock = _RunLock(db)
            except RunnerError:
                if exclusive:
                    raise
        # Batch (state in memory, rows in bulk) only where runs are inline and time is
        # virtual: `--simulate`. Everything else commits each step before the next.
        batch = self.clock.virtual and self.inline
        live = exclusive and not self.clock.virtual and not self.inline
        self._store = open_store(db, self.options.store_url, batch=batch, group_commit=live)
        now = self.clock.now()
        if self.options.store_url is None and (db is None or self._lock is not None):
            for run_id in self.store.recover(now):
                log.warning(
                    "run %s was interrupted (the runner stopped during it); its slot is not fired again",
                    run_id,
                )
        if not exclusive and self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.store.durable:
            replica = self.store.join("runner" if exclusive else "once", self.options.lease)
            log.debug("replica %s, lease %gs", replica, self.options.lease)
            self._renew()  # take over replicas that died while none was looking
            if not self.clock.virtual:
                self._beat = threading.Thread(
                    target=self._heartbeat, name="schedctl-lease", daemon=True
                )
                self._beat.start()
        with self._cond:
            self._install(self._items, now, at_start=True, plan=plan)
        for item in self._items:
            for note in self.semantics.notes(item.schedule) if plan else ():
                log.warning("%s: %s (--semantics %s)", item.key, note, self.semantics.name)
        if not self.inline:
            self._closer = threading.Thread(
                target=self._close_loop, name="schedctl-close", daemon=True
            )
            self._closer.start()
            for i in range(self.options.max_concurrent):
                worker = threading.Thread(target=self._work, name=f"schedctl-run-{i}", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _heartbeat(self) -> None:
        while not self._beat_stop.wait(self.options.lease / 3):
            self._renew()

    def _renew(self) -> None:
        try:
            rejoined, interrupted = self.store.heartbeat()
        except RunnerError as exc:  # the database is away: the next beat tries again
            log.warning("cannot renew this runner's lease: %s", exc)
            return
        if rejoined:
            log.warning(
                "this runner's lease had run out (paused or cut off for longer than --lease %gs): "
                "its open runs were marked interrupted by another replica; serving on",
                self.options.lease,
            )
        for run_id in interrupted:
            log.warning(
                "run %s was interrupted (its runner's lease ran out); its slot is not fired again",
                run_id,
            )

    def serve(self, until: datetime | None = None) -> None:
        """Fire what is due, sleep until the next fire; return on stop() or after `until`."""
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = self.clock.now()
                lead = self._lead() if until is None else timedelta(0)
                due = self._pop_due(now + lead)
                if not due:
                    deadline = self._heap[0][4] - lead if self._heap else None
                    if until is not None and (deadline is None or deadline > until):
                        if self.clock.virtual or now >= until:
                            return
                        deadline = until
                    if deadline is None and self.clock.virtual:
                        return  # nothing will ever fire again
                    self.clock.wait(self._cond, deadline)
                    continue
            ready: list[tuple[_Entry, Claim]] = []
            began = time.perf_counter()
            for at in range(0, len(due), _CLAIM_CHUNK):
                ready += self._claim(due[at : at + _CLAIM_CHUNK])
            with self._cond:
                self._push_next(due, now)
            if not self._ahead:  # everything claimed is due
                for entry, claim in ready:
                    self._dispatch(entry, claim)
                continue
            self._claim_cost += ((time.perf_counter() - began) / len(due) - self._claim_cost) / 4
            for entry, claim in ready:  # in slot order, as popped
                if not self._sleep_until(claim.scheduled_for):
                    self.store.release(claim)  # claimed ahead, not due yet: someone else's
                    continue
                self._dispatch(entry, claim)

    def stop(self, *, hurry: bool = False) -> None:
        """Take no new runs (safe from a signal handler). `hurry`: skip the grace period."""
        with self._cond:
            self._stopping = True
            self._hurry = self._hurry or hurry
            self._cond.notify_all()
            self._settled.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is queued or running; False when `timeout` (seconds) ran out."""
        with self._settled:
            return self._settled.wait_for(lambda: not self._active, timeout)

    def shutdown(self) -> None:
        """Let running runs finish within the grace period, interrupt the rest, close the db."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        end = time.monotonic() + self.options.grace  # real seconds, whatever the clock
        with self._cond:
            while self._active and not self._hurry and (left := end - time.monotonic()) > 0:
                self._settled.wait(left)  # woken by each finished run and by a second signal
            if self._active:
                log.warning("stopping %d run(s) still going at shutdown", len(self._active))
        if self._active:
            self.executor.cancel_all()
            self.wait_idle(_CANCEL_WAIT_SECONDS)
        for _ in self._workers:
            self._queue.put(None)
        end = time.monotonic() + _CANCEL_WAIT_SECONDS  # one deadline: a stuck worker stays behind
        for worker in self._workers:
            worker.join(timeout=max(0.0, end - time.monotonic()))
        if self._closer is not None:  # after the workers: it records what they handed over
            self._closer_queue.put(None)
            self._closer.join(timeout=max(0.0, end - time.monotonic()))
        if self._owns_executor:
            self.executor.close()
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        if self._store is not None:
            # Runs of workers stuck past every deadline are recorded as the next start would.
            self._store.leave(self.clock.now())
            self._store.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- schedules -----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        with self._cond:
            return list(self._entries)

    def next_due(self) -> tuple[str, datetime] | None:
        """The schedule that fires first and when, or None when nothing will."""
        with self._cond:
            live = [
                (item[4], item[1])
                for item in self._heap
                if (entry := self._entries.get(item[1])) is not None
                and entry.active
                and entry.gen == item[3]
            ]
        if not live:
            return None
        at, key = min(live, key=lambda pair: (pair[0].timestamp(), pair[1]))
        return key, at

    def next_fire(self, key: str) -> datetime | None:
        """When `key` fires next (None when it is stopped, disabled or done)."""
        with self._cond:
            entry = self._entries.get(key)
            if entry is None or not entry.active:
                return None
            fires = [item[4] for item in self._heap if item[1] == key and item[3] == entry.gen]
            return min(fires) if fires else None

    def reload(
        self, schedules: Iterable[Runnable], withheld_env: Iterable[str] = ()
    ) -> tuple[list[str], list[str], list[str]]:
        """Replace the schedule set: (added, changed, removed) keys. Running runs go on.

        `withheld_env`: token variables the reloaded config names; they join those withheld
        already (a variable once withheld stays so: a config broken mid-edit names none)."""
        items = {item.key: item for item in schedules}
        with self._cond:
            self._withheld = self._withheld.union(withheld_env)
            removed = [k for k in self._entries if k not in items]
            for key in removed:
                self._entries.pop(key).gen = -1
            added: list[str] = []
            changed: list[str] = []
            fresh: list[Runnable] = []
            for key, item in items.items():
                old = self._entries.get(key)
                if old is None:
                    added.append(key)
                elif fingerprints(item)[1] != old.def_fp:
                    changed.append(key)
                else:
                    old.item = item  # same definition; the position in its file may have moved
                    continue
                fresh.append(item)
            if fresh:
                self._install(fresh, self.clock.now(), at_start=False)
            self._cond.notify_all()
        for key in removed:
            log.info("%s: removed; it fires no more", key)
        for key in added + changed:
            what = "added" if key in added else "changed"
            log.info("%s: %s; next fire %s", key, what, _show(self.next_fire(key)))
        return added, changed, removed

    def _install(
        self, items: Sequence[Runnable], now: datetime, *, at_start: bool, plan: bool = True
    ) -> None:
        """Create entries and push their first fire. Called with `_cond` held."""
        fps = {item.key: fingerprints(item) for item in items}
        # Whole seconds: an unanchored interval then fires on whole seconds too.
        seen = now.replace(microsecond=0)
        states = self.store.sync_states([(k, *fp) for k, fp in fps.items()], seen)
        for item in items:
            state = states[item.key]
            def_fp = fps[item.key][1]
            trigger = timing.trigger_for(
                item.schedule.schedule, item.timezone, created_at=state.seen_at
            )
            old = self._entries.get(item.key)
            entry = _Entry(item, trigger, def_fp, gen=(old.gen + 1) if old else 0)
            self._entries[item.key] = entry
            if not plan:
                continue
            if not item.schedule.enabled:
                log.info(
                    "%s: enabled: false; not scheduled (`--once %s` still runs it)",
                    item.key,
                    item.key,
                )
            elif state.disabled:
                log.warning(
                    "%s: %s; not scheduled (change its definition to re-enable it)",
                    item.key,
                    state.disabled_reason,
                )
            elif state.retired:
                log.info("%s: retired after its successful run (delete_after_run)", item.key)
            else:
                self._plan_first(entry, state, now, at_start)

    def _plan_first(
        self, entry: _Entry, state: ScheduleState, now: datetime, at_start: bool
    ) -> None:
        entry.active = True
        after = state.seen_at if state.last_slot is None else max(state.seen_at, state.last_slot)
        if state.seen_at == now.replace(microsecond=0):
            # First seen just now: seen_at was rounded down for the interval anchor, but a slot
            # in that rounded-off fraction of a second was never due while we were watching.
            after = max(after, now)
        spec = entry.schedule.schedule
        # A slot at the start itself is due (`--simulate` includes FROM), except the anchor of
        # an interval that counts from this very instant: that is its creation, not a fire.
        include_now = (
            at_start
            and self._include_now
            and not (spec.every is not None and spec.anchor is None and state.seen_at == now)
        )
        if include_now:
            after = min(after, now - _TICK)
        first = entry.trigger.next_after(after)
        if first is None:
            entry.active = False
            if entry.schedule.schedule.at is not None and state.last_slot is None:
                log.info(
                    "%s: its one-shot time %s has passed; it does not fire",
                    entry.key,
                    _show(entry.schedule.schedule.at),
                )
            return
        first = utc(first)
        if first > now:
            self._push(entry, first)
            return
        latest = utc(entry.trigger.prev_before(now + _TICK) or first)
        if include_now and latest == now:  # due at the start; any before it were missed
            self._push(entry, now)
            return
        if at_start and self.options.missed == "skip":
            self.store.pass_slot(entry.key, latest)
            log.info(
                "%s: slot %s was missed while the runner was down; skipped (--missed skip)",
                entry.key,
                _show(latest),
            )
            nxt = entry.trigger.next_after(latest)
            if nxt is not None:
                self._push(entry, utc(nxt))
            else:
                entry.active = False
            return
        if at_start:
            log.info(
                "%s: slot %s was missed while the runner was down; firing it once now",
                entry.key,
                _show(latest),
            )
        self._push(entry, latest)

    def _push(self, entry: _Entry, at: datetime) -> None:
        self._seq += 1
        ts = at.timestamp()
        # Fires at one instant go by name: a stable, readable timeline.
        heapq.heappush(self._heap, (ts, entry.key, self._seq, entry.gen, at))
        if self._ahead:
            self._at[ts] = self._at.get(ts, 0) + 1

    def _park(self, key: str, why: str, level: int = logging.WARNING) -> None:
        """Stop scheduling `key` until its definition changes (auto-disabled or retired)."""
        with self._cond:
            entry = self._entries.get(key)
            if entry is not None and entry.active:
                entry.active = False
                entry.gen += 1
                log.log(level, "%s: %s; it fires no more", key, why)

    # -- firing --------------------------------------------------------------------------------

    def _pop_due(self, now: datetime) -> list[_Due]:
        """Due fires, each with its skip reason. Their next fires are pushed by `_push_next`,
        after the claims: a burst's first run need not wait for every next-fire computation."""
        due: list[_Due] = []
        limit = now.timestamp()
        while self._heap and self._heap[0][0] <= limit:
            ts, key, _, gen, slot = heapq.heappop(self._heap)
            if self._ahead and (left := self._at.pop(ts, 1) - 1) > 0:
                self._at[ts] = left
            entry = self._entries.get(key)
            if entry is None or entry.gen != gen or not entry.active:
                continue
            skip: str | None = None
            nxt: datetime | None = None
            if self.semantics.below_minimum(entry.schedule):
                push = self.semantics.push_forward
                skip = (
                    f"every {entry.schedule.schedule.every} is below {self.semantics.name}'s "
                    f"minimum interval: tick skipped, next pushed {timing.format_duration(push)} forward"
                )
                nxt = slot + push
            due.append(_Due(entry, slot, skip, gen, nxt))
        return due

    def _push_next(self, due: Sequence[_Due], now: datetime) -> None:
        """Schedule the fire after each of `due` (called with `_cond` held)."""
        for d in due:
            entry = d.entry
            if self._entries.get(entry.key) is not entry or entry.gen != d.gen or not entry.active:
                continue  # changed, removed or parked meanwhile
            nxt = d.next if d.next is not None else self._next_slot(entry.trigger, d.slot, now)
            if nxt is not None:
                self._push(entry, nxt)

    @staticmethod
    def _next_slot(trigger: timing.Trigger, after: datetime, now: datetime) -> datetime | None:
        """The slot after `after`; when the loop ran late past several, the latest one only."""
        first = trigger.next_after(after)
        if first is None:
            return None
        first = utc(first)
        if first > now:
            return first
        return utc(trigger.prev_before(now + _TICK) or first)

    def _lead(self) -> timedelta:
        """How far ahead of the next instant to claim its fires (with `_cond` held)."""
        if not self._ahead or not self._heap:
            return timedelta(0)
        burst = self._at.get(self._heap[0][0], 1)
        return timedelta(seconds=min(_CLAIM_AHEAD_MAX, 2 * burst * self._claim_cost + 0.001))

    def _sleep_until(self, at: datetime) -> bool:
        """Until a slot claimed ahead is due; False: shutdown came first, and it is not due."""
        with self._cond:
            while (early := self.clock.now() < at) and not self._stopping:
                self.clock.wait(self._cond, at)
            return not early

    def _claim(self, due: Sequence[_Due]) -> list[tuple[_Entry, Claim]]:
        """Claim these fires in one transaction; the runs to start (skips are recorded)."""
        now, turns = self.clock.now(), self.executor.wants_turns
        offers = [
            Offer(
                d.entry.key,
                d.slot,
                "scheduler",
                self.semantics.conversation(d.entry.schedule),
                now,
                d.skip,
                turns,
                d.entry.def_fp,
            )
            for d in due
        ]
        ready: list[tuple[_Entry, Claim]] = []
        for d, result in zip(due, self.store.claim_many(offers), strict=True):
            if result is None:
                continue  # claimed before, by this process, a previous one or a replica
            if isinstance(result, RunRecord):
                self.counters.skipped += 1
                self._emit(result)
            else:
                ready.append((d.entry, result))
        return ready

    def fire_now(self, key: str) -> RunRecord:
        """Run `key` once, now, in this thread (trigger manual), whatever its state."""
        with self._cond:
            entry = self._entries.get(key)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UsageError(f"no schedule named {key!r} (known: {known})")
        now = self.clock.now()
        result = self.store.claim(
            key, now, "manual", self.semantics.conversation(entry.schedule), now,
            with_turns=self.executor.wants_turns, def_hash=entry.def_fp,
        )  # fmt: skip
        if result is None:  # pragma: no cover - manual runs claim no slot
            raise RunnerError(f"{key}: could not start a manual run")
        if isinstance(result, RunRecord):
            self._emit(result)
            return result
        with self._cond:
            self._active[result.run_id] = key
        record = self._execute(entry, result)
        if record is None:  # a threaded runner: the closer has it; wait for the row
            self.wait_idle()
            record = self.store.get_run(result.run_id)
            if record is None:  # pragma: no cover - rows are never deleted
                raise RunnerError(f"run {result.run_id} vanished from the runs database")
        return record

    def _dispatch(self, entry: _Entry, claim: Claim) -> None:
        self.counters.fired += 1
        with self._cond:
            self._active[claim.run_id] = entry.key
        if self.inline:
            self._execute(entry, claim)
        else:
            self._queue.put((entry, claim))

    def _work(self) -> None:
        self._serve(self._queue, lambda job: self._execute(*job), lambda job: job[1].run_id)

    def _serve(
        self,
        jobs: queue.SimpleQueue[_Job | None],
        handle: Callable[[_Job], object],
        run_id: Callable[[_Job], str],
    ) -> None:
        """Handle each job off `jobs` until None (a worker's and the closer's loop)."""
        while (job := jobs.get()) is not None:
            try:
                handle(job)
            except (sqlite3.Error, RunnerError) as exc:
                # The database went away (or closed under a stuck run): the row stays open
                # and is interrupted by the next start or by another replica's takeover.
                log.warning("run %s could not be recorded: %s", run_id(job), exc)
                self._done(run_id(job))

    def _begin(self, claim: Claim) -> datetime | Literal["stopping", "gone"]:
        """Wait for a place under --max-concurrent (across replicas) and mark the run started.

        "stopping": shutdown began first; "gone": another replica took this one's runs over
        (its lease had run out), and the row says so already."""
        while True:
            started = self.clock.now()
            if self._stopping and claim.trigger == "scheduler":
                return "stopping"
            if self.inline:
                return started
            result = self.store.try_start(claim.run_id, started, self.options.max_concurrent)
            if result != "busy":
                return started if result == "started" else "gone"
            with self._settled:  # other replicas' runs fill the bound; one ending here wakes us
                if not self._stopping:
                    self._settled.wait(_START_POLL_SECONDS)

    def _done(self, run_id: str) -> None:
        # Not _cond: the scheduler thread sleeps on it, and a burst would wake it once per run.
        with self._settled:
            self._active.pop(run_id, None)
            self._settled.notify_all()

    def _execute(self, entry: _Entry, claim: Claim) -> RunRecord | None:
        """Run a claimed run; its record when inline, else the closer records it (None)."""
        begun = self._begin(claim)
        if begun == "gone":
            self._done(claim.run_id)
            gone = self.store.get_run(claim.run_id)
            if gone is None:  # pragma: no cover - rows are never deleted
                raise RunnerError(f"run {claim.run_id} vanished from the runs database")
            self._emit(gone)
            return gone
        if begun == "stopping":
            # Claimed but still queued when shutdown began: never started, slot stays claimed.
            outcome = Outcome(False, error=NOT_STARTED, interrupted=True)
            started = self.clock.now()
        else:
            started = begun
            ctx = RunContext(
                schedule=entry.schedule,
                run_id=claim.run_id,
                conversation_id=claim.conversation_id,
                scheduled_for=claim.scheduled_for,
                trigger=claim.trigger,
                timeout=self.options.timeout,
                turns=claim.turns,
                withheld_env=self._withheld,
            )
            try:
                outcome = self.executor.run(ctx)
            except Exception as exc:  # an executor bug must not kill the worker thread
                log.exception("%s: the %s executor failed", entry.key, self.executor.name)
                outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}")
        done = _Ran(entry, claim, outcome, started, self.clock.now(), begun != "stopping")
        if self.inline:
            return self._close(done)
        # Artifacts and the row are written by the closer thread: the worker is free for the
        # next queued run, and the file writes overlap with it (they release the GIL).
        self._closer_queue.put(done)
        return None

    def _close_loop(self) -> None:
        self._serve(self._closer_queue, self._close, lambda done: done.claim.run_id)

    def _close(self, done: _Ran) -> RunRecord:
        """Save the artifacts, then close the row and apply the platform rules."""
        entry, claim, outcome = done.entry, done.claim, done.outcome
        if done.executed:
            self._save_artifacts(claim.run_id, outcome)
        status: RunStatus = (
            "interrupted" if outcome.interrupted else "ok" if outcome.ok else "error"
        )
        schedule = entry.schedule
        rules = partial(
            after_run,
            max_errors=self.semantics.max_errors(schedule),
            retire_on_success=schedule.delete_after_run and schedule.schedule.at is not None,
        )
        record, state = self.store.finish(
            claim, status, output=outcome.output, error=outcome.error,
            started_at=done.started, completed_at=done.completed,
            turns=outcome.turns if claim.conversation_id else (),
            update=rules,
        )  # fmt: skip
        self._done(claim.run_id)
        if state is not None and state.disabled:
            self._park(entry.key, state.disabled_reason or "disabled")
        elif state is not None and state.retired:
            # A one-shot doing what it was told: news, not a problem.
            self._park(entry.key, "retired after a successful run (delete_after_run)", logging.INFO)
        self._emit(record)
        return record

    def _save_artifacts(self, run_id: str, outcome: Outcome) -> None:
        if self._artifacts is None:
            return
        folder = self._artifacts / run_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "output.txt").write_text(outcome.output, encoding="utf-8")
            for name, text in outcome.files.items():
                (folder / name).write_text(text, encoding="utf-8")
        except OSError as exc:
            log.warning("run %s: cannot save artifacts in %s: %s", run_id, folder, exc)

    def _emit(self, record: RunRecord) -> None:
        with self._emit_lock:  # workers finish concurrently: one count and one line at a time
            counts = self.counters.finished
            counts[record.status] = counts.get(record.status, 0) + 1
            if self._on_run is not None:
                self._on_run(record)


def _show(dt: datetime | None) -> str:
    return "none" if dt is None else dt.isoformat()
