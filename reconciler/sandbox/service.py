"""What both platforms' servers do the same way: load, store, list, run, delete.

A platform module supplies its models and the few hooks that differ (how a body becomes a
task, what a run changes on the task); its routes are thin calls into TaskService.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from fastapi import Response
from pydantic import BaseModel
from typing_extensions import Self

from .clock import iso
from .options import Faults
from .paging import json_response, list_response
from .problems import Problem
from .store import Store

# A prompt or app id containing this makes every run of the task fail, so a test can drive
# the error paths (lastError, consecutive errors, auto-disable) without a real agent.
FAIL_MARKER = "sandbox:error"


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

    def to_json(self) -> str:
        return json.dumps(self.wire(), separators=(",", ":"))

    def wire(self) -> dict[str, Any]:
        """The JSON object sent to clients; platforms adjust it (omitted optionals)."""
        return self.model_dump(mode="json")


TaskT = TypeVar("TaskT", bound=StoredTask)


@dataclass(frozen=True)
class RunOutcome:
    """What executing a task produced; the sandbox runs nothing, so this is canned."""

    status: Literal["ok", "error"]
    output: str | None
    error: str | None
    started: datetime
    completed: datetime

    @property
    def duration_ms(self) -> int:
        return int((self.completed - self.started).total_seconds() * 1000)


@dataclass
class SandboxState:
    """One sandbox's state, shared by its routes and its Gate; on `app.state.sandbox`."""

    store: Store
    faults: Faults
    clock: Callable[[], datetime]
    # The fault stream (seeded: the same requests meet the same faults).
    rng: random.Random = field(default_factory=random.Random)
    # (method, path) of the /api requests received, faulted ones included; bounded, since
    # `schedctl sandbox` may serve for days.
    request_log: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=100_000))

    def now(self) -> datetime:
        return self.clock()

    def execute(self, payload: str, ok_output: str, failure: str) -> RunOutcome:
        """Run a task "synchronously": it fails when its payload carries FAIL_MARKER."""
        started = self.now()
        failed = FAIL_MARKER in payload
        return RunOutcome(
            status="error" if failed else "ok",
            output=None if failed else ok_output,
            error=failure if failed else None,
            started=started,
            completed=self.now(),
        )


class TaskService(Generic[TaskT]):
    """Persistence and the platform-neutral halves of each endpoint."""

    def __init__(self, ctx: SandboxState, model: type[TaskT]) -> None:
        self.ctx = ctx
        self.model = model

    def load(self, scope: str, task_id: str) -> TaskT:
        body = self.ctx.store.get_task(scope, task_id)
        if body is None:
            raise Problem(404, "task not found")
        task = self.model.model_validate_json(body)
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
        """Move next-run times that have passed forward, as the platform's scheduler would.

        No run is recorded for the missed slot: the sandbox does not fire tasks on its own.
        Handlers are async and do not await between read and write, so no request interleaves.
        """
        now = self.ctx.now()
        for body in self.ctx.store.due_tasks(scope, iso(now)):
            self.save(scope, self.model.model_validate_json(body).rescheduled(now))

    def get(self, scope: str, task_id: str) -> Response:
        return json_response(self.load(scope, task_id).to_json())

    def list(self, scope: str, cursor: str | None, limit: int | None) -> Response:
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
        now = self.ctx.now()
        task = edit(self.load(scope, task_id), now)
        return json_response(self.save(scope, task.rescheduled(now)))

    def delete(self, scope: str, task_id: str) -> Response:
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
        now = self.ctx.now()
        task, run = execute(self.load(scope, task_id), now)
        run_json = run.model_dump_json()
        if task is not None:
            task = task.rescheduled(now)
        self.ctx.store.record_run(
            scope,
            task_id,
            run_json,
            None if task is None else task.to_json(),
            None if task is None else task.next_run,
        )
        return json_response(run_json)

    def runs(
        self, scope: str, task_id: str | None, cursor: str | None, limit: int | None
    ) -> Response:
        if task_id is not None and self.ctx.store.get_task(scope, task_id) is None:
            raise Problem(404, "task not found")
        store = self.ctx.store
        return list_response(
            lambda before, size: store.list_runs(scope, task_id, before, size),
            cursor,
            limit,
            self.ctx.faults.page_size,
        )
