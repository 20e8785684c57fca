"""The "aitroop" platform: preset schedules (platforms/aitroop-schedules.txt).

/api/scheduled-tasks with snake_case fields; a schedule is a schedule_type and a preset-shaped
schedule_config, an action an action_type and its action_config. PUT replaces the writable
fields, and there is no per-task GET: clients list and pick. The server derives `cron_expr`,
a display label, exactly as the platform's table shows it.

Its scheduler (`fire`, driven by reconciler.sandbox.firing) follows rules.py: a tick about
every 60 s takes every enabled due task, in batches of 50, through the same executeTask as
run-now; an interval that drifted below 5 minutes is pushed forward and skipped.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from reconciler.platforms.aitroop.provider import MARKER
from reconciler.platforms.aitroop.rules import BATCH, MIN_INTERVAL, RULES, TICK, missing_connections
from reconciler.sandbox.clock import is_zone, iso, iso_or_none, next_cron, next_interval, parse_iso
from reconciler.sandbox.outcomes import FAIL_MARKER, missing_connects
from reconciler.sandbox.paging import Cursor, Limit, ListPage
from reconciler.sandbox.problems import SCHEDULE_PREFIX, ErrorBody, MessageStyle, reject
from reconciler.sandbox.service import STORED, Context, Started, StoredTask, TaskService

STYLE = MessageStyle(schedule_fields=frozenset({"schedule_type", "schedule_config", "timezone"}))
BASE = "/api/scheduled-tasks"
_UNIT = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1)}
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")

Text = Annotated[StrictStr, Field(min_length=1)]


def _hhmm(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise reject(f"{SCHEDULE_PREFIX}time must be HH:MM (00:00 to 23:59), got {value!r}")
    return value


Clock = Annotated[
    StrictStr,
    AfterValidator(_hhmm),
    WithJsonSchema({"type": "string", "pattern": f"^{_HHMM.pattern}$", "examples": ["09:00"]}),
]


class IntervalConfig(BaseModel):
    every: StrictInt = Field(gt=0, le=100_000)
    unit: Literal["minutes", "hours"]

    @model_validator(mode="after")
    def _minimum(self, info: ValidationInfo) -> Self:
        if info.context == STORED:
            return self  # drifted below by a direct edit: the scheduler pushes it and skips
        if self.every * _UNIT[self.unit] < MIN_INTERVAL:
            raise reject(f"{SCHEDULE_PREFIX}interval below 300 seconds")
        return self

    def label(self) -> str:
        # The platform's own words: "every 15 min", "every 1 hour".
        if self.unit == "minutes":
            return f"every {self.every} min"
        return f"every {self.every} hour" + ("" if self.every == 1 else "s")


class _Timed(BaseModel):
    time: Clock

    def _at(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


class DailyConfig(_Timed):
    def label(self) -> str:
        hour, minute = self._at()
        return f"{minute} {hour} * * *"


class WeeklyConfig(_Timed):
    days: list[Annotated[StrictInt, Field(ge=0, le=6)]] = Field(min_length=1, max_length=7)

    def label(self) -> str:
        hour, minute = self._at()
        return f"{minute} {hour} * * {','.join(str(d) for d in sorted(set(self.days)))}"


class MonthlyConfig(_Timed):
    day: StrictInt = Field(ge=1, le=28)

    def label(self) -> str:
        hour, minute = self._at()
        return f"{minute} {hour} {self.day} * *"


class SendMessage(BaseModel):
    prompt: Text


class RunApp(BaseModel):
    app_id: Text
    app_input: dict[str, Any] = Field(default_factory=dict)


ScheduleType = Literal["interval", "daily", "weekly", "monthly"]
ScheduleConfig = IntervalConfig | DailyConfig | WeeklyConfig | MonthlyConfig
ActionType = Literal["send_message", "run_app"]
ActionConfig = SendMessage | RunApp

_SCHEDULES: dict[str, type[BaseModel]] = {
    "interval": IntervalConfig,
    "daily": DailyConfig,
    "weekly": WeeklyConfig,
    "monthly": MonthlyConfig,
}
_ACTIONS: dict[str, type[BaseModel]] = {"send_message": SendMessage, "run_app": RunApp}


def _validate_pair(
    data: Any,
    kind_key: str,
    config_key: str,
    models: dict[str, type[BaseModel]],
    context: Any = None,
) -> Any:
    """Validate `config_key` as the model its sibling `kind_key` names.

    The config's shape depends on another field, which a pydantic union cannot express; the
    field itself stays a union so the OpenAPI document lists every shape.
    """
    if not isinstance(data, dict):
        return data
    kind = data.get(kind_key)
    model = models.get(kind) if isinstance(kind, str) else None
    config = data.get(config_key)
    if model is None or not isinstance(config, dict):
        return data  # the field validators report it
    try:
        validated = model.model_validate(config, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = STYLE.describe({**first, "loc": (config_key, *first["loc"])})
        raise reject(message) from None
    return {**data, config_key: validated}


class TaskWrite(BaseModel):
    """A POST or PUT body; PUT replaces every writable field (omitted ones take defaults)."""

    name: Text
    enabled: StrictBool = True
    schedule_type: ScheduleType
    schedule_config: ScheduleConfig
    timezone: StrictStr = "UTC"
    action_type: ActionType
    action_config: ActionConfig

    @model_validator(mode="before")
    @classmethod
    def _configs_match_types(cls, data: Any, info: ValidationInfo) -> Any:
        data = _validate_pair(data, "schedule_type", "schedule_config", _SCHEDULES, info.context)
        return _validate_pair(data, "action_type", "action_config", _ACTIONS, info.context)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_zone(value):
            raise reject(f"{SCHEDULE_PREFIX}unknown timezone {value!r}")
        return value


class AitroopTask(TaskWrite, StoredTask):
    cron_expr: str = ""
    session_id: str | None = None
    run_count: int = 0
    last_run_at: str | None = None
    next_run_at: str | None = None
    last_status: Literal["ok", "error", "queued"] | None = None
    last_error: str | None = None
    created_at: str
    updated_at: str

    @property
    def next_run(self) -> str | None:
        # The scheduler picks `enabled = true AND next_run_at <= NOW()`: a disabled task's
        # stays in its body, out of the index.
        return self.next_run_at if self.enabled else None

    def every(self) -> timedelta | None:
        config = self.schedule_config
        return config.every * _UNIT[config.unit] if isinstance(config, IntervalConfig) else None

    def names(self) -> list[str]:
        """What run faults match it by: id, name, schedctl key, and the prompt or app id."""
        title, marker = MARKER.detach(self.name)
        action = self.action_config
        payload = action.prompt if isinstance(action, SendMessage) else action.app_id
        return [self.id, title, marker.key if marker else "", payload]

    def rescheduled(self, now: datetime) -> Self:
        return self.model_copy(
            update={
                "cron_expr": self.schedule_config.label(),
                "next_run_at": iso_or_none(self._next_after(now)),
            }
        )

    def _next_after(self, now: datetime) -> datetime | None:
        config = self.schedule_config
        try:
            if isinstance(config, IntervalConfig):
                # Intervals count from the task's creation, whatever edits came since.
                every = config.every * _UNIT[config.unit]
                return next_interval(every, parse_iso(self.created_at), now)
            return next_cron(config.label(), self.timezone, now)
        except OverflowError:
            return None


class AitroopRun(BaseModel):
    id: str
    task_id: str
    triggered: Literal["manual", "scheduler"]
    status: Literal["ok", "error", "queued"]
    started_at: str
    completed_at: str | None
    duration_ms: int | None
    output: str | None
    error: str | None
    session_id: str | None


class AitroopApi:
    title = "aitroop schedules (schedctl sandbox)"
    style = STYLE

    tick = TICK

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tasks = TaskService(ctx, AitroopTask, AitroopRun, self._finished)

    def _execute(self, task: AitroopTask, now: datetime, trigger: str) -> Started[AitroopTask]:
        """executeTask: run-now and the scheduler both come here, indistinguishable downstream.

        A run that takes time (a duration drawn from the run faults) is `queued` until it ends;
        one whose app lacks Connects fails at once without starting."""
        action = task.action_config
        session = task.session_id
        drawn = self.ctx.draw(task.id, task.names(), task.run_count + 1)
        if isinstance(action, SendMessage):
            # The first send_message tick creates the task's session; later ones reuse it.
            if RULES.conversation("keep", app=False) == "keep":
                session = session or self.ctx.store.mint_id("sess_")
            missing = None
            output = f"sandbox: prompt received ({len(action.prompt)} chars)"
        else:
            lacking = missing_connects(self.ctx.runs, action.app_id)
            missing = missing_connections(
                lacking or (["sandbox"] if FAIL_MARKER in action.app_id else [])
            )
            output = f"sandbox: app {action.app_id} ran with {len(action.app_input)} inputs"
        final = AitroopRun(
            id=self.ctx.store.mint_id("run_"),
            task_id=task.id,
            triggered="manual" if trigger == "manual" else "scheduler",
            status="error" if missing or drawn.failed else "ok",
            started_at=iso(now),
            completed_at=iso(now if missing else now + drawn.duration),
            duration_ms=0 if missing else int(drawn.duration.total_seconds() * 1000),
            output=None if missing or drawn.failed else output,
            error=missing or drawn.error,
            session_id=session if isinstance(action, SendMessage) else None,
        )
        queued = not missing and drawn.duration > timedelta(0)
        run = final
        if queued:
            run = final.model_copy(
                update={
                    "status": "queued",
                    "completed_at": None,
                    "duration_ms": None,
                    "output": None,
                    "error": None,
                }
            )
        # No retries and no auto-disable here: a failure waits for the next tick.
        updated = task.model_copy(
            update={
                "run_count": task.run_count + 1,
                "last_run_at": run.started_at,
                "last_status": run.status,
                "last_error": task.last_error if queued else run.error,
                "session_id": session,
            }
        )
        if queued:
            return Started(updated, run, final, now + drawn.duration)
        return Started(updated, run)

    @staticmethod
    def _finished(task: AitroopTask, final: BaseModel) -> AitroopTask:
        assert isinstance(final, AitroopRun)
        return task.model_copy(update={"last_status": final.status, "last_error": final.error})

    # -- the scheduler (reconciler.sandbox.firing.Firing) ---------------------------------------

    def fire(self, now: datetime) -> int:
        due = self.ctx.store.due_everywhere(iso(now))
        started = 0
        for first in range(0, len(due), BATCH):
            for scope, body in due[first : first + BATCH]:
                task = AitroopTask.stored(body)
                if RULES.below_minimum(task.every()) and task.next_run_at is not None:
                    # Drifted below the minimum (a direct edit): pushed forward, not run.
                    pushed = parse_iso(task.next_run_at) + RULES.push_forward
                    self.tasks.save(scope, task.model_copy(update={"next_run_at": iso(pushed)}))
                    continue
                run = self._execute(task, now, "scheduler")
                after = None if run.task is None else run.task.rescheduled(now)
                self.tasks.record(scope, task.id, Started(after, run.run, run.final, run.done_at))
                started += 1
        return started

    def restart(self, now: datetime) -> None:
        pass  # a passed next_run_at is simply due: the first tick takes it

    def settle(self, now: datetime) -> int:
        return self.tasks.settle(now)

    def router(self) -> APIRouter:
        tasks = self.tasks
        router = APIRouter(tags=["scheduled-tasks"])
        not_found: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}

        @router.get(BASE, response_model=list[AitroopTask] | ListPage[AitroopTask])
        async def list_tasks(cursor: Cursor = None, limit: Limit = None) -> Response:
            return tasks.list("", cursor, limit)

        @router.post(BASE, status_code=201, response_model=AitroopTask)
        async def create_task(body: TaskWrite) -> Response:
            def build(task_id: str, now: datetime) -> AitroopTask:
                stamp = iso(now)
                return AitroopTask(id=task_id, created_at=stamp, updated_at=stamp, **dict(body))

            return tasks.create("", "task_", build)

        @router.put(BASE + "/{task_id}", response_model=AitroopTask, responses=not_found)
        async def replace_task(task_id: str, body: TaskWrite) -> Response:
            def edit(task: AitroopTask, now: datetime) -> AitroopTask:
                return task.model_copy(update={**dict(body), "updated_at": iso(now)})

            return tasks.change("", task_id, edit)

        @router.delete(
            BASE + "/{task_id}", status_code=204, response_class=Response, responses=not_found
        )
        async def delete_task(task_id: str) -> Response:
            return tasks.delete("", task_id)

        @router.post(BASE + "/{task_id}/run", response_model=AitroopRun, responses=not_found)
        async def run_task(task_id: str) -> Response:
            return tasks.run_now("", task_id, self._execute)

        @router.get(
            BASE + "/{task_id}/runs",
            response_model=list[AitroopRun] | ListPage[AitroopRun],
            responses=not_found,
        )
        async def task_runs(task_id: str, cursor: Cursor = None, limit: Limit = None) -> Response:
            return tasks.runs("", task_id, cursor, limit)

        return router
