"""The sandbox fires tasks as each platform's document says, on a virtual clock moved over HTTP."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import timing
from reconciler.platforms.engine.sandbox import EngineApi
from reconciler.sandbox.options import RunFaults
from reconciler.sandbox.server import RunningSandbox
from reconciler.sandbox.wire import iso, parse_iso
from tests.conftest import run_cli
from tests.sandbox.fixtures import SandboxFactory
from tests.sandbox.helpers import AITROOP, ENGINE, aitroop_task, client, engine_task

MONDAY = datetime(2026, 3, 2, tzinfo=timezone.utc)
RUNS = ENGINE + "/runs"


def virtual(make: SandboxFactory, platform: str, **options: Any) -> RunningSandbox:
    return make(platform, clock_kind="virtual", start=options.pop("start", MONDAY), **options)


def advance(c: httpx.Client, **body: str) -> dict[str, Any]:
    # A simulated week takes seconds; on a loaded machine more than httpx's default 5 s.
    r = c.post("/__sandbox/clock", json=body, timeout=120)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def cron(expression: str, zone: str | None = None) -> dict[str, Any]:
    return {"type": "cron", "expression": expression, **({"timezone": zone} if zone else {})}


def all_runs(c: httpx.Client, path: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = c.get(path).json()
    return runs


def starts(runs: list[dict[str, Any]], key: str = "startedAt") -> Counter[str]:
    return Counter(r[key] for r in runs)


# -- the clock ---------------------------------------------------------------------------------


def test_virtual_clock_stands_still_until_advanced(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    with client(sandbox) as c:
        assert c.get("/__sandbox/clock").json() == {"now": iso(MONDAY), "clock": "virtual"}
        task = c.post(ENGINE, json=engine_task(schedule=cron("0 9 * * *"))).json()
        assert task["createdAt"] == iso(MONDAY)
        answer = advance(c, advance="1d")
        assert answer == {
            "now": iso(MONDAY + timedelta(days=1)),
            "ticks": 2880,
            "skipped": 0,
            "runs": 1,
        }
        assert advance(c, to="2026-03-03T09:00:00Z")["runs"] == 1  # the tick at 09:00 is in
        assert c.get("/__sandbox/clock").json()["now"] == "2026-03-03T09:00:00.000Z"
        # Not part of the documented API.
        assert not any(p.startswith("/__sandbox") for p in c.get("/openapi.json").json()["paths"])


def test_clock_endpoint_refuses_bad_requests(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    with client(sandbox) as c:
        for body, words in [
            ({"advance": "7x"}, "invalid duration '7x'"),
            ({"advance": "1d", "to": "2026-03-09T00:00:00Z"}, "exactly one of advance or to"),
            ({"to": "2026-03-01T00:00:00Z"}, "does not go back"),
            ({"to": 7}, "ISO 8601"),
        ]:
            r = c.post("/__sandbox/clock", json=body)
            assert r.status_code == 422 and words in r.json()["message"], r.text
            assert 'e.g. {"advance": "7d"}' in r.json()["message"]
        assert c.get("/__sandbox/clock").json()["now"] == iso(MONDAY)  # nothing moved


def test_real_clock_cannot_be_moved(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        r = c.post("/__sandbox/clock", json={"advance": "1d"})
        assert r.status_code == 422 and "--clock virtual" in r.json()["message"]
        assert c.get("/__sandbox/clock").json()["clock"] == "real"


def test_real_clock_ticks_in_the_background(
    sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EngineApi, "tick", timedelta(milliseconds=100))  # 30 s is too long to wait
    sandbox = sandbox_factory("engine")
    run_at = datetime.now(timezone.utc) + timedelta(milliseconds=300)
    with client(sandbox) as c:
        task = c.post(ENGINE, json=engine_task(schedule={"type": "one-shot", "runAt": iso(run_at)}))
        deadline = time.monotonic() + 5
        while not (runs := all_runs(c, RUNS)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r["taskId"] for r in runs] == [task.json()["id"]]
        assert parse_iso(runs[0]["startedAt"]) >= run_at.replace(
            microsecond=run_at.microsecond // 1000 * 1000
        )
        assert runs[0]["triggerType"] == "scheduler"


# -- engine ------------------------------------------------------------------------------------


def test_engine_burst_queues_past_max_concurrent(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    with client(sandbox) as c:
        for i in range(10):
            c.post(ENGINE, json=engine_task(name=f"burst {i}", schedule=cron("0 9 * * *")))
        other = "/api/instances/other/scheduled-tasks"
        c.post(other, json=engine_task(schedule=cron("0 9 * * *")))
        advance(c, to="2026-03-02T10:00:00Z")
        runs = all_runs(c, RUNS)
        # Three per tick, every 30 s; the rest wait for the next tick.
        assert starts(runs) == {
            "2026-03-02T09:00:00.000Z": 3,
            "2026-03-02T09:00:30.000Z": 3,
            "2026-03-02T09:01:00.000Z": 3,
            "2026-03-02T09:01:30.000Z": 1,
        }
        # Claimed in order: the oldest task first when all are equally overdue.
        assert [r["taskId"] for r in reversed(runs)] == [t["id"] for t in c.get(ENGINE).json()]
        # The limit is per instance: another instance's task is not held up.
        assert [r["startedAt"] for r in all_runs(c, other + "/runs")] == [
            "2026-03-02T09:00:00.000Z"
        ]
        assert all(t["nextRunAt"] == "2026-03-03T09:00:00.000Z" for t in c.get(ENGINE).json())


def test_engine_run_rows_and_task_state(sandbox_factory: SandboxFactory) -> None:
    faults = RunFaults.parse({"duration": ["10s", "20s"], "tokens": [1000, 2000]}, "test")
    sandbox = virtual(sandbox_factory, "engine", runs=faults)
    with client(sandbox) as c:
        task = c.post(ENGINE, json=engine_task(schedule=cron("30 * * * *"))).json()
        advance(c, advance="3h")
        runs = all_runs(c, f"{ENGINE}/{task['id']}/runs")
        assert [r["startedAt"] for r in runs] == [f"2026-03-02T0{h}:30:00.000Z" for h in (2, 1, 0)]
        for run in runs:
            assert run["triggerType"] == "scheduler" and run["status"] == "ok"
            assert 8_000 <= run["durationMs"] <= 24_000
            end = parse_iso(run["startedAt"]) + timedelta(milliseconds=run["durationMs"])
            assert run["completedAt"] == iso(end)
            usage = run["tokenUsage"]
            assert 800 <= usage["totalTokens"] <= 2400
            assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
            assert all(set(call) == {"name"} for call in run["toolCalls"])
        state = c.get(f"{ENGINE}/{task['id']}").json()
        assert state["runCount"] == 3 and state["lastRunAt"] == runs[0]["startedAt"]
        assert state["lastStatus"] == "ok" and state["nextRunAt"] == "2026-03-02T03:30:00.000Z"


def test_engine_auto_disables_after_max_retries(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine", runs=RunFaults(always_fail=("flaky*",)))
    with client(sandbox) as c:
        flaky = c.post(
            ENGINE, json=engine_task(name="flaky report", maxRetries=2, schedule=cron("0 * * * *"))
        ).json()
        steady = c.post(ENGINE, json=engine_task(name="steady", schedule=cron("0 * * * *"))).json()
        advance(c, advance="1d")
        runs = all_runs(c, f"{ENGINE}/{flaky['id']}/runs")
        assert [(r["status"], r["error"]) for r in runs] == [
            ("error", "sandbox: simulated failure")
        ] * 2
        state = c.get(f"{ENGINE}/{flaky['id']}").json()
        assert (state["enabled"], state["consecutiveErrors"], state["nextRunAt"]) == (
            False,
            2,
            None,
        )
        assert state["lastError"] == "sandbox: simulated failure"
        # Per task: the neighbour keeps its hourly runs.
        assert len(all_runs(c, f"{ENGINE}/{steady['id']}/runs")) == 24


def test_engine_success_resets_the_error_count(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    with client(sandbox) as c:
        task = c.post(ENGINE, json=engine_task(name="report", schedule=cron("0 * * * *"))).json()
        c.post("/__sandbox/faults", json={"always_fail": [task["id"]]})  # by id
        advance(c, advance="2h")
        assert c.get(f"{ENGINE}/{task['id']}").json()["consecutiveErrors"] == 2
        c.post("/__sandbox/faults", json={"always_fail": None})
        advance(c, advance="1h")
        state = c.get(f"{ENGINE}/{task['id']}").json()
        assert (state["consecutiveErrors"], state["enabled"], state["lastStatus"]) == (
            0,
            True,
            "ok",
        )


def test_engine_one_shot_deletes_itself_after_success(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    once = {"type": "one-shot", "runAt": "2026-03-02T10:00:00Z"}
    with client(sandbox) as c:
        gone = c.post(
            ENGINE, json=engine_task(name="remind", schedule=once, deleteAfterRun=True)
        ).json()
        kept = c.post(ENGINE, json=engine_task(name="keep", schedule=once)).json()
        failing = c.post(
            ENGINE, json=engine_task(name="sandbox:error", schedule=once, deleteAfterRun=True)
        ).json()
        advance(c, advance="1d")
        assert c.get(f"{ENGINE}/{gone['id']}").status_code == 404
        assert c.get(f"{ENGINE}/{kept['id']}").json()["runCount"] == 1
        # A failed one-shot stays, to be looked at.
        state = c.get(f"{ENGINE}/{failing['id']}").json()
        assert (state["lastStatus"], state["nextRunAt"]) == ("error", None)


def test_engine_keep_history_reuses_the_conversation(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    with client(sandbox) as c:
        kept = c.post(ENGINE, json=engine_task(name="kept", schedule=cron("0 * * * *"))).json()
        fresh = c.post(
            ENGINE, json=engine_task(name="fresh", keepHistory=False, schedule=cron("0 * * * *"))
        ).json()
        advance(c, advance="3h")
        kept_ids = {r["conversationId"] for r in all_runs(c, f"{ENGINE}/{kept['id']}/runs")}
        fresh_ids = [r["conversationId"] for r in all_runs(c, f"{ENGINE}/{fresh['id']}/runs")]
        assert len(kept_ids) == 1 and len(set(fresh_ids)) == 3 == len(fresh_ids)
        assert c.get(f"{ENGINE}/{kept['id']}").json()["conversationId"] in kept_ids
        # Run-now goes through the same executeTask: the same conversation.
        manual = c.post(f"{ENGINE}/{kept['id']}/run").json()
        assert manual["conversationId"] in kept_ids and manual["triggerType"] == "manual"


def test_engine_restart_recomputes_intervals_from_the_last_run(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    db = tmp_path / "restart.db"
    hourly = {"type": "interval", "everyMs": 3_600_000, "anchorAt": "2026-03-02T00:00:10Z"}
    first = virtual(sandbox_factory, "engine", db=db)
    with client(first) as c:
        task = c.post(ENGINE, json=engine_task(schedule=hourly)).json()
        day = c.post(ENGINE, json=engine_task(name="daily", schedule=cron("0 9 * * *"))).json()
        advance(c, to="2026-03-02T03:00:00Z")
        state = c.get(f"{ENGINE}/{task['id']}").json()
        # On the anchor's grid; run at the first tick after each slot (ticks at :00 and :30).
        assert state["lastRunAt"] == "2026-03-02T02:00:30.000Z"
        assert state["nextRunAt"] == "2026-03-02T03:00:10.000Z"
    first_stop = first.scheduler
    assert first_stop is not None
    first_stop.stop()
    second = virtual(
        sandbox_factory, "engine", db=db, start=datetime(2030, 1, 1, tzinfo=timezone.utc)
    )
    with client(second) as c:
        # The virtual clock resumes where the database stopped, not at `start`.
        assert c.get("/__sandbox/clock").json()["now"] == "2026-03-02T03:00:00.000Z"
        state = c.get(f"{ENGINE}/{task['id']}").json()
        assert state["nextRunAt"] == "2026-03-02T03:00:30.000Z"  # lastRunAt + everyMs
        assert c.get(f"{ENGINE}/{day['id']}").json()["nextRunAt"] == "2026-03-02T09:00:00.000Z"
        advance(c, advance="1h")
        assert next(r["startedAt"] for r in all_runs(c, f"{ENGINE}/{task['id']}/runs")) == (
            "2026-03-02T03:00:30.000Z"
        )


# -- aitroop -----------------------------------------------------------------------------------


def test_aitroop_takes_every_due_task_in_one_tick(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "aitroop")
    with client(sandbox) as c:
        for i in range(120):  # three batches of 50: all in the tick, none waits for the next
            c.post(AITROOP, json=aitroop_task(name=f"report {i}"))
        answer = advance(c, to="2026-03-02T09:30:00Z")
        assert answer["runs"] == 120
        assert starts(c.get(AITROOP).json(), "last_run_at") == {"2026-03-02T09:00:00.000Z": 120}
        for task in c.get(AITROOP).json():
            assert (task["run_count"], task["last_status"]) == (1, "ok")
            assert task["session_id"].startswith("sess_")  # created by the first tick
            assert task["next_run_at"] == "2026-03-03T09:00:00.000Z"


def test_aitroop_session_is_created_once_and_kept(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "aitroop")
    with client(sandbox) as c:
        task = c.post(AITROOP, json=aitroop_task()).json()
        assert task["session_id"] is None
        advance(c, advance="3d")
        runs = all_runs(c, f"{AITROOP}/{task['id']}/runs")
        assert len(runs) == 3 and len({r["session_id"] for r in runs}) == 1
        assert {r["triggered"] for r in runs} == {"scheduler"}
        assert c.get(AITROOP).json()[0]["session_id"] == runs[0]["session_id"]
        manual = c.post(f"{AITROOP}/{task['id']}/run").json()
        assert (manual["triggered"], manual["session_id"]) == ("manual", runs[0]["session_id"])


def test_aitroop_missing_connects(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "aitroop")
    app = aitroop_task(action_type="run_app", action_config={"app_id": "app_crm", "app_input": {}})
    with client(sandbox) as c:
        task = c.post(AITROOP, json=app).json()
        other = c.post(AITROOP, json={**app, "action_config": {"app_id": "app_other"}}).json()
        faults = c.post(
            "/__sandbox/faults", json={"missing_connects": {"app_c*": ["slack", "drive"]}}
        )
        assert faults.json()["missing_connects"] == {"app_c*": ["slack", "drive"]}
        advance(c, advance="2d")
        runs = all_runs(c, f"{AITROOP}/{task['id']}/runs")
        message = "Missing required connections: drive, slack"
        assert [(r["status"], r["error"], r["output"]) for r in runs] == [
            ("error", message, None)
        ] * 2
        state = next(t for t in c.get(AITROOP).json() if t["id"] == task["id"])
        # No auto-disable: the failure waits for the next tick.
        assert (state["enabled"], state["last_status"], state["last_error"]) == (
            True,
            "error",
            message,
        )
        assert state["run_count"] == 2
        assert {r["status"] for r in all_runs(c, f"{AITROOP}/{other['id']}/runs")} == {"ok"}
        # Re-authorized: the next tick proceeds.
        c.post("/__sandbox/faults", json={"missing_connects": None})
        advance(c, advance="1d")
        state = next(t for t in c.get(AITROOP).json() if t["id"] == task["id"])
        assert (state["last_status"], state["last_error"], state["run_count"]) == ("ok", None, 3)


def test_aitroop_runs_are_queued_until_they_end(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "aitroop", runs=RunFaults.parse({"duration": "3m"}, "test"))
    with client(sandbox) as c:
        task = c.post(AITROOP, json=aitroop_task()).json()
        advance(c, to="2026-03-02T09:01:00Z")
        state = c.get(AITROOP).json()[0]
        assert (state["last_status"], state["run_count"]) == ("queued", 1)
        [run] = all_runs(c, f"{AITROOP}/{task['id']}/runs")
        assert (run["status"], run["completed_at"], run["duration_ms"]) == ("queued", None, None)
        advance(c, to="2026-03-02T09:10:00Z")
        [run] = all_runs(c, f"{AITROOP}/{task['id']}/runs")
        assert run["status"] == "ok" and 144_000 <= run["duration_ms"] <= 216_000
        assert run["completed_at"] == iso(
            parse_iso(run["started_at"]) + timedelta(milliseconds=run["duration_ms"])
        )
        assert c.get(AITROOP).json()[0]["last_status"] == "ok"
        # Run-now is the same executeTask: queued as well.
        manual = c.post(f"{AITROOP}/{task['id']}/run").json()
        assert (manual["status"], manual["triggered"]) == ("queued", "manual")


def test_aitroop_interval_below_minimum_is_pushed_and_skipped(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    db = tmp_path / "drift.db"
    sandbox = virtual(sandbox_factory, "aitroop", db=db)
    every = aitroop_task(schedule_type="interval", schedule_config={"every": 10, "unit": "minutes"})
    with client(sandbox) as c:
        task = c.post(AITROOP, json=every).json()
        assert task["next_run_at"] == "2026-03-02T00:10:00.000Z"
        # The API refuses it (422): only a direct database edit drifts it below 5 minutes.
        assert (
            c.put(
                f"{AITROOP}/{task['id']}",
                json={**every, "schedule_config": {"every": 2, "unit": "minutes"}},
            ).status_code
            == 422
        )
        with sqlite3.connect(db) as conn:
            body = json.loads(conn.execute("SELECT body FROM tasks").fetchone()[0])
            body["schedule_config"]["every"] = 2
            conn.execute("UPDATE tasks SET body = ?", (json.dumps(body),))
        advance(c, to="2026-03-02T00:30:00Z")
        assert all_runs(c, f"{AITROOP}/{task['id']}/runs") == []
        state = c.get(AITROOP).json()[0]
        # Pushed forward 5 minutes at each tick that found it due: 00:10 -> 00:15 -> ... -> 00:35.
        assert (state["next_run_at"], state["run_count"]) == ("2026-03-02T00:35:00.000Z", 0)


def test_aitroop_disabled_tasks_do_not_fire(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "aitroop")
    with client(sandbox) as c:
        task = c.post(AITROOP, json=aitroop_task(enabled=False)).json()
        assert advance(c, advance="2d")["runs"] == 0
        assert all_runs(c, f"{AITROOP}/{task['id']}/runs") == []


# -- faults ------------------------------------------------------------------------------------


def test_skipped_ticks_delay_runs(sandbox_factory: SandboxFactory) -> None:
    window = RunFaults.parse(
        {"skip_ticks": [["2026-03-02T09:00:00Z", "2026-03-02T09:10:00Z"]]}, "t"
    )
    sandbox = virtual(sandbox_factory, "engine", runs=window)
    with client(sandbox) as c:
        c.post(ENGINE, json=engine_task(schedule=cron("0 9 * * *")))
        answer = advance(c, advance="1d")
        assert answer["skipped"] == 20  # 10 minutes of 30 s ticks
        assert [r["startedAt"] for r in all_runs(c, RUNS)] == ["2026-03-02T09:10:00.000Z"]
        # Every tick skipped: nothing runs, and the task stays due.
        c.post("/__sandbox/faults", json={"skip_tick_rate": 1.0, "skip_ticks": None})
        advance(c, advance="2d")
        assert len(all_runs(c, RUNS)) == 1
        assert c.get(ENGINE).json()[0]["nextRunAt"] == "2026-03-03T09:00:00.000Z"


def test_failure_rate_fails_about_that_share(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine", runs=RunFaults(failure_rate=0.25))
    with client(sandbox) as c:
        c.post(ENGINE, json=engine_task(maxRetries=1000, schedule=cron("*/10 * * * *")))
        advance(c, advance="2d")
        statuses = Counter(r["status"] for r in all_runs(c, RUNS))
        assert sum(statuses.values()) == 288
        assert 50 <= statuses["error"] <= 95


def week_log(make: SandboxFactory, platform: str, seed: int) -> list[Any]:
    faults = {"failure_rate": 0.3, "duration": ["1s", "90s"], "tokens": [100, 5000]}
    sandbox = virtual(make, platform, seed=seed, runs=RunFaults.parse(faults, "t"))
    path, body = (
        (ENGINE, engine_task(maxRetries=100, schedule=cron("0 */4 * * *")))
        if platform == "engine"
        else (
            AITROOP,
            aitroop_task(schedule_type="interval", schedule_config={"every": 4, "unit": "hours"}),
        )
    )
    with client(sandbox) as c:
        ids = [c.post(path, json={**body, "name": f"task {i}"}).json()["id"] for i in range(5)]
        advance(c, advance="7d1m")  # past the last tick's queue
        return [all_runs(c, f"{path}/{i}/runs") for i in ids] + [c.get(path).json()]


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_same_seed_same_run_logs(sandbox_factory: SandboxFactory, platform: str) -> None:
    first = week_log(sandbox_factory, platform, seed=11)
    assert week_log(sandbox_factory, platform, seed=11) == first
    assert sum(len(runs) for runs in first[:-1]) == 5 * 42
    assert {r["status"] for runs in first[:-1] for r in runs} >= {"ok", "error"}
    assert week_log(sandbox_factory, platform, seed=12) != first


def test_faults_endpoint_refuses_bad_values(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine")
    with client(sandbox) as c:
        for body, words in [
            ({"failure_rat": 0.1}, "unknown run fault 'failure_rat'"),
            ({"failure_rate": 2}, "failure_rate: expected a number between 0 and 1"),
            ({"duration": ["2m", "1m"]}, "duration: low must not be above high"),
            (
                {"skip_ticks": [["2026-03-02T10:00:00Z", "2026-03-02T09:00:00Z"]]},
                "until must be after from",
            ),
        ]:
            r = c.post("/__sandbox/faults", json=body)
            assert r.status_code == 422 and words in r.json()["message"], r.text
            assert "e.g. {" in r.json()["message"]
        assert c.get("/__sandbox/faults").json() == RunFaults().to_json()  # nothing changed


def test_side_endpoints_take_the_token(sandbox_factory: SandboxFactory) -> None:
    sandbox = virtual(sandbox_factory, "engine", token="s3cret")
    with client(sandbox) as c:
        assert c.post("/__sandbox/clock", json={"advance": "1h"}).status_code == 401
        assert c.get("/__sandbox/faults").status_code == 401
        ok = c.post(
            "/__sandbox/clock", json={"advance": "1h"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200


# -- whole weeks -------------------------------------------------------------------------------


def expected(trigger: timing.Trigger, start: datetime, end: datetime) -> list[datetime]:
    return [t.astimezone(timezone.utc) for t in trigger.fires_between(start, end)]


def fired_within_a_tick(
    runs: list[dict[str, Any]], key: str, slots: list[datetime], tick: float, name: str
) -> None:
    """One run per slot, each started within one tick of it."""
    got = sorted(parse_iso(r[key]) for r in runs)
    assert len(got) == len(slots), name
    assert all(
        timedelta(0) <= g - s < timedelta(seconds=tick) for g, s in zip(got, slots, strict=True)
    ), name


def test_virtual_week_engine_fires_every_slot_across_dst(sandbox_factory: SandboxFactory) -> None:
    start = datetime(2026, 3, 23, tzinfo=timezone.utc)  # Rome moves to summer time on the 29th
    sandbox = virtual(sandbox_factory, "engine", start=start)
    schedules = {
        "rome": cron("0 9 * * *", "Europe/Rome"),
        "weekdays": cron("30 8 * * 1-5", "America/New_York"),
        "quarter": cron("*/15 * * * *"),
        "every-90m": {
            "type": "interval",
            "everyMs": 90 * 60_000,
            "anchorAt": "2026-03-01T00:00:00Z",
        },
    }
    with client(sandbox) as c:
        ids = {
            n: c.post(ENGINE, json=engine_task(name=n, schedule=s)).json()["id"]
            for n, s in schedules.items()
        }
        advance(c, advance="7d")
        end = start + timedelta(days=7)
        for name, schedule in schedules.items():
            if schedule["type"] == "cron":
                trigger: timing.Trigger = timing.CronTrigger(
                    schedule["expression"], schedule.get("timezone", "UTC")
                )
            else:
                trigger = timing.IntervalTrigger(
                    timedelta(milliseconds=schedule["everyMs"]), parse_iso(schedule["anchorAt"])
                )
            runs = all_runs(c, f"{ENGINE}/{ids[name]}/runs")
            fired_within_a_tick(runs, "startedAt", expected(trigger, start, end), 30, name)
        rome = sorted(r["startedAt"][11:16] for r in all_runs(c, f"{ENGINE}/{ids['rome']}/runs"))
        assert rome.count("08:00") == 6 and rome.count("07:00") == 1  # 09:00 Rome, DST included


def test_virtual_week_aitroop_fires_every_slot(sandbox_factory: SandboxFactory) -> None:
    start = datetime(2026, 3, 5, tzinfo=timezone.utc)  # the US moves to summer time on the 8th
    sandbox = virtual(sandbox_factory, "aitroop", start=start)
    presets = {
        "daily-la": ("daily", {"time": "09:00"}, "America/Los_Angeles", "0 9 * * *"),
        "mwf": ("weekly", {"time": "08:30", "days": [1, 3, 5]}, "UTC", "30 8 * * 1,3,5"),
        "quarter-hour": ("interval", {"every": 15, "unit": "minutes"}, "UTC", None),
    }
    with client(sandbox) as c:
        ids = {}
        for name, (kind, config, zone, _) in presets.items():
            body = aitroop_task(
                name=name, schedule_type=kind, schedule_config=config, timezone=zone
            )
            ids[name] = c.post(AITROOP, json=body).json()["id"]
        advance(c, advance="7d")
        end = start + timedelta(days=7)
        for name, (_, _, zone, expression) in presets.items():
            trigger: timing.Trigger = (
                timing.CronTrigger(expression, zone)
                if expression
                else timing.IntervalTrigger(timedelta(minutes=15), start)
            )
            runs = all_runs(c, f"{AITROOP}/{ids[name]}/runs")
            fired_within_a_tick(runs, "started_at", expected(trigger, start, end), 60, name)


def test_a_week_of_200_tasks(sandbox_factory: SandboxFactory) -> None:
    """200 tasks over a simulated week, one advance (bench/ measures how long it takes)."""
    sandbox = virtual(sandbox_factory, "engine", runs=RunFaults(failure_rate=0.05))
    with client(sandbox) as c:
        for i in range(200):
            schedule = cron(f"{i % 60} {i % 24} * * *") if i % 2 else cron(f"{i % 60} */6 * * *")
            c.post(
                f"/api/instances/i{i % 4}/scheduled-tasks",
                json=engine_task(name=f"t{i}", maxRetries=100, schedule=schedule),
            )
        # A minute past the week: the burst at its last tick (4 tasks on i0) has drained.
        answer = advance(c, advance="7d1m")
        assert answer["runs"] == 100 * 7 + 100 * 28
        assert answer["ticks"] == 7 * 2880 + 2
        per_instance = [
            len(all_runs(c, f"/api/instances/i{n}/scheduled-tasks/runs")) for n in range(4)
        ]
        assert sum(per_instance) == answer["runs"]


def test_cli_serves_a_virtual_clock_with_run_faults(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("failure_rate: 1.0\ntokens: [10, 20]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("failure_rate: lots\n")
    result = run_cli(
        ["sandbox", "--platform", "engine", "--clock", "virtual", "--run-faults", str(bad)]
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{bad}: failure_rate: expected a number between 0 and 1, got 'lots'" in result.stderr
    result = run_cli(["sandbox", "--platform", "engine", "--clock", "virtual", "--start", "monday"])
    assert (
        result.returncode == 1 and "--start 'monday' is not an ISO 8601 timestamp" in result.stderr
    )
    args = ["sandbox", "--platform", "engine", "--clock", "virtual", "--seed", "3"]
    args += ["--start", "2026-03-02T00:00:00Z", "--run-faults", str(faults)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with httpx.Client(base_url=url, timeout=5) as c:
            c.post(ENGINE, json=engine_task(schedule=cron("0 9 * * *")))
            assert c.post("/__sandbox/clock", json={"advance": "1d"}).json()["runs"] == 1
            [run] = c.get(RUNS).json()
            assert run["status"] == "error" and 8 <= run["tokenUsage"]["totalTokens"] <= 24
            assert run["startedAt"] == "2026-03-02T09:00:00.000Z"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
