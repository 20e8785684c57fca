"""What both platforms' servers do the same way: load, store, list, run, delete.

A platform module supplies its models and the few hooks that differ (how a body becomes a
task, what a run changes on the task); its routes are thin calls into TaskService.
"""

from __future__ import annotations

import json
import random
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from fastapi import Response
from pydantic import BaseModel
from typing_extensions import Self

from .clock import iso
from .options import Faults, RunFaults
from .outcomes import FAIL_MARKER, Draw, draw, matches
from .paging import json_response, list_response
from .problems import Problem
from .store import Store

# Validation context of bodies read back from the store (see StoredTask.stored).
STORED = {"stored": True}


class StoredTask(BaseModel, ABC):
    """A task as the platform returns it; kept in the store as exactly this JSON."""

    id: str

    @property
    @abstractmethod
    def next_run(self) -> str | None:
        """The stored next run time (ISO UTC), indexed so stale ones can be found."""

    @abstractmethod
    def rescheduled(self, now: datetime) -> Self:
        """A copy whose next run is recomputed as of `now` (the service calls this after
        every change, so platform hooks never compute it themselves)."""

    @classmethod
    def stored(cls, body: str) -> Self:
        """A task as the store holds it: what a direct database edit drifted past the API's
        rules (an aitroop interval below 5 minutes) still loads, for the scheduler to handle."""
        return cls.model_validate_json(body, context=STORED)

    def to_json(self) -> str:
        return json.dumps(self.wire(), separators=(",", ":"))

    def wire(self) -> dict[str, Any]:
        """The JSON object sent to clients; platforms adjust it (omitted optionals)."""
        return self.model_dump(mode="json")


TaskT = TypeVar("TaskT", bound=StoredTask)


@dataclass(frozen=True)
class RunOutcome:
    """What `Context.execute` produced (the simple form, for platforms without a scheduler)."""

    status: Literal["ok", "error"]
    output: str | None
    error: str | None
    started: datetime
    completed: datetime

    @property
    def duration_ms(self) -> int:
        return int((self.completed - self.started).total_seconds() * 1000)


@dataclass(frozen=True)
class Started(Generic[TaskT]):
    """A run just started by the platform's executeTask (run-now and the scheduler alike).

    `task`: the task's new state (None: it retired). `run`: the run as recorded now. `final`
    and `done_at`: a run still going (aitroop's "queued") becomes `final` at `done_at`."""

    task: TaskT | None
    run: BaseModel
    final: BaseModel | None = None
    done_at: datetime | None = None


@dataclass
class Context:
    """One sandbox's state, shared by its routes, its Gate and its scheduler; on
    `app.state.sandbox`."""

    store: Store
    faults: Faults
    clock: Callable[[], datetime]
    # The fault stream (seeded: the same requests meet the same faults).
    rng: random.Random = field(default_factory=random.Random)
    # (method, path) of the /api requests received, faulted ones included; bounded, since
    # `schedctl sandbox` may serve for days.
    request_log: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=100_000))
    runs: RunFaults = field(default_factory=RunFaults)
    salt: str = ""  # of the outcome draws: the seed, or a random one per process
    # A scheduler fires due tasks: they stay due until its tick (reads do not move them on).
    fires: bool = False
    # Held by every read-modify-write of a task and by a whole tick: the real clock's ticks
    # run in a thread of their own, beside the request handlers.
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> datetime:
        return self.clock()

    def draw(self, task_id: str, names: Iterable[str], n: int) -> Draw:
        return draw(self.runs, self.salt, task_id, names, n)

    def execute(self, payload: str, ok_output: str, failure: str) -> RunOutcome:
        """Run a task "synchronously": it fails when its payload carries FAIL_MARKER or
        matches `always_fail` (plugins' platforms; engine and aitroop draw with `draw`)."""
        started = self.now()
        failed = FAIL_MARKER in payload or matches(self.runs.always_fail, [payload])
        return RunOutcome(
            status="error" if failed else "ok",
            output=None if failed else ok_output,
            error=failure if failed else None,
            started=started,
            completed=self.now(),
        )


Execute = Callable[[TaskT, datetime, str], Started[TaskT]]  # (task, now, trigger)
Finished = Callable[[TaskT, BaseModel], TaskT]  # a run still going ended: the task after it


class TaskService(Generic[TaskT]):
    """Persistence and the platform-neutral halves of each endpoint."""

    def __init__(
        self,
        ctx: Context,
        model: type[TaskT],
        run_model: type[BaseModel] | None = None,
        finished: Finished[TaskT] | None = None,
    ) -> None:
        self.ctx = ctx
        self.model = model
        self.run_model = run_model
        self.finished = finished

    def load(self, scope: str, task_id: str) -> TaskT:
        body = self.ctx.store.get_task(scope, task_id)
        if body is None:
            raise Problem(404, "task not found")
        task = self.model.stored(body)
        if self.ctx.fires:
            return task  # a passed next run is due: the scheduler's next tick takes it
        now = self.ctx.now()
        if task.next_run is not None and task.next_run <= iso(now):
            task = task.rescheduled(now)
            self.save(scope, task)
        return task

    def save(self, scope: str, task: TaskT) -> str:
        """Store the task; returns its JSON, which is also the answer to send."""
        body = task.to_json()
        self.ctx.store.put_task(scope, task.id, body, task.next_run)
        return body

    def refresh_due(self, scope: str) -> None:
        """Bring a read up to date: runs that ended by now are recorded as ended; without a
        scheduler, next-run times that have passed move on (no run is recorded for them).

        Handlers are async and do not await between read and write, so no request interleaves.
        """
        now = self.ctx.now()
        if self.ctx.fires:
            self.settle(now)
            return
        for body in self.ctx.store.due_tasks(scope, iso(now)):
            self.save(scope, self.model.stored(body).rescheduled(now))

    def settle(self, now: datetime) -> int:
        """Record the runs still going that have ended by `now`; how many."""
        if self.finished is None or self.run_model is None:
            return 0
        store = self.ctx.store
        finishing = store.finishing(iso(now))
        for seq, _scope, run_body, task_body in finishing:
            final = self.run_model.model_validate_json(run_body)
            task = None if task_body is None else self.model.stored(task_body)
            after = None if task is None else self.finished(task, final)
            store.finish_run(
                seq,
                run_body,
                "" if task is None else task.id,
                None if after is None else after.to_json(),
                None if after is None else after.next_run,
            )
        return len(finishing)

    def record(self, scope: str, task_id: str, started: Started[TaskT]) -> str:
        """Store a started run and its task's new state; the run's JSON."""
        run_json = started.run.model_dump_json()
        task = started.task
        done = None
        if started.final is not None and started.done_at is not None:
            done = (iso(started.done_at), started.final.model_dump_json())
        self.ctx.store.record_run(
            scope,
            task_id,
            run_json,
            None if task is None else task.to_json(),
            None if task is None else task.next_run,
            done=done,
        )
        return run_json

    def get(self, scope: str, task_id: str) -> Response:
        with self.ctx.lock:
            return json_response(self.load(scope, task_id).to_json())

    def list(self, scope: str, cursor: str | None, limit: int | None) -> Response:
        with self.ctx.lock:
            self.refresh_due(scope)
        store = self.ctx.store
        return list_response(
            lambda after, size: store.list_tasks(scope, after, size),
            cursor,
            limit,
            self.ctx.faults.page_size,
        )

    def create(self, scope: str, prefix: str, build: Callable[[str, datetime], TaskT]) -> Response:
        now = self.ctx.now()
        task = build(self.ctx.store.mint_id(prefix), now)
        return json_response(self.save(scope, task.rescheduled(now)), 201)

    def change(
        self, scope: str, task_id: str, edit: Callable[[TaskT, datetime], TaskT]
    ) -> Response:
        with self.ctx.lock:
            now = self.ctx.now()
            task = edit(self.load(scope, task_id), now)
            return json_response(self.save(scope, task.rescheduled(now)))

    def delete(self, scope: str, task_id: str) -> Response:
        with self.ctx.lock:
            if not self.ctx.store.delete_task(scope, task_id):
                raise Problem(404, "task not found")
        return Response(status_code=204)

    def run(
        self,
        scope: str,
        task_id: str,
        execute: Callable[[TaskT, datetime], tuple[TaskT | None, BaseModel]],
    ) -> Response:
        """Run now; `execute` returns the task's new state (None: it retired) and the run."""
        return self.run_now(
            scope, task_id, lambda task, now, _trigger: Started(*execute(task, now))
        )

    def run_now(self, scope: str, task_id: str, execute: Execute[TaskT]) -> Response:
        """Run now, through the same executeTask the scheduler calls (trigger manual)."""
        with self.ctx.lock:
            now = self.ctx.now()
            task = self.load(scope, task_id)
            started = execute(task, now, "manual")
            after = started.task
            # The slot the scheduler will take stays as it is, unless the run disabled the
            # task; without a scheduler the next run is what it is as of now, as before.
            if after is not None and (not self.ctx.fires or not getattr(after, "enabled", True)):
                after = after.rescheduled(now)
            started = Started(after, started.run, started.final, started.done_at)
            return json_response(self.record(scope, task_id, started))

    def runs(
        self, scope: str, task_id: str | None, cursor: str | None, limit: int | None
    ) -> Response:
        with self.ctx.lock:
            if task_id is not None and self.ctx.store.get_task(scope, task_id) is None:
                raise Problem(404, "task not found")
            if self.ctx.fires:
                self.settle(self.ctx.now())
        store = self.ctx.store
        return list_response(
            lambda before, size: store.list_runs(scope, task_id, before, size),
            cursor,
            limit,
            self.ctx.faults.page_size,
        )
