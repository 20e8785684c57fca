"""The local runner (`schedctl run`): fire schedules on this machine as the platform would.

    run_schedules(selection, options, ...)   serve until Ctrl-C / SIGTERM (optionally --watch)
    run_once(selection, name, options)       `--once NAME`: one manual run, now
    simulate(schedules, start, until, ...)   `--simulate`: a virtual clock, no waiting
    list_runs(db_path, name, limit, url=)    `schedctl runs --local [--store URL]`

Modules: scheduler (the heap loop, Runner), store (the runs database: SQLite, batch),
postgres (the same on PostgreSQL, for replicas), executors, semantics (platform rules),
clock (real and virtual time), project (which schedules; --watch), report (text).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from types import FrameType

from reconciler.clock import VirtualClock
from reconciler.runner.executors import Executor, Outcome, RunContext, parse_executor
from reconciler.runner.project import (
    Loaded,
    Selection,
    Watcher,
    load_selection,
    reloader,
    watch_roots,
)
from reconciler.runner.report import next_run_text
from reconciler.runner.scheduler import MissedPolicy, Runnable, Runner, RunnerOptions
from reconciler.runner.semantics import semantics_for_platform
from reconciler.runner.store import (
    BatchRunStore,
    RunRecord,
    RunStore,
    ScheduleState,
    SqliteRunStore,
    list_runs,
    open_store,
)

__all__ = [
    "BatchRunStore",
    "Executor",
    "Loaded",
    "MissedPolicy",
    "Outcome",
    "RunContext",
    "RunRecord",
    "RunStore",
    "Runnable",
    "Runner",
    "RunnerOptions",
    "ScheduleState",
    "Selection",
    "SqliteRunStore",
    "list_runs",
    "load_selection",
    "open_store",
    "parse_executor",
    "run_once",
    "run_schedules",
    "semantics_for_platform",
    "simulate",
]

log = logging.getLogger("reconciler.runner")
_TICK = timedelta(microseconds=1)

OnRun = Callable[[RunRecord], None]


@contextmanager
def _stop_on_signals(runner: Runner) -> Iterator[None]:
    """SIGINT / SIGTERM: take no new runs, finish running ones; a second signal: don't wait."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGINT, signal.SIGTERM]
    seen: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)
        if len(seen) == 1:
            log.info(
                "stopping: no new runs; running ones get %gs to finish (again to stop now)",
                runner.options.grace,
            )
        runner.stop(hurry=len(seen) > 1)

    old = {s: signal.signal(s, handle) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_schedules(
    selection: Selection,
    options: RunnerOptions,
    *,
    on_run: OnRun | None = None,
    watch: Sequence[str] | None = None,
    config: str | None = None,
    handle_signals: bool = True,
    ready: Callable[[], None] | None = None,
) -> Runner:
    """Serve until stopped. `watch`: the PATHS to reload from when files change; `ready`:
    called once, when the schedules are loaded and before the first fire (see tuning)."""
    options = replace(options, withheld_env=options.withheld_env | selection.token_envs)
    runner = Runner(selection.schedules, options, on_run=on_run)
    current = list(selection.schedules)

    def apply(schedules: list[Loaded], token_envs: frozenset[str]) -> None:
        nonlocal current
        current = schedules
        runner.reload(schedules, token_envs)

    with _stop_on_signals(runner) if handle_signals else _nothing():
        runner.start()
        if ready is not None:
            ready()
        watcher: Watcher | None = None
        try:
            if watch is not None:
                deep, flat = watch_roots(watch, selection.root, selection.globs)
                on_change = reloader(watch, config, selection.target, lambda: current, apply)
                watcher = Watcher(deep, flat, on_change)
                watcher.start()
                shown = [f"{d}/**" for d in deep] + [str(d) for d in flat]
                log.info("watching %s for changes", ", ".join(shown))
            log.info(
                "running %d schedule(s), at most %d at once, %s semantics, executor %s; %s",
                len(selection.schedules), options.max_concurrent, options.semantics,
                runner.executor.name, next_run_text(runner.next_due(), runner.clock.now()),
            )  # fmt: skip
            runner.serve()
        finally:
            if watcher is not None:
                watcher.stop()
            runner.shutdown()
    return runner


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def run_once(
    schedules: Sequence[Runnable], name: str, options: RunnerOptions, *, on_run: OnRun | None = None
) -> RunRecord:
    """`--once NAME`: one manual run now, in this process, next to a live runner or not."""
    runner = Runner(schedules, options, on_run=on_run, inline=True)
    runner.start(exclusive=False, plan=False)
    try:
        return runner.fire_now(name)
    finally:
        runner.shutdown()


def simulate(
    schedules: Sequence[Runnable],
    start: datetime,
    until: datetime,
    options: RunnerOptions,
    *,
    executor: Executor | None = None,
    on_run: OnRun | None = None,
) -> list[RunRecord]:
    """Fires in the window [start, until), on a virtual clock: a slot at `start` fires, one at
    `until` does not (a week simulated day by day fires each slot once).

    The platform rules apply as in a live run (auto-disable needs an executor that fails).
    With `options.db_path` None, as by default, nothing is written anywhere.
    """
    records: list[RunRecord] = []

    def collect(record: RunRecord) -> None:
        records.append(record)
        if on_run is not None:
            on_run(record)

    options = replace(options, missed="skip")  # the window starts fresh: nothing was missed
    runner = Runner(
        schedules, options, clock=VirtualClock(start), executor=executor, on_run=collect
    )
    runner.start(include_now=True)
    try:
        runner.serve(until=until - _TICK)  # `until` is out: up to the instant before it
    finally:
        runner.shutdown()
    return records
