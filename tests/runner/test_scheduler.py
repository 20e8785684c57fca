"""The scheduler loop on a virtual clock: when things fire, and the platform rules around them."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reconciler.clock import VirtualClock
from reconciler.errors import RunnerError, UsageError
from reconciler.runner import RunnerOptions, run_once, simulate
from reconciler.runner.executors import STOPPED_AT_SHUTDOWN, Outcome, RunContext
from reconciler.runner.report import next_run_text
from reconciler.runner.scheduler import Runnable, Runner
from reconciler.runner.store import Claim, RunRecord, SqliteRunStore

from .conftest import T0, FakeExecutor, Item, failing, item

S = timedelta(seconds=1)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def fires(records: Sequence[RunRecord], status: str | None = "ok") -> list[tuple[str, datetime]]:
    return [(r.schedule, r.scheduled_for) for r in records if status is None or r.status == status]  # type: ignore[misc]


def serve(
    schedules: Sequence[Runnable],
    start: datetime,
    until: datetime,
    options: RunnerOptions | None = None,
    executor: FakeExecutor | None = None,
) -> list[RunRecord]:
    """One runner 'session' on a virtual clock from `start` to `until` (like start, Ctrl-C)."""
    out: list[RunRecord] = []
    runner = Runner(
        schedules,
        options or RunnerOptions(),
        clock=VirtualClock(start),
        executor=executor or FakeExecutor(),
        on_run=out.append,
    )
    runner.start()
    try:
        runner.serve(until=until)
    finally:
        runner.shutdown()
    return out


def test_intervals_anchor_at_first_sight_on_whole_seconds() -> None:
    start = T0 + timedelta(milliseconds=400)
    records = simulate(
        [item("one", {"every": "1s"}), item("two", {"every": "2s"})],
        start,
        T0 + 5 * S,
        RunnerOptions(),
    )
    assert fires(records) == [
        ("one", T0 + S), ("one", T0 + 2 * S), ("two", T0 + 2 * S), ("one", T0 + 3 * S),
        ("one", T0 + 4 * S), ("two", T0 + 4 * S),  # T0 + 5s is UNTIL: out of the window
    ]  # fmt: skip


def test_a_slot_just_before_the_first_start_is_not_missed() -> None:
    anchored = item("anchored", {"every": "1s", "anchor": "2020-01-01T00:00:00.200Z"})
    got = fires(serve([anchored], T0 + timedelta(milliseconds=500), T0 + 2 * S))  # --missed once
    assert [t for _, t in got] == [T0 + timedelta(milliseconds=1200)]  # not T0+0.2s, as "missed"


def test_cron_presets_zones_anchors_and_one_shots() -> None:
    schedules = [
        Item("rome", item("rome", {"cron": "0 9 * * *"}).schedule, "Europe/Rome"),
        item("daily", {"daily": "12:30", "timezone": "America/New_York"}),
        item("anchored", {"every": "6h", "anchor": "2020-01-01T01:00:00Z"}),
        item("once", {"at": "2026-03-02T10:15:00Z"}),
        item("weekly", {"weekly": {"at": "08:00", "days": ["tue"]}}),
    ]
    got = fires(simulate(schedules, T0, T0 + timedelta(days=1), RunnerOptions()))
    assert got == [
        ("once", datetime.fromisoformat("2026-03-02T10:15:00+00:00")),
        ("anchored", datetime.fromisoformat("2026-03-02T13:00:00+00:00")),
        ("daily", datetime.fromisoformat("2026-03-02T17:30:00+00:00")),
        ("anchored", datetime.fromisoformat("2026-03-02T19:00:00+00:00")),
        ("anchored", datetime.fromisoformat("2026-03-03T01:00:00+00:00")),
        ("anchored", datetime.fromisoformat("2026-03-03T07:00:00+00:00")),
        ("rome", datetime.fromisoformat("2026-03-03T08:00:00+00:00")),  # same instant: by name
        ("weekly", datetime.fromisoformat("2026-03-03T08:00:00+00:00")),
    ]
    assert all(
        r.trigger == "scheduler"
        for r in simulate(schedules, T0, T0 + timedelta(days=1), RunnerOptions())
    )


def test_window_includes_from_and_excludes_until() -> None:
    """[FROM, UNTIL): T0 is 09:00, so the daily slots at FROM and at UNTIL are both edges."""
    got = fires(
        simulate([item("d", {"daily": "09:00"})], T0, T0 + timedelta(days=2), RunnerOptions())
    )
    assert [t for _, t in got] == [T0, T0 + timedelta(days=1)]
    # Windows laid end to end fire every slot once.
    days = [T0 + timedelta(days=n) for n in range(3)]
    joined = [
        t
        for a, b in itertools.pairwise(days)
        for _, t in fires(simulate([item("d", {"daily": "09:00"})], a, b, RunnerOptions()))
    ]
    assert joined == [T0, T0 + timedelta(days=1)]


def test_slots_exactly_at_from_fire_and_at_until_do_not() -> None:
    at_from = [
        item("cron", {"cron": "0 9 * * *"}),  # T0 is 09:00 UTC
        item("once", {"at": "2026-03-02T09:00:00Z"}),
        item("anchored", {"every": "1h", "anchor": "2026-03-02T07:00:00Z"}),
    ]
    got = fires(simulate(at_from, T0, T0 + timedelta(minutes=30), RunnerOptions()))
    assert got == [("anchored", T0), ("cron", T0), ("once", T0)]
    at_until = [
        item("cron", {"cron": "30 9 * * *"}),
        item("once", {"at": "2026-03-02T09:30:00Z"}),
        item("anchored", {"every": "30m", "anchor": "2026-03-02T08:30:00Z"}),
    ]
    assert fires(simulate(at_until, T0 + S, T0 + timedelta(minutes=30), RunnerOptions())) == []
    # One tick later the same slots are inside the window.
    inside = simulate(at_until, T0 + S, T0 + timedelta(minutes=30, microseconds=1), RunnerOptions())
    assert len(fires(inside)) == 3


def test_an_unanchored_interval_counts_from_from_and_does_not_fire_at_it() -> None:
    got = fires(
        simulate([item("i", {"every": "10m"})], T0, T0 + timedelta(minutes=30), RunnerOptions())
    )
    assert [t for _, t in got] == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]


def test_a_slot_at_from_fires_once_with_a_reused_database(tmp_path: Path) -> None:
    """Simulated slots count as fired: running the same window again fires nothing twice."""
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    schedules = [item("cron", {"cron": "0 * * * *"})]
    first = fires(simulate(schedules, T0, T0 + timedelta(hours=2), options))
    assert [t for _, t in first] == [T0, T0 + timedelta(hours=1)]
    # The next window starts at the previous UNTIL: its FROM slot was never fired, so it is.
    second = fires(simulate(schedules, T0 + timedelta(hours=2), T0 + timedelta(hours=3), options))
    assert [t for _, t in second] == [T0 + timedelta(hours=2)]
    assert fires(simulate(schedules, T0, T0 + timedelta(hours=3), options)) == []


def test_disabled_in_the_file_never_fires() -> None:
    assert (
        simulate([item("off", {"every": "1s"}, enabled=False)], T0, T0 + 5 * S, RunnerOptions())
        == []
    )


def test_engine_auto_disables_after_max_retries() -> None:
    records = serve(
        [item("flaky", {"every": "1s"}, max_retries=2), item("default", {"every": "1s"}), item("fine", {"every": "1s"})],
        T0, T0 + 10 * S, executor=FakeExecutor(lambda ctx: failing(ctx) if ctx.key != "fine" else Outcome(True)),
    )  # fmt: skip
    by = {k: [r for r in records if r.schedule == k] for k in ("flaky", "default", "fine")}
    assert [r.status for r in by["flaky"]] == ["error", "error"]
    assert by["flaky"][-1].error == "boom; auto-disabled after 2 consecutive errors"
    assert by["flaky"][-1].schedule_disabled
    assert len(by["default"]) == 3  # engine maxRetries default 3
    assert len(by["fine"]) == 10  # a flaky neighbour takes nobody down


def test_aitroop_never_auto_disables() -> None:
    records = serve(
        [item("flaky", {"every": "5m"}, max_retries=1)], T0, T0 + timedelta(minutes=30),
        RunnerOptions(semantics="aitroop"), FakeExecutor(failing),
    )  # fmt: skip
    assert [r.status for r in records] == ["error"] * 6 and not records[-1].schedule_disabled


def test_disabled_state_survives_restart_until_the_definition_changes(tmp_path: Path) -> None:
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    flaky = item("flaky", {"every": "1s"}, max_retries=1)
    assert len(serve([flaky], T0, T0 + 5 * S, options, FakeExecutor(failing))) == 1
    assert serve([flaky], T0 + 10 * S, T0 + 20 * S, options) == []
    edited = item("flaky", {"every": "1s"}, prompt="a better prompt", max_retries=1)
    assert [r.status for r in serve([edited], T0 + 30 * S, T0 + 33 * S, options)] == ["ok"] * 4


def test_delete_after_run_retires_after_success_only(tmp_path: Path) -> None:
    at = {"at": (T0 + 3 * S).isoformat()}
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    failed = serve(
        [item("remind", at, delete_after_run=True)], T0, T0 + 5 * S, options, FakeExecutor(failing)
    )
    assert [r.status for r in failed] == ["error"]
    with SqliteRunStore(tmp_path / "runs.db") as store:
        assert not store.states()["remind"].retired
    other = item("remind2", at, delete_after_run=True)
    assert [r.status for r in serve([other], T0, T0 + 5 * S, options)] == ["ok"]
    with SqliteRunStore(tmp_path / "runs.db") as store:
        assert store.states()["remind2"].retired
    # Retired: a later start neither fires it nor lets --once forget it happened.
    assert serve([other], T0 + 10 * S, T0 + 20 * S, options) == []


def test_a_retiring_one_shot_is_news_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.runner")
    once = item("remind", {"at": (T0 + 3 * S).isoformat()}, delete_after_run=True)
    flaky = item("flaky", {"every": "1s"}, max_retries=1)
    serve([once, flaky], T0, T0 + 5 * S, executor=FakeExecutor(lambda c: failing(c) if c.key == "flaky" else Outcome(True)))  # fmt: skip
    parked = {r.getMessage().split(":")[0]: r.levelno for r in caplog.records if "fires no more" in r.getMessage()}  # fmt: skip
    assert parked == {"remind": logging.INFO, "flaky": logging.WARNING}


def test_next_due_names_the_earliest_fire() -> None:
    runner = Runner(
        [item("later", {"every": "1h"}), item("soon", {"cron": "15 9 * * *"}), item("off", {"every": "1s"}, enabled=False)],
        RunnerOptions(), clock=VirtualClock(T0), executor=FakeExecutor(),
    )  # fmt: skip
    with runner:
        assert runner.next_due() == ("soon", T0 + timedelta(minutes=15))
    # Past ten minutes the wait is shown in whole minutes: a start that took a second says 1h.
    soon = ("soon", T0 + timedelta(hours=1))
    assert next_run_text(soon, T0 + 1.5 * S) == "next: soon at 2026-03-02T10:00:00Z (in 1h)"
    assert next_run_text(("soon", T0 + timedelta(seconds=90)), T0).endswith("(in 1m30s)")
    assert next_run_text(None, T0) == "nothing is due to fire"
    idle = Runner(
        [item("off", {"every": "1s"}, enabled=False)], RunnerOptions(), clock=VirtualClock(T0)
    )
    with idle:
        assert idle.next_due() is None


def test_conversation_ids(tmp_path: Path) -> None:
    schedules = [
        item("keep", {"every": "5m"}, history="keep"),
        item("fresh", {"every": "5m"}, history="fresh"),
        item("app", {"every": "5m"}, action={"app": {"id": "app_1", "input": {"x": 1}}}),
    ]
    conv = {
        k: [
            r.conversation_id
            for r in serve(schedules, T0, T0 + timedelta(minutes=15))
            if r.schedule == k
        ]
        for k in ("keep", "fresh", "app")
    }
    assert len(conv["keep"]) == 3 and len(set(conv["keep"])) == 1
    assert len(set(conv["fresh"])) == 3 and None not in conv["fresh"]
    aitroop = serve(schedules, T0, T0 + timedelta(minutes=15), RunnerOptions(semantics="aitroop"))
    by = {
        k: [r.conversation_id for r in aitroop if r.schedule == k] for k in ("keep", "fresh", "app")
    }
    assert len(set(by["fresh"])) == 1 and None not in by["fresh"]  # one session per schedule
    assert by["app"] == [None, None, None]  # run_app has no session
    # history: keep survives a restart: the same conversation continues.
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    one = serve(schedules[:1], T0, T0 + timedelta(minutes=5), options)
    two = serve(schedules[:1], T0 + timedelta(minutes=6), T0 + timedelta(minutes=10), options)
    assert one[0].conversation_id == two[0].conversation_id


def test_aitroop_skips_ticks_below_five_minutes_and_pushes_them_forward() -> None:
    records = serve(
        [item("tight", {"every": "1m"})],
        T0,
        T0 + timedelta(minutes=16),
        RunnerOptions(semantics="aitroop"),
    )
    assert [r.status for r in records] == ["skipped"] * 4
    assert [r.scheduled_for for r in records] == [T0 + timedelta(minutes=m) for m in (1, 6, 11, 16)]
    assert "minimum interval" in (records[0].error or "")
    engine = serve([item("tight", {"every": "1m"})], T0, T0 + timedelta(minutes=16))
    assert [r.status for r in engine] == ["ok"] * 16


def test_missed_slot_fires_once_after_downtime(tmp_path: Path) -> None:
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    schedules = [item("tick", {"every": "10s"})]
    first = serve(schedules, T0, T0 + 30 * S, options)
    assert [r.scheduled_for for r in first] == [T0 + 10 * S, T0 + 20 * S, T0 + 30 * S]
    # Down from 30s to 75s: 40, 50, 60 and 70 were missed; 70 fires once, at start.
    second = serve(schedules, T0 + 75 * S, T0 + 90 * S, options)
    assert [r.scheduled_for for r in second] == [T0 + 70 * S, T0 + 80 * S, T0 + 90 * S]
    assert second[0].started_at == T0 + 75 * S
    # A restart with nothing missed fires nothing early.
    third = serve(schedules, T0 + 95 * S, T0 + 100 * S, options)
    assert [r.scheduled_for for r in third] == [T0 + 100 * S]


def test_missed_skip_fires_nothing_and_does_not_remember_it_later(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    schedules = [item("tick", {"every": "10s"})]
    serve(schedules, T0, T0 + 10 * S, RunnerOptions(db_path=db))
    skipped = serve(schedules, T0 + 35 * S, T0 + 40 * S, RunnerOptions(db_path=db, missed="skip"))
    assert [r.scheduled_for for r in skipped] == [T0 + 40 * S]
    # The skipped slot 30 was handled: a later --missed once start does not fire it.
    again = serve(schedules, T0 + 41 * S, T0 + 45 * S, RunnerOptions(db_path=db))
    assert again == []


def test_a_run_interrupted_by_a_crash_is_not_fired_again(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    schedules = [item("tick", {"every": "10s"})]
    serve(schedules, T0, T0 + 5 * S, RunnerOptions(db_path=db))  # seen at T0, nothing fired yet
    with SqliteRunStore(
        db
    ) as store:  # a live runner claimed slot 10 and was killed before finishing it
        claim = store.claim("tick", T0 + 10 * S, "scheduler", "fresh", T0 + 10 * S)
        assert isinstance(claim, Claim)
    after = serve(schedules, T0 + 12 * S, T0 + 20 * S, RunnerOptions(db_path=db))
    assert [r.scheduled_for for r in after] == [T0 + 20 * S]
    with SqliteRunStore(db) as store:
        assert store.get_run(claim.run_id).status == "interrupted"  # type: ignore[union-attr]


def test_a_still_running_schedule_is_skipped_and_the_pool_is_bounded() -> None:
    gate = threading.Event()
    executor = FakeExecutor(block=gate)
    schedules = [item(f"s{i}", {"every": "1s"}) for i in range(5)]
    out: list[RunRecord] = []
    runner = Runner(
        schedules,
        RunnerOptions(),
        clock=VirtualClock(T0),
        executor=executor,
        on_run=out.append,
        inline=False,
    )
    runner.start()
    runner.serve(until=T0 + 3 * S)  # virtual time runs ahead while the workers are stuck
    assert eventually(lambda: executor.running == 3) and len(executor.calls) == 3
    skipped = [r for r in out if r.status == "skipped"]
    assert len(skipped) == 10 and {r.scheduled_for for r in skipped} == {T0 + 2 * S, T0 + 3 * S}
    gate.set()
    assert runner.wait_idle(10)
    runner.shutdown()
    assert executor.max_running == 3
    assert sorted(r.schedule for r in out if r.status == "ok") == [f"s{i}" for i in range(5)]


def test_shutdown_interrupts_runs_past_the_grace_period() -> None:
    gate = threading.Event()
    executor = FakeExecutor(
        block=gate, result=lambda ctx: Outcome(False, error=STOPPED_AT_SHUTDOWN, interrupted=True)
    )
    out: list[RunRecord] = []
    runner = Runner(
        [item("slow", {"every": "1s"})],
        RunnerOptions(grace=0.2),
        clock=VirtualClock(T0),
        executor=executor,
        on_run=out.append,
        inline=False,
    )
    executor.cancel_all = gate.set  # type: ignore[method-assign]
    runner.start()
    runner.serve(until=T0 + S)
    runner.shutdown()
    assert [r.status for r in out] == ["interrupted"]


def test_reload_recomputes_changed_stops_removed_starts_added() -> None:
    clock = VirtualClock(T0)
    out: list[RunRecord] = []
    a, b = item("a", {"every": "10s"}), item("b", {"every": "10s"})
    runner = Runner(
        [a, b], RunnerOptions(), clock=clock, executor=FakeExecutor(), on_run=out.append
    )
    runner.start()
    runner.serve(until=T0 + 15 * S)
    clock.advance_to(T0 + 17 * S)
    added, changed, removed = runner.reload(
        [item("a", {"every": "3s"}), item("c", {"every": "5s"})]
    )
    assert (added, changed, removed) == (["c"], ["a"], ["b"])
    assert runner.next_fire("a") == T0 + 20 * S  # re-anchored at the change (whole seconds)
    assert runner.next_fire("b") is None
    runner.reload([item("a", {"every": "3s"}), item("c", {"every": "5s"})])  # no change: no effect
    assert runner.next_fire("a") == T0 + 20 * S
    runner.serve(until=T0 + 25 * S)
    runner.shutdown()
    assert fires(out) == [
        ("a", T0 + 10 * S), ("b", T0 + 10 * S), ("a", T0 + 20 * S), ("c", T0 + 22 * S), ("a", T0 + 23 * S),
    ]  # fmt: skip


def test_once_is_manual_and_runs_disabled_schedules(tmp_path: Path) -> None:
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    schedules = [item("off", {"every": "1h"}, enabled=False)]
    record = run_once(schedules, "off", options)
    assert record.trigger == "manual" and record.status == "ok" and record.output == "do off"
    assert (tmp_path / "artifacts" / record.run_id / "output.txt").read_text() == "do off"
    with pytest.raises(UsageError, match="no schedule named 'nope'"):
        run_once(schedules, "nope", options)


def test_one_live_runner_per_database(tmp_path: Path) -> None:
    options = RunnerOptions(db_path=tmp_path / "runs.db")
    first = Runner([item("a", {"every": "1h"})], options, executor=FakeExecutor())
    first.start()
    try:
        with pytest.raises(RunnerError, match="another `schedctl run`"):
            Runner([item("a", {"every": "1h"})], options, executor=FakeExecutor()).start()
        assert run_once([item("a", {"every": "1h"})], "a", options).status == "ok"  # --once may
    finally:
        first.shutdown()


def test_executor_exceptions_become_errors() -> None:
    def explode(ctx: RunContext) -> Outcome:
        raise ValueError("bad")

    records = serve([item("a", {"every": "1s"})], T0, T0 + S, executor=FakeExecutor(explode))
    assert records[0].status == "error" and records[0].error == "ValueError: bad"


def test_simulate_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    simulate(
        [item("a", {"every": "1s"})], T0, T0 + 3 * S, replace(RunnerOptions(), executor="print")
    )
    assert list(tmp_path.iterdir()) == []


def test_simulate_with_a_db_writes_every_run_and_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.runner.store.FLUSH_EVERY", 7)  # flush in the middle too
    db = tmp_path / "sim.db"
    records = simulate(
        [item("a", {"every": "1s"}, history="keep")], T0, T0 + 20 * S, RunnerOptions(db_path=db)
    )
    with SqliteRunStore(db) as store:
        stored = store.list_runs("a", 100)
        assert [r.run_id for r in stored] == [r.run_id for r in reversed(records)]
        assert {r.status for r in stored} == {"ok"} and len(
            {r.conversation_id for r in stored}
        ) == 1
        assert store.states()["a"].last_slot == T0 + 19 * S  # T0 + 20s is UNTIL: not fired
