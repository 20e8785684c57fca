"""Fixtures for audit tests: a sandbox on loopback whose clock a test sets, a schedules repo,
and run rows written into the sandbox's store as its scheduler would have recorded them.

The audit then reads them back over HTTP, through the run-log endpoints, as from a platform.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from tests.reconcile.conftest import Repo

UTC = timezone.utc


class Clock:
    """The sandbox's clock: a test moves it (tasks created a week ago, runs stamped then)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["engine", "aitroop"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC) - timedelta(days=8))


@pytest.fixture
def sandbox(platform: str, clock: Clock) -> Iterator[RunningSandbox]:
    opts = SandboxOptions(platform=platform, seed=7, retry_after=0, clock=clock)
    with running_sandbox(opts) as running:
        yield running


@pytest.fixture
def repo(tmp_path: Path, sandbox: RunningSandbox, platform: str) -> Repo:
    return Repo(tmp_path, sandbox.url, platform)


def scope(platform: str) -> str:
    return "acme" if platform == "engine" else ""


def task_ids(sandbox: RunningSandbox, platform: str) -> dict[str, str]:
    """Live task id by schedule key (from the marker), read from the store."""
    store = sandbox.ctx.store
    out = {}
    for body in store.list_tasks(scope(platform), None, None).bodies:
        task = json.loads(body)
        text = task.get("description") or task.get("name") or ""
        key = text.rsplit("/", 1)[-1].rstrip("]")
        out[key] = task["id"]
    return out


def run_body(
    platform: str,
    run_id: str,
    task_id: str,
    started: datetime,
    *,
    trigger: str = "scheduler",
    status: str = "ok",
    error: str | None = None,
    duration_ms: int = 1_200,
    tokens: int | None = 900,
) -> dict[str, Any]:
    done = started + timedelta(milliseconds=duration_ms)
    stamp = started.isoformat().replace("+00:00", "Z")
    end = done.isoformat().replace("+00:00", "Z")
    if platform == "engine":
        return {
            "runId": run_id, "taskId": task_id, "triggerType": trigger, "status": status,
            "startedAt": stamp, "completedAt": end, "durationMs": duration_ms,
            "output": None if error else "ok", "error": error, "conversationId": "conv_1",
            "tokenUsage": None if tokens is None else {"input": tokens - 100, "output": 100},
        }  # fmt: skip
    return {
        "id": run_id, "task_id": task_id, "triggered": trigger, "status": status,
        "started_at": stamp, "completed_at": end, "duration_ms": duration_ms,
        "output": None if error else "ok", "error": error, "session_id": None,
        "token_usage": tokens,
    }  # fmt: skip


def record(
    sandbox: RunningSandbox, platform: str, task_id: str, bodies: Iterable[dict[str, Any] | str]
) -> None:
    """Store run rows (oldest first, as a scheduler records them) for one task."""
    store = sandbox.ctx.store
    where = scope(platform)
    for body in bodies:
        task = store.get_task(where, task_id)
        assert task is not None
        state = json.loads(task)
        next_run = state.get("nextRunAt", state.get("next_run_at"))
        text = body if isinstance(body, str) else json.dumps(body)
        store.record_run(where, task_id, text, task, next_run)


def daily_slots(hour: int, minute: int, zone: str, days: int) -> list[datetime]:
    """The last `days` daily slots at HH:MM in `zone` that are at least 10 minutes past."""
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo(zone))
    out = []
    for back in range(days + 2):
        day = (local - timedelta(days=back)).date()
        slot = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
        if slot.astimezone(UTC) <= now - timedelta(minutes=10):
            out.append(slot.astimezone(UTC))
    return sorted(out)[-days:]
