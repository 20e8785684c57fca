"""kill -9 in the middle of runs, restart, repeat: no slot fires twice, none is lost.

"Lost" means: while a runner is up every slot fires; after a restart the latest slot missed
while it was down fires once (--missed once) and the older ones, by design, do not.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from .conftest import RunnerProcess, db_rows, doc, ts, write_project

INTERVALS = {"tick": 1.0, "tock": 2.0}
DOWNTIME = 1.2  # longer than tick's interval: every restart has a missed tick slot
STARTUP_SLACK = 8.0  # seconds a loaded machine may take to start python and the runner
MISSED = re.compile(r"(\w+): slot (\S+) was missed while the runner was down; firing it once now")


@dataclass
class Session:
    popen_at: float
    killed_at: float
    missed: dict[str, float]  # schedule -> the slot it said it fires once at start


def kill_restart_cycles(tmp_path: Path, procs: list[RunnerProcess], cycles: int) -> list[Session]:
    write_project(
        tmp_path, {"a.yaml": [doc(name, {"every": f"{int(s)}s"}) for name, s in INTERVALS.items()]}
    )
    db = tmp_path / ".schedctl" / "runs.db"
    rng = random.Random(cycles)
    sessions: list[Session] = []
    for i in range(cycles + 1):
        before = len(db_rows(db))
        runner = RunnerProcess(tmp_path, ["--executor", "command:sleep 0.7"])
        procs.append(runner)
        runner.wait_for(
            lambda before=before: len(db_rows(db)) > before,
            timeout=STARTUP_SLACK + 5,
            what=f"session {i} to fire",
        )
        if i == cycles:
            assert runner.terminate() == 0, runner.stderr()  # the last one stops cleanly
            killed_at = time.time()
        else:
            if i % 2 == 0:  # kill in the middle of a run, for sure
                runner.wait_for(
                    lambda: any(r["status"] == "running" and r["started_at"] for r in db_rows(db))
                )
            else:  # or at any moment
                time.sleep(rng.uniform(0.1, 1.5))
            runner.kill9()
            killed_at = time.time()
        missed = {m[1]: ts(m[2]) for m in MISSED.finditer(runner.stderr())}
        sessions.append(Session(runner.started, killed_at, missed))
        time.sleep(DOWNTIME)
    return sessions


def check_no_slot_doubled_or_lost(db: Path, sessions: list[Session]) -> None:
    rows = [r for r in db_rows(db) if r["trigger"] == "scheduler"]
    doubled = [
        k for k, n in Counter((r["schedule"], r["scheduled_for"]) for r in rows).items() if n > 1
    ]
    assert not doubled, doubled
    assert not [r for r in rows if r["status"] == "running"]
    interrupted = [r for r in rows if r["status"] == "interrupted"]
    assert len(interrupted) >= len(sessions) // 2  # every other session was killed mid-run
    assert all("runner stopped" in r["error"] for r in interrupted)

    restarts = sessions[1:]
    for s in restarts:  # each restart fired tick's missed slot once, and that slot has its row
        assert "tick" in s.missed, s
    for name, interval in INTERVALS.items():
        slots = sorted(ts(r["scheduled_for"]) for r in rows if r["schedule"] == name)
        fired = set(slots)
        for s in restarts:
            if name in s.missed:
                assert s.missed[name] in fired, (name, s)
        for a, b in pairwise(slots):
            if b - a == interval:
                continue
            # A gap only across a downtime, ending at the slot the restart fired once.
            assert any(
                prev.killed_at >= a and nxt.missed.get(name) == b
                for prev, nxt in pairwise(sessions)
            ) or any(
                prev.killed_at >= a
                and nxt.popen_at <= b <= nxt.popen_at + STARTUP_SLACK
                and name not in nxt.missed
                for prev, nxt in pairwise(sessions)
            ), (name, a, b, sessions)


@pytest.mark.parametrize("cycles", [3])
def test_kill9_restart_no_slot_doubled_or_lost(
    tmp_path: Path, runner_procs: list[RunnerProcess], cycles: int
) -> None:
    sessions = kill_restart_cycles(tmp_path, runner_procs, cycles)
    check_no_slot_doubled_or_lost(tmp_path / ".schedctl" / "runs.db", sessions)


@pytest.mark.slow
@pytest.mark.parametrize("cycles", [20])
def test_kill9_restart_many_times(
    tmp_path: Path, runner_procs: list[RunnerProcess], cycles: int
) -> None:
    sessions = kill_restart_cycles(tmp_path, runner_procs, cycles)
    check_no_slot_doubled_or_lost(tmp_path / ".schedctl" / "runs.db", sessions)
