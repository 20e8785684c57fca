"""The engine sandbox over real HTTP: every endpoint, the fields, validation, runs."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.sandbox.server import RunningSandbox
from tests.sandbox.fixtures import SandboxFactory

from .helpers import ENGINE, FakeClock, client, engine_task, utc

SERVER_FIELDS = {
    "id",
    "createdAt",
    "updatedAt",
    "nextRunAt",
    "lastRunAt",
    "lastStatus",
    "lastError",
    "consecutiveErrors",
    "runCount",
    "conversationId",
}


def test_create_returns_the_task_with_defaults_and_server_fields(
    engine_sandbox: RunningSandbox,
) -> None:
    with client(engine_sandbox) as c:
        r = c.post(ENGINE, json=engine_task(description="Summarise."))
    assert r.status_code == 201
    task = r.json()
    assert task["id"].startswith("st_")
    assert task == {
        "id": task["id"],
        "name": "Morning digest",
        "description": "Summarise.",
        "prompt": "Summarise the last day.",
        "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Rome"},
        "enabled": True,
        "outboundChannel": None,
        "outboundTarget": None,
        "keepHistory": True,
        "deleteAfterRun": False,
        "maxRetries": 3,
        "createdAt": task["createdAt"],
        "updatedAt": task["createdAt"],
        "nextRunAt": task["nextRunAt"],
        "lastRunAt": None,
        "lastStatus": None,
        "lastError": None,
        "consecutiveErrors": 0,
        "runCount": 0,
        "conversationId": None,
    }
    assert task["createdAt"].endswith("Z") and task["nextRunAt"].endswith("Z")


def test_list_get_patch_delete(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        first = c.post(
            ENGINE, json=engine_task(name="a", outboundChannel="slack", outboundTarget="C1")
        ).json()
        second = c.post(ENGINE, json=engine_task(name="b")).json()
        assert [t["name"] for t in c.get(ENGINE).json()] == ["a", "b"]
        assert c.get(f"{ENGINE}/{first['id']}").json() == first

        r = c.patch(f"{ENGINE}/{first['id']}", json={"name": "a2", "outboundChannel": None})
        assert r.status_code == 200
        patched = r.json()
        assert patched["name"] == "a2" and patched["outboundChannel"] is None
        # Only the given fields change.
        assert patched["prompt"] == first["prompt"] and patched["outboundTarget"] == "C1"
        assert patched["schedule"] == first["schedule"]
        assert patched["createdAt"] == first["createdAt"]
        assert c.get(f"{ENGINE}/{first['id']}").json() == patched

        # A schedule is replaced whole: no keys survive from the old one.
        r = c.patch(
            f"{ENGINE}/{first['id']}",
            json={"schedule": {"type": "cron", "expression": "*/30 * * * *"}},
        )
        assert r.json()["schedule"] == {"type": "cron", "expression": "*/30 * * * *"}

        assert c.delete(f"{ENGINE}/{first['id']}").status_code == 204
        assert [t["id"] for t in c.get(ENGINE).json()] == [second["id"]]
        gone = c.get(f"{ENGINE}/{first['id']}")
        assert gone.status_code == 404 and gone.json() == {
            "error": "task not found",
            "message": "task not found",
        }
        assert c.delete(f"{ENGINE}/{first['id']}").status_code == 404
        assert c.patch(f"{ENGINE}/{first['id']}", json={"name": "x"}).status_code == 404
        assert c.post(f"{ENGINE}/{first['id']}/run").status_code == 404
        assert c.get(f"{ENGINE}/{first['id']}/runs").status_code == 404


def test_instances_are_separate_and_spring_into_being(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        assert c.get("/api/instances/fresh/scheduled-tasks").json() == []
        task = c.post("/api/instances/one/scheduled-tasks", json=engine_task()).json()
        assert c.get("/api/instances/two/scheduled-tasks").json() == []
        assert c.get(f"/api/instances/two/scheduled-tasks/{task['id']}").status_code == 404
        assert c.delete(f"/api/instances/two/scheduled-tasks/{task['id']}").status_code == 404
        assert len(c.get("/api/instances/one/scheduled-tasks").json()) == 1


def test_read_only_fields_in_bodies_are_ignored(engine_sandbox: RunningSandbox) -> None:
    junk = {
        "id": "st_mine",
        "runCount": 99,
        "nextRunAt": "2000-01-01T00:00:00Z",
        "createdAt": "x",
        "lastStatus": "error",
    }
    with client(engine_sandbox) as c:
        r = c.post(ENGINE, json=engine_task(**junk))
        assert r.status_code == 201
        task = r.json()
        assert task["id"] != "st_mine" and task["runCount"] == 0 and task["lastStatus"] is None
        r = c.patch(f"{ENGINE}/{task['id']}", json=junk)
        assert r.status_code == 200
        assert {k: r.json()[k] for k in ("id", "runCount", "createdAt")} == {
            "id": task["id"],
            "runCount": 0,
            "createdAt": task["createdAt"],
        }


@pytest.mark.parametrize(
    ("schedule", "next_run"),
    [
        # The day Rome moves to summer time: 09:00 is 07:00Z, the day before it was 08:00Z.
        (
            {"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Rome"},
            "2026-03-29T07:00:00.000Z",
        ),
        ({"type": "cron", "expression": "0 9 * * *"}, "2026-03-29T09:00:00.000Z"),
        ({"type": "interval", "everyMs": 3_600_000}, "2026-03-28T13:00:00.000Z"),  # from createdAt
        (
            {"type": "interval", "everyMs": 90 * 60_000, "anchorAt": "2026-01-01T00:00:00Z"},
            "2026-03-28T13:30:00.000Z",
        ),
        ({"type": "one-shot", "runAt": "2026-04-01T10:00:00+02:00"}, "2026-04-01T08:00:00.000Z"),
        ({"type": "one-shot", "runAt": "2026-03-01T10:00:00Z"}, None),  # in the past
    ],
)
def test_next_run_is_computed_in_the_zone(
    sandbox_factory: SandboxFactory, schedule: dict[str, Any], next_run: str | None
) -> None:
    sandbox = sandbox_factory("engine", clock=FakeClock(utc(2026, 3, 28, 12, 0)))
    with client(sandbox) as c:
        task = c.post(ENGINE, json=engine_task(schedule=schedule)).json()
    assert task["nextRunAt"] == next_run
    assert task["schedule"] == schedule  # echoed as sent


def test_next_run_follows_enabled_and_time(sandbox_factory: SandboxFactory) -> None:
    clock = FakeClock(utc(2026, 3, 28, 12, 0))
    sandbox = sandbox_factory("engine", clock=clock)
    with client(sandbox) as c:
        task = c.post(ENGINE, json=engine_task(enabled=False)).json()
        assert task["nextRunAt"] is None  # disabled tasks never tick
        task = c.patch(f"{ENGINE}/{task['id']}", json={"enabled": True}).json()
        assert task["nextRunAt"] == "2026-03-29T07:00:00.000Z"
        # Once that time has passed, reads show the following slot, as the scheduler would.
        clock.advance(days=1)
        assert c.get(ENGINE).json()[0]["nextRunAt"] == "2026-03-30T07:00:00.000Z"
        clock.advance(days=1)
        assert c.get(f"{ENGINE}/{task['id']}").json()["nextRunAt"] == "2026-03-31T07:00:00.000Z"


def test_run_now_records_a_manual_run(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        task = c.post(ENGINE, json=engine_task()).json()
        r = c.post(f"{ENGINE}/{task['id']}/run")
        assert r.status_code == 200
        run = r.json()
        assert run == {
            "runId": run["runId"],
            "taskId": task["id"],
            "triggerType": "manual",
            "status": "ok",
            "startedAt": run["startedAt"],
            "completedAt": run["completedAt"],
            "durationMs": run["durationMs"],
            "output": "sandbox: prompt received (23 chars)",
            "error": None,
            "conversationId": run["conversationId"],
            # No run faults: no tools called, no tokens drawn.
            "toolCalls": [],
            "tokenUsage": None,
        }
        after = c.get(f"{ENGINE}/{task['id']}").json()
        assert after["runCount"] == 1 and after["lastStatus"] == "ok" and after["lastError"] is None
        assert after["lastRunAt"] == run["startedAt"]
        assert after["conversationId"] == run["conversationId"]
        assert after["updatedAt"] == task["updatedAt"]  # a run is not an edit


def test_conversation_kept_or_fresh_per_run(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        kept = c.post(ENGINE, json=engine_task(keepHistory=True)).json()["id"]
        fresh = c.post(ENGINE, json=engine_task(keepHistory=False)).json()["id"]
        kept_ids = {c.post(f"{ENGINE}/{kept}/run").json()["conversationId"] for _ in range(3)}
        fresh_ids = {c.post(f"{ENGINE}/{fresh}/run").json()["conversationId"] for _ in range(3)}
    assert len(kept_ids) == 1 and len(fresh_ids) == 3


def test_failures_count_up_and_auto_disable(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        task = c.post(ENGINE, json=engine_task(prompt="boom sandbox:error", maxRetries=2)).json()
        run = c.post(f"{ENGINE}/{task['id']}/run").json()
        assert run["status"] == "error" and run["error"] == "sandbox: simulated failure"
        assert run["output"] is None
        state = c.get(f"{ENGINE}/{task['id']}").json()
        assert (state["consecutiveErrors"], state["enabled"], state["lastStatus"]) == (
            1,
            True,
            "error",
        )
        assert state["lastError"] == "sandbox: simulated failure"
        c.post(f"{ENGINE}/{task['id']}/run")
        state = c.get(f"{ENGINE}/{task['id']}").json()
        assert (state["consecutiveErrors"], state["enabled"], state["nextRunAt"]) == (
            2,
            False,
            None,
        )
        # A success resets the count (the task stays disabled until someone enables it).
        c.patch(f"{ENGINE}/{task['id']}", json={"prompt": "fine now"})
        c.post(f"{ENGINE}/{task['id']}/run")
        state = c.get(f"{ENGINE}/{task['id']}").json()
        assert (state["consecutiveErrors"], state["lastStatus"], state["lastError"]) == (
            0,
            "ok",
            None,
        )
        assert state["runCount"] == 3


def test_one_shot_with_delete_after_run_retires_after_success(
    engine_sandbox: RunningSandbox,
) -> None:
    schedule = {"type": "one-shot", "runAt": "2099-01-01T00:00:00Z"}
    with client(engine_sandbox) as c:
        task = c.post(ENGINE, json=engine_task(schedule=schedule, deleteAfterRun=True)).json()
        assert c.post(f"{ENGINE}/{task['id']}/run").json()["status"] == "ok"
        assert c.get(f"{ENGINE}/{task['id']}").status_code == 404
        # Without deleteAfterRun, or on a cron, it stays.
        kept = c.post(ENGINE, json=engine_task(deleteAfterRun=True)).json()
        c.post(f"{ENGINE}/{kept['id']}/run")
        assert c.get(f"{ENGINE}/{kept['id']}").status_code == 200


def test_run_logs_most_recent_first_and_global_log(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        a = c.post(ENGINE, json=engine_task(name="a")).json()["id"]
        b = c.post(ENGINE, json=engine_task(name="b")).json()["id"]
        runs = [c.post(f"{ENGINE}/{t}/run").json()["runId"] for t in (a, b, a)]
        assert [r["runId"] for r in c.get(f"{ENGINE}/{a}/runs").json()] == [runs[2], runs[0]]
        # /runs is the instance's log, not a task id.
        log = c.get(f"{ENGINE}/runs").json()
        assert [r["runId"] for r in log] == runs[::-1]
        assert [r["taskId"] for r in log] == [a, b, a]
        assert c.get("/api/instances/other/scheduled-tasks/runs").json() == []
        # Deleting a task cascades to its runs.
        c.delete(f"{ENGINE}/{a}")
        assert [r["runId"] for r in c.get(f"{ENGINE}/runs").json()] == [runs[1]]


VALID_CRON = {"type": "cron", "expression": "0 9 * * *"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "p", "schedule": VALID_CRON}, "missing required field 'name'"),
        ({"name": "n", "schedule": VALID_CRON}, "missing required field 'prompt'"),
        ({"name": "n", "prompt": "p"}, "missing required field 'schedule'"),
        (engine_task(name=""), "name: String should have at least 1 character"),
        (engine_task(name=5), "name: Input should be a valid string"),
        (
            engine_task(schedule={"type": "cron", "expression": "0 0 9 * * *"}),
            "invalid schedule: cron expression must have 5 fields "
            "(minute hour day-of-month month day-of-week), got 6",
        ),
        (
            engine_task(schedule={"type": "cron", "expression": "@daily"}),
            "invalid schedule: cron expression must have 5 fields "
            "(minute hour day-of-month month day-of-week), got 1",
        ),
        (
            engine_task(schedule={**VALID_CRON, "timezone": "Mars/Olympus"}),
            "invalid schedule: unknown timezone 'Mars/Olympus'",
        ),
        (
            engine_task(schedule={"type": "interval", "everyMs": 0}),
            "invalid schedule: schedule.everyMs: Input should be greater than 0",
        ),
        (
            engine_task(schedule={"type": "interval", "everyMs": "60000"}),
            "invalid schedule: schedule.everyMs: Input should be a valid integer",
        ),
        (
            engine_task(schedule={"type": "interval", "everyMs": 60000, "anchorAt": "noon"}),
            "invalid schedule: anchorAt is not an ISO 8601 timestamp: 'noon'",
        ),
        (
            engine_task(schedule={"type": "one-shot", "runAt": "tomorrow"}),
            "invalid schedule: runAt is not an ISO 8601 timestamp: 'tomorrow'",
        ),
        (
            engine_task(schedule={"type": "one-shot"}),
            "invalid schedule: missing required field 'schedule.runAt'",
        ),
        (
            engine_task(schedule={"type": "weekly"}),
            "invalid schedule: unknown schedule type 'weekly': expected 'cron', 'interval', 'one-shot'",
        ),
        (
            engine_task(schedule={"expression": "0 9 * * *"}),
            "invalid schedule: missing required field 'schedule.type'",
        ),
        (
            engine_task(schedule="0 9 * * *"),
            "invalid schedule: schedule: Input should be a valid dictionary or object to extract fields from",
        ),
        (
            engine_task(outboundChannel="fax"),
            "unknown outboundChannel 'fax': Input should be 'slack', 'telegram' or 'whatsapp'",
        ),
        (engine_task(maxRetries=-1), "maxRetries: Input should be greater than or equal to 0"),
        (engine_task(enabled="yes"), "enabled: Input should be a valid boolean"),
    ],
)
def test_create_validation(
    engine_sandbox: RunningSandbox, body: dict[str, Any], message: str
) -> None:
    with client(engine_sandbox) as c:
        r = c.post(ENGINE, json=body)
        assert r.status_code == 422
        assert r.json()["error"] == message and r.json()["message"] == message
        assert c.get(ENGINE).json() == []


def test_cron_that_does_not_parse(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        r = c.post(ENGINE, json=engine_task(schedule={"type": "cron", "expression": "61 * * * *"}))
    assert r.status_code == 422
    assert r.json()["message"].startswith("invalid schedule: cron expression '61 * * * *': ")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"name": None}, "name must not be null"),
        ({"schedule": None}, "schedule must not be null"),
        ({"enabled": None}, "enabled: Input should be a valid boolean"),
        (
            {"schedule": {"type": "cron", "expression": "* * * * * *"}},
            "invalid schedule: cron expression must have 5 fields",
        ),
        ({"maxRetries": -5}, "maxRetries: Input should be greater than or equal to 0"),
    ],
)
def test_patch_validation_changes_nothing(
    engine_sandbox: RunningSandbox, patch: dict[str, Any], message: str
) -> None:
    with client(engine_sandbox) as c:
        task = c.post(ENGINE, json=engine_task()).json()
        r = c.patch(f"{ENGINE}/{task['id']}", json=patch)
        assert r.status_code == 422
        assert r.json()["message"].startswith(message)
        assert c.get(f"{ENGINE}/{task['id']}").json() == task


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b'{"name": ', {"content-type": "application/json"}, "invalid JSON body: Expecting value"),
        (b"[1, 2]", {"content-type": "application/json"}, "request body must be a JSON object"),
        (b"", {"content-type": "application/json"}, "missing request body"),
        (
            b'{"name": "n"}',
            {"content-type": "text/plain"},
            "request body must be JSON, sent with Content-Type: application/json (got 'text/plain')",
        ),
    ],
)
def test_body_parse_errors_have_the_same_shape(
    engine_sandbox: RunningSandbox, content: bytes, headers: dict[str, str], message: str
) -> None:
    with client(engine_sandbox) as c:
        r = c.post(ENGINE, content=content, headers=headers)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == body["message"] == message
    assert isinstance(body["detail"], list) and body["detail"]


def test_unknown_routes_and_methods_answer_in_the_error_shape(
    engine_sandbox: RunningSandbox,
) -> None:
    with client(engine_sandbox) as c:
        r = c.get("/api/nothing-here")
        assert r.status_code == 404 and r.json() == {"error": "Not Found", "message": "Not Found"}
        r = c.put(f"{ENGINE}/st_x", json={})
        assert r.status_code == 405 and r.json()["message"] == "Method Not Allowed"


def test_bearer_token(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory("engine", token="s3cret")
    with client(sandbox) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = c.get(ENGINE, headers=headers)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        # Authentication comes before the body is even parsed.
        r = c.post(ENGINE, content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 401
        r = c.post(ENGINE, json=engine_task(), headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 201
        assert c.get(ENGINE, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # The document stays readable, and says how to authenticate.
        spec = c.get("/openapi.json").json()
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
