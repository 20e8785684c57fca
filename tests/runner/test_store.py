"""The runs database: claims are exclusive, crashes become 'interrupted', state follows the rules."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from reconciler.errors import RunnerError
from reconciler.runner.postgres import PostgresRunStore
from reconciler.runner.semantics import after_run
from reconciler.runner.store import (
    GROUP_COMMIT_S,
    BatchRunStore,
    Claim,
    Offer,
    RunRecord,
    SqliteRunStore,
    SqlRunStore,
    list_runs,
)

from .conftest import T0


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteRunStore]:
    with SqliteRunStore(tmp_path / "runs.db") as s:
        s.sync_states([("a", "spec", "def"), ("b", "spec", "def")], T0)
        yield s


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlRunStore]:
    """The same semantics on both durable stores."""
    s: SqlRunStore
    if request.param == "sqlite":
        s = SqliteRunStore(tmp_path / "runs.db")
    else:
        s = PostgresRunStore(request.getfixturevalue("pg_url"))
    with s:
        s.sync_states([("a", "spec", "def"), ("b", "spec", "def")], T0)
        yield s


def test_wal_and_normal_sync(sqlite_store: SqliteRunStore, tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "runs.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_a_slot_is_claimed_once(store: SqlRunStore) -> None:
    slot = T0 + timedelta(seconds=1)
    first = store.claim("a", slot, "scheduler", "fresh", slot)
    assert isinstance(first, Claim)
    store.finish(first, "ok", output="", error=None, started_at=T0, completed_at=slot)
    assert store.claim("a", slot, "scheduler", "fresh", slot) is None  # the same slot again
    assert store.claim("a", T0, "scheduler", "fresh", slot) is None  # an earlier one
    assert store.states()["a"].last_slot == slot
    assert isinstance(
        store.claim("b", slot, "scheduler", "fresh", slot), Claim
    )  # other schedules are free


def test_a_running_schedule_is_skipped_but_its_slot_is_used(store: SqlRunStore) -> None:
    first = store.claim("a", T0 + timedelta(seconds=1), "scheduler", "keep", T0)
    assert isinstance(first, Claim)
    second = store.claim("a", T0 + timedelta(seconds=2), "scheduler", "keep", T0)
    assert isinstance(second, RunRecord) and second.status == "skipped"
    assert second.error is not None and first.run_id in second.error
    manual = store.claim("a", T0, "manual", "keep", T0)  # run-now while running: skipped too
    assert isinstance(manual, RunRecord) and manual.status == "skipped"
    assert store.states()["a"].last_slot == T0 + timedelta(seconds=2)


def test_recover_interrupts_running_rows_and_keeps_their_slots(
    tmp_path: Path, sqlite_store: SqliteRunStore
) -> None:
    slot = T0 + timedelta(seconds=5)
    claim = sqlite_store.claim("a", slot, "scheduler", "fresh", slot)
    assert isinstance(claim, Claim)
    sqlite_store.close()  # as if killed: the row stays 'running'
    again = SqliteRunStore(tmp_path / "runs.db")
    assert again.recover(slot + timedelta(seconds=1)) == [claim.run_id]
    run = again.get_run(claim.run_id)
    assert run is not None and run.status == "interrupted" and "stopped" in (run.error or "")
    assert again.claim("a", slot, "scheduler", "fresh", slot) is None


def test_conversations_keep_fresh_none(store: SqlRunStore) -> None:
    ids = []
    for i in range(3):
        c = store.claim("a", T0 + timedelta(seconds=i + 1), "scheduler", "keep", T0)
        assert isinstance(c, Claim)
        store.finish(c, "ok", output="", error=None, started_at=T0, completed_at=T0)
        ids.append(c.conversation_id)
    assert len(set(ids)) == 1 and ids[0] is not None and ids[0].startswith("conv_")
    fresh = []
    for i in range(2):
        c = store.claim("b", T0 + timedelta(seconds=i + 1), "scheduler", "fresh", T0)
        assert isinstance(c, Claim)
        store.finish(c, "ok", output="", error=None, started_at=T0, completed_at=T0)
        fresh.append(c.conversation_id)
    assert len(set(fresh)) == 2
    none = store.claim("b", T0 + timedelta(seconds=9), "scheduler", "none", T0)
    assert isinstance(none, Claim) and none.conversation_id is None


def test_turns_are_kept_per_conversation(store: SqlRunStore) -> None:
    c1 = store.claim("a", T0 + timedelta(seconds=1), "scheduler", "keep", T0, with_turns=True)
    assert isinstance(c1, Claim) and c1.turns == []
    store.finish(
        c1,
        "ok",
        output="hi",
        error=None,
        started_at=T0,
        completed_at=T0,
        turns=[("user", "q1"), ("assistant", "a1")],
    )
    c2 = store.claim("a", T0 + timedelta(seconds=2), "scheduler", "keep", T0, with_turns=True)
    assert isinstance(c2, Claim) and c2.turns == [("user", "q1"), ("assistant", "a1")]
    store.finish(
        c2,
        "ok",
        output="",
        error=None,
        started_at=T0,
        completed_at=T0,
        turns=[("user", "q2"), ("assistant", "a2")],
    )
    assert store.turns(c2.conversation_id or "") == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
    ]


def test_finish_applies_rules_and_says_so_in_the_error(store: SqlRunStore) -> None:
    rules = partial(after_run, max_errors=2, retire_on_success=False)
    records = []
    for i in range(2):
        c = store.claim("a", T0 + timedelta(seconds=i + 1), "scheduler", "fresh", T0)
        assert isinstance(c, Claim)
        records.append(
            store.finish(
                c, "error", output="", error="boom", started_at=T0, completed_at=T0, update=rules
            )
        )
    (_, s1), (second, s2) = records
    assert s1 is not None and s1.consecutive_errors == 1 and not s1.disabled
    assert s2 is not None and s2.disabled and s2.consecutive_errors == 2
    assert second.error == "boom; auto-disabled after 2 consecutive errors"
    assert second.schedule_disabled and [r.schedule_disabled for r in store.list_runs("a")] == [
        True,
        True,
    ]


def test_definition_changes_reset_state(store: SqlRunStore) -> None:
    rules = partial(after_run, max_errors=1, retire_on_success=False)
    c = store.claim("a", T0 + timedelta(seconds=1), "scheduler", "keep", T0)
    assert isinstance(c, Claim)
    store.finish(c, "error", output="", error="x", started_at=T0, completed_at=T0, update=rules)
    later = T0 + timedelta(hours=1)
    same = store.sync_states([("a", "spec", "def")], later)["a"]
    assert same.disabled and same.seen_at == T0
    prompt_edit = store.sync_states([("a", "spec", "def2")], later)["a"]
    assert not prompt_edit.disabled and prompt_edit.consecutive_errors == 0
    assert prompt_edit.seen_at == T0 and prompt_edit.last_slot == T0 + timedelta(seconds=1)
    assert prompt_edit.conversation_id == c.conversation_id
    timing_edit = store.sync_states([("a", "spec2", "def3")], later)["a"]
    assert timing_edit.seen_at == later and timing_edit.last_slot == T0 + timedelta(seconds=1)


def test_output_column_is_capped(store: SqlRunStore) -> None:
    c = store.claim("a", T0 + timedelta(seconds=1), "scheduler", "fresh", T0)
    assert isinstance(c, Claim)
    record, _ = store.finish(
        c, "ok", output="x" * 1_000_005, error=None, started_at=T0, completed_at=T0
    )
    assert len(record.output) == 1_000_000


def test_list_runs_reads_only_and_filters(tmp_path: Path, sqlite_store: SqliteRunStore) -> None:
    store = sqlite_store
    for key in ("a", "b", "a"):
        c = store.claim(key, T0, "manual", "fresh", T0)
        assert isinstance(c, Claim)
        store.finish(
            c,
            "ok",
            output=key,
            error=None,
            started_at=T0,
            completed_at=T0 + timedelta(milliseconds=7),
        )
    runs = list_runs(tmp_path / "runs.db", None, 20)
    assert [r.schedule for r in runs] == ["a", "b", "a"][::-1]
    assert [r.schedule for r in list_runs(tmp_path / "runs.db", "a", 1)] == ["a"]
    assert runs[0].duration_ms == 7 and runs[0].to_dict()["trigger"] == "manual"
    with pytest.raises(RunnerError, match="no runs database"):
        list_runs(tmp_path / "missing.db")


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "runs.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunnerError, match="runs database"):
        SqliteRunStore(bad)


def test_an_in_memory_batch_store_keeps_state_but_no_history() -> None:
    with BatchRunStore(None) as store:
        store.sync_states([("a", "s", "d")], T0)
        claim = store.claim("a", T0 + timedelta(seconds=1), "scheduler", "keep", T0)
        assert isinstance(claim, Claim)
        store.finish(claim, "ok", output="", error=None, started_at=T0, completed_at=T0)
        assert store.claim("a", T0 + timedelta(seconds=1), "scheduler", "keep", T0) is None
        with pytest.raises(RunnerError, match="keeps no run history"):
            store.list_runs()


def test_a_burst_is_claimed_in_one_call_and_a_foreign_row_still_wins(store: SqlRunStore) -> None:
    slot = T0 + timedelta(seconds=1)
    foreign = RunRecord("run_foreign", "a", "scheduler", slot, T0, T0, 0, "ok", "", None, None)
    store.write_batch([foreign], [])  # a row the watermark never saw (as a simulation writes)
    got = store.claim_many(
        [Offer("a", slot, "scheduler", "none", T0), Offer("b", slot, "scheduler", "none", T0)]
    )
    assert got[0] is None and isinstance(got[1], Claim)
    assert [r.run_id for r in store.list_runs("a")] == ["run_foreign"]


def test_a_claim_given_back_can_be_claimed_again_and_nothing_before_it(store: SqlRunStore) -> None:
    store.pass_slot("a", T0 + timedelta(seconds=1))
    claim = store.claim("a", T0 + timedelta(seconds=5), "scheduler", "none", T0)
    assert isinstance(claim, Claim)
    store.release(claim)
    assert store.get_run(claim.run_id) is None
    # Every slot before it was handled when it was claimed: still handled.
    assert store.claim("a", T0 + timedelta(seconds=4), "scheduler", "none", T0) is None
    again = store.claim("a", T0 + timedelta(seconds=5), "scheduler", "none", T0)
    assert isinstance(again, Claim)
    assert store.claim("a", T0 + timedelta(seconds=1), "scheduler", "none", T0) is None
    assert store.try_start(again.run_id, T0, 3) == "started"
    store.release(again)  # started: not given back
    kept = store.get_run(again.run_id)
    assert kept is not None and kept.status == "running"


def test_group_commit_commits_claims_at_once_and_runs_within_moments(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SqliteRunStore(path, group_commit=True) as store:
        store.sync_states([("a", "s", "d")], T0)
        claim = store.claim("a", T0 + timedelta(seconds=1), "scheduler", "none", T0)
        assert isinstance(claim, Claim)
        other = sqlite3.connect(path)
        assert other.execute("SELECT status FROM runs").fetchall() == [("running",)]  # durable
        assert store.try_start(claim.run_id, T0 + timedelta(seconds=1), 3) == "started"
        store.finish(claim, "ok", output="x", error=None, started_at=T0, completed_at=T0)
        assert store.get_run(claim.run_id).status == "ok"  # type: ignore[union-attr]
        deadline = time.monotonic() + 2
        while other.execute("SELECT status FROM runs").fetchone()[0] != "ok":
            assert time.monotonic() < deadline, "the group was never committed"
            time.sleep(0.002)
        assert time.monotonic() < deadline - 2 + GROUP_COMMIT_S + 0.5
        other.close()
