"""The audit's overlaps: per-task run logs asked for while the listing still pages, and each
key judged as its logs come in; the result is the one the whole-target audit gives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.audit import Expected, Judge, Run, TargetInput, audit_target, in_window
from reconciler.forms import LiveTask
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from tests.audit.conftest import Clock, record, run_body, task_ids
from tests.audit.test_audit_cli import applied, audit_json, seed_daily
from tests.audit.test_audit_core import CASES, OWNER, SINCE, TICK, UNTIL
from tests.reconcile.conftest import Repo, prompt_doc
from tests.reliability.servers import Answer, Seen, forwarding

KEYS = ("alpha", "beta", "gamma")


@pytest.mark.parametrize(
    ("exp", "tasks", "runs", "found"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_keys_judged_one_by_one_in_any_order_give_the_whole_targets_audit(
    exp: list[Expected], tasks: list[LiveTask], runs: list[Run], found: list[tuple[str, str]]
) -> None:
    inp = TargetInput("prod", "engine", "engine instance 'acme'", TICK, exp, tasks, runs, OWNER)
    since, until = SINCE.timestamp(), UNTIL.timestamp()
    whole = audit_target(inp, since, until)
    by_task = in_window(runs, since, until)
    judge = Judge(replace(inp, runs=()), since, until)  # the runs come later, by key
    needs = judge.needs()
    for key in reversed(list(needs)):  # each with its own copies' runs only
        judge.judge_key(key, {t: by_task[t] for t in needs[key] if t in by_task})
    parts = judge.finish(by_task, inp)
    assert parts.to_dict() == whole.to_dict()
    assert sorted((f.kind, f.key) for f in parts.findings) == found


@pytest.fixture
def paged(clock: Clock) -> Iterator[RunningSandbox]:
    """aitroop listing two tasks a page (and run logs two rows a page)."""
    opts = SandboxOptions(platform="aitroop", seed=7, retry_after=0, clock=clock, page_size=2)
    with running_sandbox(opts) as running:
        yield running


def test_run_logs_are_asked_for_while_the_listing_still_pages(
    tmp_path: Path, paged: RunningSandbox
) -> None:
    repo = Repo(tmp_path, paged.url, "aitroop")
    applied(repo, *(prompt_doc(key, daily="09:00") for key in KEYS))
    for key in KEYS:
        seed_daily(paged, "aitroop", key)
    asked_for_runs = threading.Event()
    held: list[bool] = []  # per later listing page: whether a run log was asked for first

    def hold(seen: Seen) -> Answer | None:
        if "/runs" in seen.path:
            asked_for_runs.set()
        elif "cursor=" in seen.path:  # the listing's second page waits (at most 10 s)
            held.append(asked_for_runs.wait(10))
        return None

    with forwarding(paged.url, hold) as proxy:
        repo.config.write_text(repo.config.read_text().replace(paged.url, proxy.url))
        code, data, _ = audit_json(repo)
    assert held == [True]
    assert code == 0
    (target,) = data["targets"]  # type: ignore[misc]
    assert [(t["key"], t["health"], t["ran"]) for t in target["tasks"]] == [
        (key, "ok", 7)
        for key in KEYS  # the week holds 7 of the 9 slots
    ]


def test_a_row_naming_another_task_counts_for_that_task_as_before(
    tmp_path: Path, paged: RunningSandbox
) -> None:
    # beta's last slot has no run in its own log, but alpha's log holds one naming beta: the
    # audit reads the run as beta's (the row says so), as when the whole target is judged.
    repo = Repo(tmp_path, paged.url, "aitroop")
    applied(repo, *(prompt_doc(key, daily="09:00") for key in KEYS[:2]))
    seed_daily(paged, "aitroop", "alpha")
    slots = seed_daily(paged, "aitroop", "beta", skip=(8,))
    ids = task_ids(paged, "aitroop")
    stray = run_body("aitroop", "stray-1", ids["beta"], slots[8] + timedelta(seconds=12))
    record(paged, "aitroop", ids["alpha"], [stray])
    code, data, _ = audit_json(repo)
    (target,) = data["targets"]  # type: ignore[misc]
    assert code == 0, target["findings"]
    assert [(t["key"], t["ran"], t["runs"]) for t in target["tasks"]] == [
        ("alpha", 7, 7),
        ("beta", 7, 7),
    ]
