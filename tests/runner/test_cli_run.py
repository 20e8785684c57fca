"""`schedctl run` as a real process: instants, the concurrency bound, executors, signals, --once,
--simulate, `runs --local`, and the errors users see."""

from __future__ import annotations

import json
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from .conftest import RunnerProcess, db_rows, doc, schedctl, ts, write_project
from .servers import serving

# Generous: the suite shares two cores with other suites. The benchmark measures the real p99.
LATE = 0.5


def test_fires_at_the_right_instants(tmp_path: Path, runner_procs: list[RunnerProcess]) -> None:
    write_project(tmp_path, {"a.yaml": [
        doc("one", {"every": "1s"}),
        doc("two", {"every": "2s"}),
        doc("odd", {"every": "2s", "anchor": "2020-01-01T00:00:01Z"}),
    ]})  # fmt: skip
    runner = RunnerProcess(tmp_path, [])
    runner_procs.append(runner)
    db = tmp_path / ".schedctl" / "runs.db"
    runner.wait_for(
        lambda: sum(r["schedule"] == "one" for r in db_rows(db)) >= 4, what="four runs of one"
    )
    assert runner.terminate() == 0
    rows = db_rows(db)
    assert all(r["status"] == "ok" and r["trigger"] == "scheduler" for r in rows)
    for name, step in (("one", 1), ("two", 2), ("odd", 2)):
        slots = [ts(r["scheduled_for"]) for r in rows if r["schedule"] == name]
        assert slots and all(s == int(s) for s in slots), name  # whole seconds
        assert all(b - a == step for a, b in pairwise(slots)), (name, slots)
    assert all(int(ts(r["scheduled_for"])) % 2 == 1 for r in rows if r["schedule"] == "odd")
    late = [ts(r["started_at"]) - ts(r["scheduled_for"]) for r in rows]
    assert all(0 <= x < LATE for x in late), late
    lines = runner.stdout().splitlines()
    assert len(lines) == len(rows) and all("  ok  " in line for line in lines)
    for r in rows:
        assert (
            tmp_path / ".schedctl" / "artifacts" / r["run_id"] / "output.txt"
        ).read_text() == f"do {r['schedule']}"


def test_concurrency_bound_holds(tmp_path: Path, runner_procs: list[RunnerProcess]) -> None:
    log = tmp_path / "calls.log"
    command = f'echo "start $(date +%s.%N)" >> {log}; sleep 0.6; echo "end $(date +%s.%N)" >> {log}'
    write_project(tmp_path, {"a.yaml": [doc(f"job{i}", {"every": "1s"}) for i in range(4)]})
    runner = RunnerProcess(tmp_path, ["--max-concurrent", "2", "--executor", f"command:{command}"])
    runner_procs.append(runner)
    runner.wait_for(
        lambda: log.exists() and log.read_text().count("end") >= 8, what="eight finished runs"
    )
    assert runner.terminate() == 0
    events = sorted(
        (float(t), kind) for kind, t in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _, kind in events:  # at equal instants "end" sorts before "start": no false overlap
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2
    rows = db_rows(tmp_path / ".schedctl" / "runs.db")
    # queued past the next slot: skipped; claimed but still queued at SIGTERM: never started
    assert {r["status"] for r in rows} <= {"ok", "skipped", "interrupted"}
    assert all(
        r["error"] == "not started: the runner stopped before it began"
        for r in rows
        if r["status"] == "interrupted"
    )
    assert any(r["status"] == "skipped" and "still running" in r["error"] for r in rows)


def test_sigterm_lets_running_runs_finish(
    tmp_path: Path, runner_procs: list[RunnerProcess]
) -> None:
    write_project(tmp_path, {"a.yaml": [doc("slow", {"every": "1s"})]})
    runner = RunnerProcess(tmp_path, ["--executor", "command:sleep 1; echo done"])
    runner_procs.append(runner)
    db = tmp_path / ".schedctl" / "runs.db"
    runner.wait_for(
        lambda: any(r["started_at"] and r["status"] == "running" for r in db_rows(db)),
        what="a running run",
    )
    assert runner.terminate() == 0
    rows = db_rows(db)
    assert rows[-1]["status"] == "ok" and rows[-1]["output"] == "done\n"
    assert "stopping" in runner.stderr()


def test_sigterm_after_grace_interrupts(tmp_path: Path, runner_procs: list[RunnerProcess]) -> None:
    write_project(tmp_path, {"a.yaml": [doc("slow", {"every": "1s"})]})
    runner = RunnerProcess(tmp_path, ["--executor", "command:sleep 20", "--grace", "0.3"])
    runner_procs.append(runner)
    db = tmp_path / ".schedctl" / "runs.db"
    runner.wait_for(lambda: any(r["started_at"] for r in db_rows(db)), what="a started run")
    started = time.monotonic()
    assert runner.terminate() == 0
    assert time.monotonic() - started < 10
    assert [r["status"] for r in db_rows(db)] == ["interrupted"]


def test_once_command_env_exit_status_and_auto_disable_in_runs(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.yaml": [doc("check", {"daily": "09:00"}, max_retries=1)]})
    ok = schedctl(["run", "--once", "check", "--executor",
                   'command:cat; echo " $SCHEDCTL_SCHEDULE $SCHEDCTL_CONVERSATION_ID"'], tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "check  ok (manual)" in ok.stdout and "do check check conv_" in ok.stdout
    bad = schedctl(
        ["run", "--once", "check", "--executor", "command:echo nope >&2; exit 4"], tmp_path
    )
    assert bad.returncode == 1 and "error (manual)" in bad.stdout
    history = schedctl(["runs", "--local"], tmp_path)
    assert history.returncode == 0, history.stderr
    assert "exit status 4: nope; auto-disabled after 1 consecutive error" in history.stdout
    as_json = json.loads(schedctl(["runs", "--local", "--format", "json"], tmp_path).stdout)
    assert as_json[0]["schedule_disabled"] is True and as_json[1]["status"] == "ok"
    again = schedctl(
        ["run", "--once", "check", "--format", "json"], tmp_path
    )  # run-now works on a disabled task
    assert again.returncode == 0 and json.loads(again.stdout)["trigger"] == "manual"
    assert "not scheduled" not in again.stderr  # --once plans nothing, so it says nothing about it


def test_once_http_executor(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.yaml": [doc("hook", {"every": "1h"}, history="fresh")]})
    with serving() as server:
        done = schedctl(
            ["run", "--once", "hook", "--executor", f"http:{server.url}/hook"], tmp_path
        )
        assert done.returncode == 0, done.stderr
        body = server.requests[0]["body"]
        assert (
            body["schedule"] == "hook"
            and body["prompt"] == "do hook"
            and body["trigger"] == "manual"
        )
        server.status = 503
        failed = schedctl(
            ["run", "--once", "hook", "--executor", f"http:{server.url}/hook"], tmp_path
        )
        assert failed.returncode == 1 and "503" in failed.stdout
    rows = db_rows(tmp_path / ".schedctl" / "runs.db")
    assert (
        body["run_id"] == rows[0]["run_id"]
        and body["conversation_id"] == rows[0]["conversation_id"]
    )
    request = tmp_path / ".schedctl" / "artifacts" / rows[0]["run_id"] / "request.json"
    assert json.loads(request.read_text())["run_id"] == rows[0]["run_id"]


def test_once_openai_executor_keeps_the_conversation(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.yaml": [doc("chat", {"every": "1h"}, history="keep"),
                                        doc("solo", {"every": "1h"}, history="fresh")]})  # fmt: skip
    env = {"SCHEDCTL_OPENAI_MODEL": "tiny", "SCHEDCTL_OPENAI_API_KEY": "test-key"}
    with serving() as server:
        for name in ("chat", "chat", "solo", "solo"):
            done = schedctl(
                ["run", "--once", name, "--executor", f"openai:{server.url}"], tmp_path, **env
            )
            assert done.returncode == 0, done.stdout + done.stderr
        sent = [r["body"]["messages"] for r in server.requests]
    assert [len(m) for m in sent] == [1, 3, 1, 1]
    assert sent[1][1] == {
        "role": "assistant",
        "content": "answer 1 to do chat (model tiny, 1 messages)",
    }
    rows = db_rows(tmp_path / ".schedctl" / "runs.db")
    conv = [r["conversation_id"] for r in rows]
    assert conv[0] == conv[1] and conv[2] != conv[3]
    assert rows[1]["output"] == "answer 2 to do chat (model tiny, 3 messages)"
    turns = db_rows(
        tmp_path / ".schedctl" / "runs.db",
        "SELECT * FROM turns WHERE conversation_id = ?",
        (conv[0],),
    )
    assert [t["role"] for t in turns] == ["user", "assistant"] * 2


def test_simulate_prints_the_timeline_and_writes_nothing(tmp_path: Path) -> None:
    write_project(
        tmp_path, {"a.yaml": [doc("hourly", {"cron": "0 * * * *"}), doc("five", {"every": "90m"})]}
    )
    out = schedctl(
        ["run", "--simulate", "2026-01-05T00:00..2026-01-05T03:00", "--format", "json"], tmp_path
    )
    assert out.returncode == 0, out.stderr
    timeline = json.loads(out.stdout)
    # [FROM, UNTIL): the hourly slot at FROM fires, the slots at UNTIL do not; the interval
    # counts from FROM, so its first fire is 90 minutes later.
    assert timeline == [
        {"name": "hourly", "scheduled_for": "2026-01-05T00:00:00+00:00"},
        {"name": "hourly", "scheduled_for": "2026-01-05T01:00:00+00:00"},
        {"name": "five", "scheduled_for": "2026-01-05T01:30:00+00:00"},
        {"name": "hourly", "scheduled_for": "2026-01-05T02:00:00+00:00"},
    ]
    text = schedctl(["run", "--simulate", "2026-01-05T00:00Z..+2h"], tmp_path)
    assert text.stdout.splitlines()[0] == "2026-01-05T00:00:00Z  hourly  ok  0ms  do hourly"
    assert not (tmp_path / ".schedctl").exists()
    aitroop = schedctl(["run", "--simulate", "2026-01-05..+20m", "--semantics", "aitroop"],
                       write_project(tmp_path / "b", {"a.yaml": [doc("tight", {"every": "1m"})]}))  # fmt: skip
    assert aitroop.stdout.count("  skipped  ") == 4 and "tick skipped" in aitroop.stdout


def test_simulate_says_when_nothing_runs(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.yaml": [doc("daily", {"daily": "09:00"})]})
    # UNTIL is the only slot, and the window stops before it.
    text = schedctl(["run", "--simulate", "2026-01-05T08:00Z..2026-01-05T09:00Z"], tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        "no runs between 2026-01-05T08:00:00Z and 2026-01-05T09:00:00Z (FROM included, UNTIL not)"
    ]
    as_json = schedctl(
        ["run", "--simulate", "2026-01-05T08:00Z..2026-01-05T09:00Z", "--format", "json"], tmp_path
    )
    assert json.loads(as_json.stdout) == [] and "no runs between" in as_json.stderr
    # FROM is included: the same slot as the window's start fires.
    at_from = schedctl(["run", "--simulate", "2026-01-05T09:00Z..+1h"], tmp_path)
    assert at_from.stdout.splitlines() == ["2026-01-05T09:00:00Z  daily  ok  0ms  do daily"]


def test_the_start_line_says_what_fires_next(
    tmp_path: Path, runner_procs: list[RunnerProcess]
) -> None:
    write_project(
        tmp_path, {"a.yaml": [doc("hourly", {"every": "1h"}), doc("daily", {"every": "1d"})]}
    )
    runner = RunnerProcess(tmp_path, [])
    runner_procs.append(runner)
    runner.wait_for(lambda: "running 2 schedule(s)" in runner.stderr(), what="the start line")
    line = next(x for x in runner.stderr().splitlines() if "running 2 schedule(s)" in x)
    # An interval counts from first sight: the hourly one fires an hour after the start.
    assert "; next: hourly at " in line and line.endswith("(in 1h)"), line
    assert runner.terminate() == 0


def test_target_selection_and_platform_errors_as_warnings(tmp_path: Path) -> None:
    config = {
        "defaults": {"timezone": "UTC", "targets": ["eng"]},
        "targets": {
            "eng": {"platform": "engine", "sandbox": "e.db"},
            "ait": {"platform": "aitroop", "sandbox": "a.db"},
        },
    }
    write_project(tmp_path, {"a.yaml": [
        doc("both", {"every": "1m"}, targets=["eng", "ait"], overrides={"ait": {"action": {"prompt": "ait prompt"}}}),
        doc("ait-only", {"daily": "09:00"}, targets=["ait"]),
    ]}, config)  # fmt: skip
    window = ["--simulate", "2026-01-05..+3m"]
    default = schedctl(["run", *window], tmp_path)
    assert default.returncode == 0, default.stderr
    assert (
        "do both" in default.stdout and "tick skipped" not in default.stdout
    )  # engine's resolution
    ait = schedctl(["run", *window, "--target", "ait"], tmp_path)
    assert ait.returncode == 0, ait.stderr
    assert (
        "warning: both: aitroop target 'ait': every 1m: aitroop rejects intervals below 5 minutes"
        in ait.stderr
    )
    assert "tick skipped" in ait.stdout  # the target's platform picks the semantics
    both = schedctl(["--target", "eng", "run", "--target", "ait", *window], tmp_path)
    assert both.returncode == 1 and "one --target" in both.stderr


def test_invalid_files_stop_the_runner_with_file_and_line(tmp_path: Path) -> None:
    write_project(
        tmp_path, {"a.yaml": "name: bad\nschedule: {cron: '99 * * * *'}\naction: {prompt: x}\n"}
    )
    out = schedctl(["run", "--once", "bad"], tmp_path)
    assert (
        out.returncode == 1
        and "schedules/a.yaml:2:" in out.stderr
        and "Traceback" not in out.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--once", "nope"], "no schedule named 'nope'"),
        (["--simulate", "tomorrow"], "expected FROM..UNTIL"),
        (["--executor", "magic"], "unknown --executor"),
        (["--once", "a", "--watch"], "do not go together"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    write_project(tmp_path, {"a.yaml": [doc("a", {"every": "1h"})]})
    out = schedctl(["run", *args], tmp_path)
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr


def test_two_runners_on_one_database(tmp_path: Path, runner_procs: list[RunnerProcess]) -> None:
    write_project(tmp_path, {"a.yaml": [doc("a", {"every": "1s"})]})
    first = RunnerProcess(tmp_path, [])
    runner_procs.append(first)
    first.wait_for(lambda: bool(db_rows(tmp_path / ".schedctl" / "runs.db")), what="a run")
    second = schedctl(["run"], tmp_path, timeout=30)
    assert second.returncode == 1 and "another `schedctl run` is using" in second.stderr
    assert first.terminate() == 0
    assert (
        max(
            Counter(
                r["scheduled_for"] for r in db_rows(tmp_path / ".schedctl" / "runs.db")
            ).values()
        )
        == 1
    )
