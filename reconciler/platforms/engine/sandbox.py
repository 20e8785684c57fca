"""The "engine" platform: per-instance scheduled tasks (platforms/engine-scheduled-tasks.txt).

Tasks live under /api/instances/{slug}/scheduled-tasks; any slug is accepted, an instance
springs into being with its first task. camelCase fields, a cron / interval / one-shot
schedule union, PATCH for partial updates, a per-task and a global run log.

Its scheduler (`fire`, driven by reconciler.sandbox.firing) follows rules.py: a tick every
30 s claims up to MAX_CONCURRENT due tasks per instance, the longest overdue first (then the
oldest), and runs each through the same executeTask as run-now.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, model_validator
from typing_extensions import Self

from reconciler.platforms import count_error, retires
from reconciler.platforms.engine.provider import MARKER
from reconciler.platforms.engine.rules import MAX_CONCURRENT, RULES, TICK, next_after_restart
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
from reconciler.sandbox.service import Context, Started, StoredTask, TaskService

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


Schedule = Annotated[CronSchedule | IntervalSchedule | OneShotSchedule, Field(discriminator="type")]


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
    schedule: Schedule


_REQUIRED = ("name", "prompt", "schedule")


class TaskPatch(_Settings):
    """Only the fields present change; `schedule` is replaced whole."""

    name: Text | None = None
    prompt: Text | None = None
    schedule: Schedule | None = None

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

    def names(self) -> list[str]:
        """What run faults match it by: id, name, schedctl key, and the prompt."""
        _, marker = MARKER.detach(self.description or "")
        return [self.id, self.name, marker.key if marker else "", self.prompt]

    def wire(self) -> dict[str, Any]:
        data = super().wire()
        # Optional schedule keys the client left out stay out, as it sent them.
        data["schedule"] = {k: v for k, v in data["schedule"].items() if v is not None}
        return data


class ToolCall(BaseModel):
    name: str


class TokenUsage(BaseModel):
    inputTokens: int
    outputTokens: int
    totalTokens: int


class EngineRun(BaseModel):
    """A row of scheduled_task_runs."""

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
    toolCalls: list[ToolCall] = Field(default_factory=list)
    tokenUsage: TokenUsage | None = None


class EngineApi:
    title = "engine scheduled tasks (schedctl sandbox)"
    style = STYLE

    tick = TICK

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tasks = TaskService(ctx, EngineTask, EngineRun)

    def _execute(self, task: EngineTask, now: datetime, trigger: str) -> Started[EngineTask]:
        """executeTask: run-now and the scheduler both come here.

        The supervisor's run is not waited for: it is recorded whole at once, ending
        `durationMs` later (the outcome drawn from the run faults)."""
        drawn = self.ctx.draw(task.id, task.names(), task.runCount + 1)
        ok = not drawn.failed
        history = RULES.conversation("keep" if task.keepHistory else "fresh", app=False)
        conversation = task.conversationId if history == "keep" else None
        conversation = conversation or self.ctx.store.mint_id("conv_")
        tokens = drawn.input_tokens + drawn.output_tokens
        run = EngineRun(
            runId=self.ctx.store.mint_id("run_"),
            taskId=task.id,
            triggerType="manual" if trigger == "manual" else "scheduler",
            status="ok" if ok else "error",
            startedAt=iso(now),
            completedAt=iso(now + drawn.duration),
            durationMs=int(drawn.duration.total_seconds() * 1000),
            output=f"sandbox: prompt received ({len(task.prompt)} chars)" if ok else None,
            error=drawn.error,
            conversationId=conversation,
            toolCalls=[ToolCall(name=name) for name in drawn.tools],
            tokenUsage=TokenUsage(
                inputTokens=drawn.input_tokens, outputTokens=drawn.output_tokens, totalTokens=tokens
            )
            if tokens
            else None,
        )
        one_shot = isinstance(task.schedule, OneShotSchedule)
        if retires(run.status, one_shot=one_shot, delete_after_run=task.deleteAfterRun):
            return Started(None, run)  # a fire-and-forget reminder retires after success
        errors, disables = count_error(
            task.consecutiveErrors, run.status, RULES.max_errors(task.maxRetries)
        )
        updated = task.model_copy(
            update={
                "runCount": task.runCount + 1,
                "lastRunAt": run.startedAt,
                "lastStatus": run.status,
                "lastError": run.error,
                "consecutiveErrors": errors,
                "conversationId": conversation,
                "enabled": task.enabled and not disables,  # auto-disable after maxRetries
            }
        )
        return Started(updated, run)

    # -- the scheduler (reconciler.sandbox.firing.Firing) ---------------------------------------

    def fire(self, now: datetime) -> int:
        claimed: Counter[str] = Counter()
        for slug, body in self.ctx.store.due_everywhere(iso(now)):
            if claimed[slug] >= MAX_CONCURRENT:
                continue  # the rest of this instance's burst waits for the next tick
            claimed[slug] += 1
            task = EngineTask.stored(body)
            started = self._execute(task, now, "scheduler")
            after = None if started.task is None else started.task.rescheduled(now)
            self.tasks.record(slug, task.id, Started(after, started.run))
        return sum(claimed.values())

    def restart(self, now: datetime) -> None:
        """Intervals' next fire is recomputed from their last run; crons keep theirs."""
        for slug, body in self.ctx.store.all_tasks():
            task = EngineTask.stored(body)
            schedule = task.schedule
            if not (task.enabled and task.lastRunAt and isinstance(schedule, IntervalSchedule)):
                continue
            every = timedelta(milliseconds=schedule.everyMs)
            try:
                at = iso(next_after_restart(parse_iso(task.lastRunAt), every))
            except OverflowError:
                continue
            if at != task.nextRunAt:
                self.tasks.save(slug, task.model_copy(update={"nextRunAt": at}))

    def settle(self, now: datetime) -> int:
        return 0  # runs are recorded whole when they start

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
            return tasks.run_now(slug, task_id, self._execute)

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
