"""The aitroop sandbox over real HTTP: endpoints, the cron_expr labels, validation, runs."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.sandbox.server import RunningSandbox
from tests.sandbox.fixtures import SandboxFactory

from .helpers import AITROOP, FakeClock, aitroop_task, client, utc


def test_create_returns_the_documented_shape(aitroop_sandbox: RunningSandbox) -> None:
    with client(aitroop_sandbox) as c:
        r = c.post(AITROOP, json=aitroop_task())
    assert r.status_code == 201
    task = r.json()
    assert task["id"].startswith("task_")
    assert task == {
        "id": task["id"],
        "name": "Weekly report",
        "enabled": True,
        "schedule_type": "daily",
        "schedule_config": {"time": "09:00"},
        "cron_expr": "0 9 * * *",
        "timezone": "UTC",
        "action_type": "send_message",
        "action_config": {"prompt": "Summarize my GitHub activity since yesterday."},
        "session_id": None,
        "run_count": 0,
        "last_run_at": None,
        "next_run_at": task["next_run_at"],
        "last_status": None,
        "last_error": None,
        "created_at": task["created_at"],
        "updated_at": task["created_at"],
    }


def test_list_put_delete_and_no_get_one(aitroop_sandbox: RunningSandbox) -> None:
    with client(aitroop_sandbox) as c:
        a = c.post(
            AITROOP, json=aitroop_task(name="a", enabled=False, timezone="Europe/Rome")
        ).json()
        b = c.post(AITROOP, json=aitroop_task(name="b")).json()
        assert [t["id"] for t in c.get(AITROOP).json()] == [a["id"], b["id"]]
        # No per-task GET: list everything and pick.
        assert c.get(f"{AITROOP}/{a['id']}").status_code in (404, 405)

        # PUT replaces every writable field: what is left out takes its default again.
        new = aitroop_task(
            name="a2",
            schedule_type="weekly",
            schedule_config={"time": "08:30", "days": [1, 3, 5]},
            action_type="run_app",
            action_config={"app_id": "app_123", "app_input": {"company_name": "Stripe"}},
        )
        r = c.put(f"{AITROOP}/{a['id']}", json=new)
        assert r.status_code == 200
        put = r.json()
        assert (put["id"], put["created_at"]) == (a["id"], a["created_at"])
        assert (put["enabled"], put["timezone"]) == (True, "UTC")
        assert put["cron_expr"] == "30 8 * * 1,3,5"
        assert put["action_config"] == {
            "app_id": "app_123",
            "app_input": {"company_name": "Stripe"},
        }
        assert c.get(AITROOP).json()[0] == put  # keeps its place in the list

        assert c.delete(f"{AITROOP}/{a['id']}").status_code == 204
        assert [t["id"] for t in c.get(AITROOP).json()] == [b["id"]]
        for method in ("PUT", "DELETE"):
            r = c.request(method, f"{AITROOP}/{a['id']}", json=new if method == "PUT" else None)
            assert r.status_code == 404 and r.json()["error"] == "task not found"


@pytest.mark.parametrize(
    ("schedule_type", "config", "label"),
    [
        # The platform document's table, row by row.
        ("interval", {"every": 15, "unit": "minutes"}, "every 15 min"),
        ("interval", {"every": 1, "unit": "hours"}, "every 1 hour"),
        ("daily", {"time": "09:00"}, "0 9 * * *"),
        ("weekly", {"time": "08:30", "days": [1, 3, 5]}, "30 8 * * 1,3,5"),
        ("weekly", {"time": "09:00", "days": [1]}, "0 9 * * 1"),
        ("monthly", {"time": "09:00", "day": 1}, "0 9 1 * *"),
        # Beyond the table.
        ("interval", {"every": 5, "unit": "minutes"}, "every 5 min"),
        ("interval", {"every": 2, "unit": "hours"}, "every 2 hours"),
        ("weekly", {"time": "23:59", "days": [5, 1, 1]}, "59 23 * * 1,5"),
        ("monthly", {"time": "00:00", "day": 28}, "0 0 28 * *"),
    ],
)
def test_cron_expr_label(
    aitroop_sandbox: RunningSandbox, schedule_type: str, config: dict[str, Any], label: str
) -> None:
    with client(aitroop_sandbox) as c:
        task = c.post(
            AITROOP, json=aitroop_task(schedule_type=schedule_type, schedule_config=config)
        ).json()
    assert task["cron_expr"] == label
    assert task["schedule_config"] == config


@pytest.mark.parametrize(
    ("schedule_type", "config", "zone", "next_run"),
    [
        # The day the US moves to summer time: 09:00 Pacific is 16:00Z, the day before 17:00Z.
        ("daily", {"time": "09:00"}, "America/Los_Angeles", "2026-03-08T16:00:00.000Z"),
        ("daily", {"time": "09:00"}, "UTC", "2026-03-08T09:00:00.000Z"),
        ("weekly", {"time": "08:30", "days": [1, 3, 5]}, "UTC", "2026-03-09T08:30:00.000Z"),
        ("monthly", {"time": "09:00", "day": 1}, "Europe/Rome", "2026-04-01T07:00:00.000Z"),
        # Intervals count from creation time.
        ("interval", {"every": 15, "unit": "minutes"}, "UTC", "2026-03-07T20:15:00.000Z"),
        ("interval", {"every": 2, "unit": "hours"}, "Asia/Tokyo", "2026-03-07T22:00:00.000Z"),
    ],
)
def test_next_run_at_uses_the_zone(
    sandbox_factory: SandboxFactory,
    schedule_type: str,
    config: dict[str, Any],
    zone: str,
    next_run: str,
) -> None:
    sandbox = sandbox_factory("aitroop", clock=FakeClock(utc(2026, 3, 7, 20, 0)))
    body = aitroop_task(schedule_type=schedule_type, schedule_config=config, timezone=zone)
    with client(sandbox) as c:
        assert c.post(AITROOP, json=body).json()["next_run_at"] == next_run


def test_interval_keeps_its_creation_anchor_across_put(sandbox_factory: SandboxFactory) -> None:
    clock = FakeClock(utc(2026, 3, 7, 20, 0))
    sandbox = sandbox_factory("aitroop", clock=clock)
    every_hour = aitroop_task(
        schedule_type="interval", schedule_config={"every": 1, "unit": "hours"}
    )
    with client(sandbox) as c:
        task = c.post(AITROOP, json=every_hour).json()
        clock.advance(minutes=90)
        put = c.put(f"{AITROOP}/{task['id']}", json=every_hour).json()
        assert put["next_run_at"] == "2026-03-07T22:00:00.000Z"
        # And a passed next_run_at moves on when read.
        clock.advance(hours=1)
        assert c.get(AITROOP).json()[0]["next_run_at"] == "2026-03-07T23:00:00.000Z"


def test_send_message_runs_keep_one_session(aitroop_sandbox: RunningSandbox) -> None:
    with client(aitroop_sandbox) as c:
        task = c.post(AITROOP, json=aitroop_task()).json()
        first = c.post(f"{AITROOP}/{task['id']}/run")
        assert first.status_code == 200
        run = first.json()
        assert run == {
            "id": run["id"],
            "task_id": task["id"],
            "triggered": "manual",
            "status": "ok",
            "started_at": run["started_at"],
            "completed_at": run["completed_at"],
            "duration_ms": run["duration_ms"],
            "output": "sandbox: prompt received (45 chars)",
            "error": None,
            "session_id": run["session_id"],
        }
        session = run["session_id"]
        assert session.startswith("sess_")
        second = c.post(f"{AITROOP}/{task['id']}/run").json()
        assert second["session_id"] == session
        state = c.get(AITROOP).json()[0]
        assert (state["session_id"], state["run_count"], state["last_status"]) == (session, 2, "ok")
        assert state["last_run_at"] == second["started_at"]
        runs = c.get(f"{AITROOP}/{task['id']}/runs").json()
        assert [r["id"] for r in runs] == [second["id"], run["id"]]  # most recent first


def test_run_app_and_its_failures(aitroop_sandbox: RunningSandbox) -> None:
    app = aitroop_task(
        action_type="run_app", action_config={"app_id": "app_1", "app_input": {"x": 1}}
    )
    broken = aitroop_task(action_type="run_app", action_config={"app_id": "app_sandbox:error"})
    with client(aitroop_sandbox) as c:
        ok = c.post(AITROOP, json=app).json()
        run = c.post(f"{AITROOP}/{ok['id']}/run").json()
        assert (run["status"], run["output"], run["session_id"]) == (
            "ok",
            "sandbox: app app_1 ran with 1 inputs",
            None,
        )
        bad = c.post(AITROOP, json=broken).json()
        assert bad["action_config"] == {"app_id": "app_sandbox:error", "app_input": {}}
        for _ in range(3):
            run = c.post(f"{AITROOP}/{bad['id']}/run").json()
        assert (run["status"], run["error"]) == ("error", "Missing required connections: sandbox")
        state = {t["id"]: t for t in c.get(AITROOP).json()}[bad["id"]]
        # Failures do not retry or disable: they wait for the next tick.
        assert (state["enabled"], state["last_status"], state["run_count"]) == (True, "error", 3)
        assert state["last_error"] == "Missing required connections: sandbox"
        # Deleting the task deletes its runs.
        c.delete(f"{AITROOP}/{bad['id']}")
        assert c.get(f"{AITROOP}/{bad['id']}/runs").status_code == 404


def test_read_only_fields_are_ignored(aitroop_sandbox: RunningSandbox) -> None:
    junk = {
        "id": "task_mine",
        "cron_expr": "* * * * *",
        "run_count": 7,
        "session_id": "s",
        "next_run_at": None,
    }
    with client(aitroop_sandbox) as c:
        task = c.post(AITROOP, json=aitroop_task(**junk)).json()
        assert task["id"] != "task_mine" and task["cron_expr"] == "0 9 * * *"
        assert (task["run_count"], task["session_id"]) == (0, None) and task["next_run_at"]
        put = c.put(f"{AITROOP}/{task['id']}", json=aitroop_task(**junk)).json()
        assert (put["id"], put["cron_expr"], put["run_count"]) == (task["id"], "0 9 * * *", 0)


def _schedule(schedule_type: str, **config: Any) -> dict[str, Any]:
    return aitroop_task(schedule_type=schedule_type, schedule_config=config)


REQUIRED = ("name", "schedule_type", "schedule_config", "action_type", "action_config")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        *(
            (
                {k: v for k, v in aitroop_task().items() if k != field},
                f"missing required field '{field}'",
            )
            for field in REQUIRED
        ),
        (
            _schedule("interval", every=4, unit="minutes"),
            "invalid schedule: interval below 300 seconds",
        ),
        (
            _schedule("interval", every=0, unit="hours"),
            "invalid schedule: schedule_config.every: Input should be greater than 0",
        ),
        (
            _schedule("interval", every=1, unit="days"),
            "invalid schedule: unknown schedule_config.unit 'days': Input should be 'minutes' or 'hours'",
        ),
        (
            _schedule("interval", every=15),
            "invalid schedule: missing required field 'schedule_config.unit'",
        ),
        (
            _schedule("daily", time="9:00"),
            "invalid schedule: time must be HH:MM (00:00 to 23:59), got '9:00'",
        ),
        (  # ASCII digits only, as in the schedule files (the digit here is Arabic-Indic nine)
            _schedule("daily", time="0\u0669:00"),
            "invalid schedule: time must be HH:MM (00:00 to 23:59), got '0\u0669:00'",
        ),
        (
            _schedule("daily", time="24:00"),
            "invalid schedule: time must be HH:MM (00:00 to 23:59), got '24:00'",
        ),
        (
            _schedule("daily", time="09:60"),
            "invalid schedule: time must be HH:MM (00:00 to 23:59), got '09:60'",
        ),
        (_schedule("daily"), "invalid schedule: missing required field 'schedule_config.time'"),
        (
            _schedule("weekly", time="09:00", days=[1, 7]),
            "invalid schedule: schedule_config.days.1: Input should be less than or equal to 6",
        ),
        (
            _schedule("weekly", time="09:00", days=[-1]),
            "invalid schedule: schedule_config.days.0: Input should be greater than or equal to 0",
        ),
        (
            _schedule("weekly", time="09:00", days=[]),
            "invalid schedule: schedule_config.days: List should have at least 1 item after validation, not 0",
        ),
        (
            _schedule("monthly", time="09:00", day=29),
            "invalid schedule: schedule_config.day: Input should be less than or equal to 28",
        ),
        (
            _schedule("monthly", time="09:00", day=0),
            "invalid schedule: schedule_config.day: Input should be greater than or equal to 1",
        ),
        (
            _schedule("hourly", time="09:00"),
            "invalid schedule: unknown schedule_type 'hourly': "
            "Input should be 'interval', 'daily', 'weekly' or 'monthly'",
        ),
        # A config shaped for another type is checked against the type named.
        (
            _schedule("daily", every=15, unit="minutes"),
            "invalid schedule: missing required field 'schedule_config.time'",
        ),
        (
            aitroop_task(timezone="Mars/Olympus"),
            "invalid schedule: unknown timezone 'Mars/Olympus'",
        ),
        (
            aitroop_task(action_type="email"),
            "unknown action_type 'email': Input should be 'send_message' or 'run_app'",
        ),
        (aitroop_task(action_config={}), "missing required field 'action_config.prompt'"),
        (
            aitroop_task(action_type="run_app", action_config={"app_input": {}}),
            "missing required field 'action_config.app_id'",
        ),
        (
            aitroop_task(action_type="run_app", action_config={"app_id": "a", "app_input": [1]}),
            "action_config.app_input: Input should be a valid dictionary",
        ),
        (aitroop_task(name=""), "name: String should have at least 1 character"),
        (aitroop_task(enabled=1), "enabled: Input should be a valid boolean"),
    ],
)
def test_validation(aitroop_sandbox: RunningSandbox, body: dict[str, Any], message: str) -> None:
    with client(aitroop_sandbox) as c:
        r = c.post(AITROOP, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == r.json()["message"] == message
        task = c.post(AITROOP, json=aitroop_task()).json()
        # PUT applies the same rules, and a rejected PUT changes nothing.
        r = c.put(f"{AITROOP}/{task['id']}", json=body)
        assert (r.status_code, r.json()["message"]) == (422, message)
        assert c.get(AITROOP).json() == [task]


def test_minimum_interval_is_inclusive(aitroop_sandbox: RunningSandbox) -> None:
    with client(aitroop_sandbox) as c:
        r = c.post(AITROOP, json=_schedule("interval", every=5, unit="minutes"))
    assert r.status_code == 201
