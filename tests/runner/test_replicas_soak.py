"""Three replicas on one PostgreSQL for two minutes; one is killed with SIGKILL half-way and
restarted later. Every slot in the window fires exactly once or is recorded interrupted, none
twice; the killed replica's runs are taken over within one lease; `runs --local` agrees."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.runner.executors import NOT_STARTED

from .conftest import RunnerProcess, doc, pg_rows, schedctl, ts, write_project

SCHEDULES = 300
EVERY = 10.0  # seconds
LEASE = 6.0
DURATION = 120.0
KILL_AT, RESTART_AT = 0.5, 0.75  # of DURATION
ANCHOR = datetime(2020, 1, 1, tzinfo=timezone.utc)
SLACK = 3.0  # seconds at each end of the window: start-up and the SIGTERM


def anchor(i: int) -> str:
    """Spread the schedules over the 10 s: a steady 30 fires a second, not one burst."""
    return (ANCHOR + timedelta(milliseconds=i * EVERY * 1000 / SCHEDULES)).isoformat()


@pytest.mark.slow
@pytest.mark.timeout(DURATION + 240)
def test_three_replicas_one_killed_every_slot_once(
    tmp_path: Path, pg_url: str, runner_procs: list[RunnerProcess]
) -> None:
    write_project(
        tmp_path,
        {"a.yaml": [doc(f"job{i:03d}", {"every": "10s", "anchor": anchor(i)}) for i in range(SCHEDULES)]},
    )  # fmt: skip
    args = ["--store-env", "STORE", "--lease", str(LEASE), "--max-concurrent", "40",
            "--executor", "command:sleep 1"]  # fmt: skip

    def start() -> RunnerProcess:
        proc = RunnerProcess(tmp_path, args, STORE=pg_url)
        runner_procs.append(proc)
        return proc

    replicas = [start() for _ in range(3)]
    t0 = time.time()
    end = time.monotonic() + 60
    while len({r["replica"] for r in pg_rows(pg_url, "SELECT DISTINCT replica FROM runs")}) < 3:
        assert time.monotonic() < end, [r.stderr() for r in replicas]
        time.sleep(0.5)
    window_start = time.time() + SLACK

    time.sleep(max(0.0, t0 + DURATION * KILL_AT - time.time()))
    # The victim: the replica with the most runs in flight, so that there is work to take over
    # (replicas race for every slot, and one may lose most races for a while).
    ids = {
        r["pid"]: r["replica"]
        for r in pg_rows(pg_url, "SELECT pid, replica FROM replicas WHERE state = 'alive'")
    }
    busy = Counter(
        r["replica"] for r in pg_rows(pg_url, "SELECT replica FROM runs WHERE status = 'running'")
    )
    victim = max(replicas, key=lambda p: busy[ids[p.proc.pid]])
    victim_id = ids[victim.proc.pid]
    open_at_kill_query = "SELECT run_id FROM runs WHERE replica = %s AND status = 'running'"
    victim.kill9()
    killed_at = time.time()
    open_at_kill = {r["run_id"] for r in pg_rows(pg_url, open_at_kill_query, (victim_id,))}
    assert open_at_kill, "the killed replica had no run in flight: nothing to take over"

    time.sleep(max(0.0, t0 + DURATION * RESTART_AT - time.time()))
    replicas.append(start())
    time.sleep(max(0.0, t0 + DURATION - time.time()))
    window_end = time.time() - SLACK
    survivors = [r for r in replicas if r is not victim]
    for r in survivors:
        r.proc.send_signal(15)
    for r in survivors:
        assert r.close(60) == 0, r.stderr()

    rows = pg_rows(pg_url, "SELECT * FROM runs ORDER BY seq")
    scheduled = [r for r in rows if r["trigger"] == "scheduler"]
    # No slot twice.
    twice = [
        k
        for k, n in Counter((r["schedule"], r["scheduled_for"]) for r in scheduled).items()
        if n > 1
    ]
    assert not twice, twice[:5]
    assert not [r for r in rows if r["status"] == "running"]

    # Every slot in the window, exactly once, ok or interrupted.
    by_slot = {(r["schedule"], ts(r["scheduled_for"])): r for r in scheduled}
    missing, bad = [], []
    for i in range(SCHEDULES):
        base = ts(anchor(i))
        k = int((window_start - base) // EVERY) + 1
        while (slot := base + k * EVERY) <= window_end:
            row = by_slot.get((f"job{i:03d}", slot))
            if row is None:
                missing.append((f"job{i:03d}", slot))
            elif row["status"] not in ("ok", "interrupted"):
                bad.append((row["schedule"], row["status"], row["error"]))
            k += 1
    assert not missing, (len(missing), missing[:5])
    assert not bad, (len(bad), bad[:5])

    # The victim's open runs: interrupted by another replica within one lease of the kill.
    taken = [r for r in rows if r["run_id"] in open_at_kill]
    assert {r["status"] for r in taken} == {"interrupted"}, Counter(r["status"] for r in taken)
    assert all("lease ran out" in r["error"] for r in taken)
    latest = max(ts(r["completed_at"]) for r in taken)
    assert latest - killed_at <= LEASE + 0.5, latest - killed_at  # half a second for the polls
    interrupted = [r for r in scheduled if r["status"] == "interrupted"]
    assert victim_id in {r["replica"] for r in interrupted}
    # A survivor interrupts nothing of its own, except what it had claimed and not yet started
    # when the SIGTERM at the end came (those slots are past the window).
    elsewhere = [r for r in interrupted if r["replica"] != victim_id]
    assert all(
        r["error"] == NOT_STARTED and ts(r["scheduled_for"]) > window_end for r in elsewhere
    ), [(r["replica"], r["scheduled_for"], r["error"]) for r in elsewhere]

    # Its future slots: fired by the others on time, from the kill on.
    after = [r for r in scheduled if ts(r["scheduled_for"]) >= killed_at and r["status"] == "ok"]
    assert after and victim_id not in {r["replica"] for r in after}
    late = sorted(ts(r["started_at"]) - ts(r["scheduled_for"]) for r in after)
    assert late[-1] < LEASE, late[-5:]
    replica_rows = {r["replica"]: r for r in pg_rows(pg_url, "SELECT * FROM replicas")}
    assert replica_rows[victim_id]["state"] == "expired"
    assert sorted(r["state"] for r in replica_rows.values()) == ["expired", "gone", "gone", "gone"]
    restarted = next(r for r in replica_rows.values() if r["pid"] == replicas[3].proc.pid)
    assert any(r["replica"] == restarted["replica"] for r in after)  # it rejoined the work

    # The runs table and `runs --local` agree (a few schedules, each whole).
    per_schedule: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in rows:
        per_schedule[r["schedule"]].append((r["run_id"], r["status"], r["scheduled_for"]))
    for name in ("job000", "job150", "job299", interrupted[0]["schedule"]):
        shown = schedctl(
            ["runs", "--local", name, "--store-env", "STORE", "-n", "1000", "--format", "json"],
            tmp_path, STORE=pg_url,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        listed = [(r["run_id"], r["status"], r["scheduled_for"]) for r in json.loads(shown.stdout)]
        assert listed == [
            (run_id, status, datetime.fromisoformat(slot).isoformat())
            for run_id, status, slot in reversed(per_schedule[name])
        ]
