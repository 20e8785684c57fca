"""tinycron's emulated API, built from the shared server's parts (store, paging, errors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StrictBool, StrictStr, model_validator
from typing_extensions import Self

from reconciler.sandbox.paging import Cursor, Limit, ListPage
from reconciler.sandbox.problems import SCHEDULE_PREFIX, ErrorBody, MessageStyle, reject
from reconciler.sandbox.service import SandboxState, StoredTask, TaskService
from reconciler.sandbox.wire import check_cron, is_zone, iso, iso_or_none, next_cron

BASE = "/api/jobs"


def _check(cron: str | None, tz: str | None) -> None:
    if cron is not None:
        why = "needs 5 fields" if len(cron.split()) != 5 else check_cron(cron)
        if why:
            raise reject(f"{SCHEDULE_PREFIX}cron {cron!r}: {why}")
    if tz is not None and not is_zone(tz):
        raise reject(f"{SCHEDULE_PREFIX}unknown timezone {tz!r}")


class JobWrite(BaseModel):
    label: StrictStr = Field(min_length=1)
    cron: StrictStr
    tz: StrictStr = "UTC"
    prompt: StrictStr = Field(min_length=1)
    active: StrictBool = True

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _check(self.cron, self.tz)
        return self


class JobPatch(BaseModel):
    label: StrictStr | None = Field(default=None, min_length=1)
    cron: StrictStr | None = None
    tz: StrictStr | None = None
    prompt: StrictStr | None = Field(default=None, min_length=1)
    active: StrictBool | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _check(self.cron, self.tz)
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if getattr(self, k) is not None}


class Job(JobWrite, StoredTask):
    created: str
    next: str | None = None
    last: Literal["ok", "error"] | None = None
    runs: int = 0

    @property
    def next_run(self) -> str | None:
        return self.next

    def rescheduled(self, now: datetime) -> Self:
        fire = next_cron(self.cron, self.tz, now) if self.active else None
        return self.model_copy(update={"next": iso_or_none(fire)})


class JobRun(BaseModel):
    id: str
    job_id: str
    status: Literal["ok", "error"]
    started_at: str
    output: str | None
    error: str | None


class TinycronApi:
    title = "tinycron jobs (schedctl sandbox)"
    style = MessageStyle(schedule_fields=frozenset({"cron", "tz"}))

    def __init__(self, ctx: SandboxState) -> None:
        self.ctx = ctx
        self.tasks = TaskService(ctx, Job)

    def _execute(self, job: Job, now: datetime) -> tuple[Job, JobRun]:
        outcome = self.ctx.execute(job.prompt, ok_output="sandbox: done", failure="sandbox: failed")
        run = JobRun(
            id=self.ctx.store.mint_id("run_"),
            job_id=job.id,
            status=outcome.status,
            started_at=iso(outcome.started),
            output=outcome.output,
            error=outcome.error,
        )
        return job.model_copy(update={"runs": job.runs + 1, "last": outcome.status}), run

    def router(self) -> APIRouter:
        tasks = self.tasks
        router = APIRouter(tags=["jobs"])
        not_found: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}

        @router.get(BASE, response_model=list[Job] | ListPage[Job])
        async def list_jobs(cursor: Cursor = None, limit: Limit = None) -> Response:
            return tasks.list("", cursor, limit)

        @router.post(BASE, status_code=201, response_model=Job)
        async def create_job(body: JobWrite) -> Response:
            def build(job_id: str, now: datetime) -> Job:
                return Job(id=job_id, created=iso(now), **dict(body))

            return tasks.create("", "job_", build)

        @router.patch(BASE + "/{job_id}", response_model=Job, responses=not_found)
        async def update_job(job_id: str, body: JobPatch) -> Response:
            return tasks.change("", job_id, lambda job, now: job.model_copy(update=body.changes()))

        @router.delete(
            BASE + "/{job_id}", status_code=204, response_class=Response, responses=not_found
        )
        async def delete_job(job_id: str) -> Response:
            return tasks.delete("", job_id)

        @router.post(BASE + "/{job_id}/run", response_model=JobRun, responses=not_found)
        async def run_job(job_id: str) -> Response:
            return tasks.run("", job_id, self._execute)

        @router.get(BASE + "/{job_id}/runs", response_model=list[JobRun] | ListPage[JobRun])
        async def job_runs(job_id: str, cursor: Cursor = None, limit: Limit = None) -> Response:
            return tasks.runs("", job_id, cursor, limit)

        return router
