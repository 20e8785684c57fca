"""`status`, `runs` and `next` as a person reads them: 100 columns, natural order, words."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from reconciler.render.live import render_runs, render_status
from reconciler.render.tables import natural_key, relative, when_cell, zone_of
from reconciler.status import StatusRow
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
NARROW = {"COLUMNS": "100"}


def row(key: str, **kw: object) -> StatusRow:
    fields: dict[str, object] = {
        "target": "prod", "where": "", "key": key, "title": key.title(), "enabled": True,
        "last_status": "ok", "last_run": "2026-06-01T09:00:00Z", "next_run": "2026-06-01T15:00:00Z",
        "errors": 0, "state": "in sync", "timezone": "Europe/Rome",
    }  # fmt: skip
    fields.update(kw)
    return StatusRow(**fields)  # type: ignore[arg-type]


def test_natural_order_and_relative_times() -> None:
    assert sorted(["task-10", "task-2", "Task-1"], key=natural_key) == [
        "Task-1",
        "task-2",
        "task-10",
    ]
    assert relative(NOW + timedelta(hours=3, minutes=5), NOW) == "in 3h"
    assert relative(NOW - timedelta(minutes=25), NOW) == "25m ago"
    assert relative(NOW + timedelta(days=3), NOW) == "in 3d"
    rome = zone_of("Europe/Rome")
    assert when_cell("2026-06-01T15:00:00Z", rome, NOW) == "in 3h (17:00 CEST)"
    assert when_cell(1780588800, rome, NOW) == "Jun 04 18:00 CEST"  # epoch seconds work too
    assert when_cell("2026-06-01T15:00:00Z", rome, NOW, wide=True) == (
        "2026-06-01T17:00:00+02:00 (2026-06-01 15:00 UTC)"
    )
    assert when_cell("soon\x1b[2J", rome, NOW) == "soon\x1b[2J"  # escaped by the table later


def test_status_says_why_a_row_needs_attention_sorted_naturally() -> None:
    rows = [
        row("task-10"),
        row("task-2", enabled=False, errors=5, last_status="error"),
        row("task-3", errors=2, last_status="error"),
        row("task-1", state="drifted"),
        row("task-4", enabled=False),
    ]
    text = render_status(rows, color=False, now=NOW)
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "target", "key", "title", "last run", "next run", "attention", "state",
    ]  # fmt: skip
    keys = [line.split()[1] for line in lines[1:]]
    assert keys == ["task-1", "task-2", "task-3", "task-4", "task-10"]
    by_key = {line.split()[1]: line for line in lines[1:]}
    assert "auto-disabled after 5 errors in a row" in by_key["task-2"]
    assert "failing: 2 errors in a row" in by_key["task-3"]
    assert "differs from the repo" in by_key["task-1"]
    assert "disabled" in by_key["task-4"] and "failing" not in by_key["task-4"]
    assert "error 3h ago" in by_key["task-2"] and "in 3h (17:00 CEST)" in by_key["task-2"]
    assert by_key["task-10"].split()[-1] == "sync"  # no attention words for a healthy row


def test_runs_show_start_times_in_the_schedule_zone_and_escape_errors() -> None:
    runs = [{"runId": "r-1", "schedule": "t-9", "triggerType": "manual", "status": "error",
             "startedAt": "2026-06-01T11:30:00Z", "durationMs": 12, "error": "bad\x1b[31m"}]  # fmt: skip
    text = render_runs(runs, color=False, zone="Europe/Rome", now=NOW)
    assert text.splitlines()[0] == "times in Europe/Rome"
    assert "30m ago (13:30 CEST)" in text and "bad\\x1b[31m" in text and "\x1b" not in text


def fits(text: str, width: int = 100) -> bool:
    return all(len(line) <= width for line in text.splitlines())


@pytest.mark.parametrize("platform", ["engine"])
def test_status_runs_and_next_fit_100_columns_without_cutting_keys(
    repo: Repo, platform: str
) -> None:
    long_title = "A title far longer than any table column would want to show in full, " * 2
    for i in (2, 10, 1):
        doc = prompt_doc(f"finance-weekly-report-{i}", daily="09:00")
        doc["title"] = f"{long_title}{i}"
        repo.write(f"r{i}", doc)
    assert run_cli(["apply", "--auto-approve"], cwd=repo.root).returncode == 0
    repo.write("r1", prompt_doc("finance-weekly-report-1", "Changed.", daily="09:00"))
    status = run_cli(["status"], cwd=repo.root, env=NARROW)
    assert status.returncode == 0, status.stderr
    assert fits(status.stdout), status.stdout
    lines = status.stdout.splitlines()
    keys = [line.split()[1] for line in lines[1:] if line.startswith("t ")]
    assert keys == [f"finance-weekly-report-{i}" for i in (1, 2, 10)]  # whole, in order
    assert "differs from" in lines[1] and lines[1].endswith("drifted")  # words may wrap
    assert re.search(r"in \d+h \(09:00 CES?T\)|\w{3} \d\d 09:00 CES?T", lines[-1])
    wide = run_cli(["status", "--wide"], cwd=repo.root)
    assert re.search(r"T09:00:00\+0[12]:00 \(\d{4}-\d\d-\d\d 0[78]:00 UTC\)", wide.stdout)
    assert long_title.strip() in wide.stdout  # unlimited when piped without COLUMNS

    key = "finance-weekly-report-2"
    assert run_cli(["trigger", key, "--target", "t"], cwd=repo.root).returncode == 0
    runs = run_cli(["runs", key, "--target", "t"], cwd=repo.root, env=NARROW)
    assert runs.returncode == 0 and fits(runs.stdout), runs.stdout
    assert re.search(r"run\s+task\s+trigger\s+status\s+started", runs.stdout)
    assert re.search(r"now \(\d\d:\d\d CES?T\)|1m ago", runs.stdout)

    upcoming = run_cli(["next", key, "-n", "2", "--from", "2026-06-01T00:00:00Z"], cwd=repo.root,
                       env=NARROW)  # fmt: skip
    assert upcoming.returncode == 0 and fits(upcoming.stdout), upcoming.stdout
    assert "2026-06-01 Mon 09:00 CEST (+02:00)" in upcoming.stdout
    iso = run_cli(
        ["next", key, "-n", "1", "--from", "2026-06-01T00:00:00Z", "--wide"], cwd=repo.root
    )
    assert "2026-06-01T09:00:00+02:00" in iso.stdout and "2026-06-01T07:00:00+00:00" in iso.stdout
