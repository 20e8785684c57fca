"""The "engine" platform: per-instance scheduled tasks (platforms/engine-scheduled-tasks.txt).

Tasks live under /api/instances/{slug}/scheduled-tasks; any slug is accepted, an instance
springs into being with its first task. camelCase fields, a cron / interval / one-shot
schedule union, PATCH for partial updates, a per-task and a global run log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, model_validator
from typing_extensions import Self

from reconciler.sandbox.clock import (
    check_cron,
    is_zone,
    iso,
    iso_or_none,
    next_cron,
    next_interval,
    next_once,
    parse_iso,
)
from reconciler.sandbox.paging import Cursor, Limit, ListPage
from reconciler.sandbox.problems import SCHEDULE_PREFIX, ErrorBody, MessageStyle, reject
from reconciler.sandbox.service import SandboxState, StoredTask, TaskService

STYLE = MessageStyle(
    schedule_fields=frozenset({"schedule"}),
    union_tags=frozenset({"cron", "interval", "one-shot"}),
)
BASE = "/api/instances/{slug}/scheduled-tasks"
# Bounds that keep time arithmetic finite; far beyond any real schedule.
MAX_EVERY_MS = 10 * 366 * 24 * 3600 * 1000

Text = Annotated[StrictStr, Field(min_length=1)]
Channel = Literal["slack", "telegram", "whatsapp"]


def _check_timestamp(value: str, field: str) -> None:
    try:
        parse_iso(value)
    except ValueError:
        raise reject(f"{SCHEDULE_PREFIX}{field} is not an ISO 8601 timestamp: {value!r}") from None


class CronSchedule(BaseModel):
    type: Literal["cron"]
    expression: StrictStr = Field(examples=["0 9 * * *"])
    timezone: StrictStr | None = Field(default=None, examples=["Europe/Rome"])

    @model_validator(mode="after")
    def _check(self) -> Self:
        # Counted here because timing also takes @daily-style macros: the platform does not.
        count = len(self.expression.split())
        if count != 5:
            raise reject(
                f"{SCHEDULE_PREFIX}cron expression must have 5 fields "
                f"(minute hour day-of-month month day-of-week), got {count}"
            )
        why = check_cron(self.expression)
        if why is not None:
            raise reject(f"{SCHEDULE_PREFIX}cron expression {self.expression!r}: {why}")
        if self.timezone is not None and not is_zone(self.timezone):
            raise reject(f"{SCHEDULE_PREFIX}unknown timezone {self.timezone!r}")
        return self


class IntervalSchedule(BaseModel):
    type: Literal["interval"]
    everyMs: StrictInt = Field(gt=0, le=MAX_EVERY_MS)
    anchorAt: StrictStr | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.anchorAt is not None:
            _check_timestamp(self.anchorAt, "anchorAt")
        return self


class OneShotSchedule(BaseModel):
    type: Literal["one-shot"]
    runAt: StrictStr

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_timestamp(self.runAt, "runAt")
        return self


EngineSchedule = Annotated[
    CronSchedule | IntervalSchedule | OneShotSchedule, Field(discriminator="type")
]


class _Settings(BaseModel):
    """The writable fields that have defaults, shared by create and patch bodies."""

    description: StrictStr | None = None
    enabled: StrictBool = True
    outboundChannel: Channel | None = None
    outboundTarget: StrictStr | None = None
    keepHistory: StrictBool = True
    deleteAfterRun: StrictBool = False
    maxRetries: StrictInt = Field(default=3, ge=0)


class TaskCreate(_Settings):
    name: Text
    prompt: Text
    schedule: EngineSchedule


_REQUIRED = ("name", "prompt", "schedule")


class TaskPatch(_Settings):
    """Only the fields present change; `schedule` is replaced whole."""

    name: Text | None = None
    prompt: Text | None = None
    schedule: EngineSchedule | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> Self:
        for field in _REQUIRED:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise reject(f"{field} must not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.model_fields_set}


class EngineTask(TaskCreate, StoredTask):
    """A task as GET returns it: the writable fields plus what the server computes."""

    createdAt: str
    updatedAt: str
    nextRunAt: str | None = None
    lastRunAt: str | None = None
    lastStatus: Literal["ok", "error"] | None = None
    lastError: str | None = None
    consecutiveErrors: int = 0
    runCount: int = 0
    conversationId: str | None = None

    @property
    def next_run(self) -> str | None:
        return self.nextRunAt

    def rescheduled(self, now: datetime) -> Self:
        return self.model_copy(update={"nextRunAt": iso_or_none(self._next_after(now))})

    def _next_after(self, now: datetime) -> datetime | None:
        if not self.enabled:  # disabled tasks never tick
            return None
        schedule = self.schedule
        try:
            if isinstance(schedule, CronSchedule):
                return next_cron(schedule.expression, schedule.timezone or "UTC", now)
            if isinstance(schedule, IntervalSchedule):
                anchor = parse_iso(schedule.anchorAt or self.createdAt)
                return next_interval(timedelta(milliseconds=schedule.everyMs), anchor, now)
            return next_once(parse_iso(schedule.runAt), now)
        except OverflowError:  # a fire time past year 9999 is no fire time
            return None

    def wire(self) -> dict[str, Any]:
        data = super().wire()
        # Optional schedule keys the client left out stay out, as it sent them.
        data["schedule"] = {k: v for k, v in data["schedule"].items() if v is not None}
        return data


class EngineRun(BaseModel):
    runId: str
    taskId: str
    triggerType: Literal["manual", "scheduler"]
    status: Literal["ok", "error"]
    startedAt: str
    completedAt: str
    durationMs: int
    output: str | None
    error: str | None
    conversationId: str


class EngineApi:
    title = "engine scheduled tasks (schedctl sandbox)"
    style = STYLE

    def __init__(self, ctx: SandboxState) -> None:
        self.ctx = ctx
        self.tasks = TaskService(ctx, EngineTask)

    def _execute(self, task: EngineTask, now: datetime) -> tuple[EngineTask | None, EngineRun]:
        outcome = self.ctx.execute(
            task.prompt,
            ok_output=f"sandbox: prompt received ({len(task.prompt)} chars)",
            failure="sandbox: simulated failure",
        )
        # keepHistory: one conversation for the task's life; otherwise a fresh one per run.
        conversation = task.conversationId if task.keepHistory else None
        conversation = conversation or self.ctx.store.mint_id("conv_")
        run = EngineRun(
            runId=self.ctx.store.mint_id("run_"),
            taskId=task.id,
            triggerType="manual",
            status=outcome.status,
            startedAt=iso(outcome.started),
            completedAt=iso(outcome.completed),
            durationMs=outcome.duration_ms,
            output=outcome.output,
            error=outcome.error,
            conversationId=conversation,
        )
        errors = task.consecutiveErrors + 1 if outcome.status == "error" else 0
        if (
            outcome.status == "ok"
            and task.deleteAfterRun
            and isinstance(task.schedule, OneShotSchedule)
        ):
            return None, run  # a fire-and-forget reminder retires after success
        updated = task.model_copy(
            update={
                "runCount": task.runCount + 1,
                "lastRunAt": run.startedAt,
                "lastStatus": outcome.status,
                "lastError": outcome.error,
                "consecutiveErrors": errors,
                "conversationId": conversation,
                # Auto-disable after maxRetries consecutive failures.
                "enabled": task.enabled and not (errors and errors >= task.maxRetries),
            }
        )
        return updated, run

    def router(self) -> APIRouter:
        tasks = self.tasks
        router = APIRouter(tags=["scheduled-tasks"])
        not_found: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}

        @router.get(BASE, response_model=list[EngineTask] | ListPage[EngineTask])
        async def list_tasks(slug: str, cursor: Cursor = None, limit: Limit = None) -> Response:
            return tasks.list(slug, cursor, limit)

        @router.post(BASE, status_code=201, response_model=EngineTask)
        async def create_task(slug: str, body: TaskCreate) -> Response:
            def build(task_id: str, now: datetime) -> EngineTask:
                stamp = iso(now)
                return EngineTask(id=task_id, createdAt=stamp, updatedAt=stamp, **dict(body))

            return tasks.create(slug, "st_", build)

        # Before /{task_id}, which would otherwise take "runs" for an id.
        @router.get(BASE + "/runs", response_model=list[EngineRun] | ListPage[EngineRun])
        async def instance_runs(slug: str, cursor: Cursor = None, limit: Limit = None) -> Response:
            return tasks.runs(slug, None, cursor, limit)

        @router.get(BASE + "/{task_id}", response_model=EngineTask, responses=not_found)
        async def get_task(slug: str, task_id: str) -> Response:
            return tasks.get(slug, task_id)

        @router.patch(BASE + "/{task_id}", response_model=EngineTask, responses=not_found)
        async def update_task(slug: str, task_id: str, body: TaskPatch) -> Response:
            def edit(task: EngineTask, now: datetime) -> EngineTask:
                return task.model_copy(update={**body.changes(), "updatedAt": iso(now)})

            return tasks.change(slug, task_id, edit)

        @router.delete(
            BASE + "/{task_id}", status_code=204, response_class=Response, responses=not_found
        )
        async def delete_task(slug: str, task_id: str) -> Response:
            return tasks.delete(slug, task_id)

        @router.post(BASE + "/{task_id}/run", response_model=EngineRun, responses=not_found)
        async def run_task(slug: str, task_id: str) -> Response:
            return tasks.run(slug, task_id, self._execute)

        @router.get(
            BASE + "/{task_id}/runs",
            response_model=list[EngineRun] | ListPage[EngineRun],
            responses=not_found,
        )
        async def task_runs(
            slug: str, task_id: str, cursor: Cursor = None, limit: Limit = None
        ) -> Response:
            return tasks.runs(slug, task_id, cursor, limit)

        return router
