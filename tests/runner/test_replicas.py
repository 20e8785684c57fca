"""Replicas on one PostgreSQL: exclusive claims, the shared --max-concurrent, leases and
takeover, schema versions in both databases, and `schedctl run --store` as users run it."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.errors import RunnerError
from reconciler.runner.postgres import PostgresRunStore, has_password, redact
from reconciler.runner.store import (
    _SQLITE_STEPS,
    SCHEMA_VERSION,
    Claim,
    RunRecord,
    SqliteRunStore,
    list_runs,
)

from .conftest import T0, RunnerProcess, doc, pg_rows, schedctl, write_project

S = timedelta(seconds=1)


def test_each_slot_is_claimed_once_across_replicas(pg_url: str) -> None:
    """Three stores (three connections) offer the same 200 slots at once: one claim each."""
    keys = [f"s{i}" for i in range(10)]
    slots = [T0 + i * S for i in range(1, 21)]
    stores = [PostgresRunStore(pg_url) for _ in range(3)]
    won: list[list[Claim | RunRecord]] = [[] for _ in stores]
    barrier = threading.Barrier(len(stores))

    def offer(i: int) -> None:
        store = stores[i]
        store.join("runner", 30)
        store.sync_states([(k, "spec", "def") for k in keys], T0)
        barrier.wait()
        for slot in slots:
            for key in keys:
                got = store.claim(key, slot, "scheduler", "none", slot, def_hash=f"v{i}")
                if got is not None:  # a run, or a skip when another's run of it is still open
                    won[i].append(got)
                if isinstance(got, Claim):
                    store.finish(
                        got, "ok", output="", error=None, started_at=slot, completed_at=slot
                    )

    threads = [threading.Thread(target=offer, args=(i,)) for i in range(len(stores))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        claims = [(c.schedule, c.scheduled_for) for w in won for c in w]
        assert len(claims) == len(set(claims)) == len(keys) * len(slots)
        assert sum(1 for w in won if w) >= 2  # they really competed
        rows = pg_rows(pg_url, "SELECT run_id, replica, def_hash FROM runs")
        assert len(rows) == len(claims)
        owner = {s.replica: f"v{i}" for i, s in enumerate(stores)}
        assert all(owner[r["replica"]] == r["def_hash"] for r in rows)  # who claimed, with what
    finally:
        for s in stores:
            s.close()


def test_max_concurrent_holds_across_replicas(pg_url: str) -> None:
    stores = [PostgresRunStore(pg_url) for _ in range(3)]
    claims: list[tuple[PostgresRunStore, Claim]] = []
    for i, store in enumerate(stores):
        store.join("runner", 30)
        store.sync_states([(f"k{i}{j}", "spec", "def") for j in range(2)], T0)
        for j in range(2):
            c = store.claim(f"k{i}{j}", T0 + S, "scheduler", "none", T0)
            assert isinstance(c, Claim)
            claims.append((store, c))
    results = [store.try_start(c.run_id, T0 + S, 4) for store, c in claims]
    assert results.count("started") == 4 and results.count("busy") == 2
    done_store, done = next(
        (s, c) for (s, c), r in zip(claims, results, strict=True) if r == "started"
    )
    done_store.finish(done, "ok", output="", error=None, started_at=T0, completed_at=T0 + S)
    waiting = [(s, c) for (s, c), r in zip(claims, results, strict=True) if r == "busy"]
    assert [s.try_start(c.run_id, T0 + 2 * S, 4) for s, c in waiting] == ["started", "busy"]
    for s in stores:
        s.close()


def test_an_expired_lease_interrupts_only_that_replicas_runs(pg_url: str) -> None:
    dead, alive = PostgresRunStore(pg_url), PostgresRunStore(pg_url)
    dead.join("runner", 1.5)  # granted for 1 s
    alive.join("runner", 30)
    dead.sync_states([("a", "s", "d"), ("b", "s", "d")], T0)
    lost = dead.claim("a", T0 + S, "scheduler", "none", T0)
    mine = alive.claim("b", T0 + S, "scheduler", "none", T0)
    assert isinstance(lost, Claim) and isinstance(mine, Claim)
    assert alive.heartbeat() == (False, [])  # the dead one's lease still holds
    dead._db.close()  # as if killed: no renewal, no goodbye
    time.sleep(1.2)
    rejoined, interrupted = alive.heartbeat()
    assert not rejoined and interrupted == [lost.run_id]
    run = alive.get_run(lost.run_id)
    assert run is not None and run.status == "interrupted" and "lease ran out" in (run.error or "")
    ours = alive.get_run(mine.run_id)
    assert ours is not None and ours.status == "running"
    # Its slot stays claimed; the next one is anyone's.
    assert alive.claim("a", T0 + S, "scheduler", "none", T0) is None
    assert isinstance(alive.claim("a", T0 + 2 * S, "scheduler", "none", T0), Claim)
    states = {r.replica: r.state for r in alive.replicas()}
    assert states == {dead.replica: "expired", alive.replica: "alive"}
    alive.close()


def test_a_replica_presumed_dead_learns_it_and_serves_on(pg_url: str) -> None:
    slow, other = PostgresRunStore(pg_url), PostgresRunStore(pg_url)
    slow.join("runner", 1.5)
    other.join("runner", 30)
    slow.sync_states([("a", "s", "d")], T0)
    claim = slow.claim("a", T0 + S, "scheduler", "none", T0)
    assert isinstance(claim, Claim)
    time.sleep(1.2)  # paused past its lease
    assert other.heartbeat() == (False, [claim.run_id])
    assert slow.try_start(claim.run_id, T0 + S, 3) == "gone"  # taken over: not started blind
    assert slow.heartbeat() == (True, [])
    assert {r.replica: r.state for r in other.replicas()}[slow.replica] == "alive"
    slow.close()
    other.close()


def test_leave_interrupts_own_open_runs_only(pg_url: str) -> None:
    a, b = PostgresRunStore(pg_url), PostgresRunStore(pg_url)
    a.join("runner", 30)
    b.join("runner", 30)
    a.sync_states([("x", "s", "d"), ("y", "s", "d")], T0)
    ca = a.claim("x", T0 + S, "scheduler", "none", T0)
    cb = b.claim("y", T0 + S, "scheduler", "none", T0)
    assert isinstance(ca, Claim) and isinstance(cb, Claim)
    assert a.leave(T0 + 2 * S) == [ca.run_id]
    got = b.get_run(cb.run_id)
    assert got is not None and got.status == "running"
    a.close()
    b.close()


def test_postgres_schema_is_versioned_and_migrated_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            PostgresRunStore(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert pg_rows(pg_url, "SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
    pg_rows(pg_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(RunnerError, match="newer schedctl"):
        PostgresRunStore(pg_url)


def test_a_v1_sqlite_database_is_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    con = sqlite3.connect(path)
    con.executescript(_SQLITE_STEPS[1])  # exactly what schedctl wrote at schema 1
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO schedule_state VALUES ('a', 'spec', 'def', ?, ?, 0, 0, NULL, 0, 'conv_1')",
        ((T0).isoformat(timespec="microseconds"), (T0 + S).isoformat(timespec="microseconds")),
    )
    con.execute(
        "INSERT INTO runs (run_id, schedule, trigger, scheduled_for, status, output) "
        "VALUES ('run_old', 'a', 'scheduler', ?, 'running', '')",
        ((T0 + S).isoformat(timespec="microseconds"),),
    )
    con.commit()
    con.close()
    # A reader sees a v1 file as it is, without writing to it.
    (old,) = list_runs(path)
    assert old.run_id == "run_old" and old.replica is None and old.def_hash is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1

    with SqliteRunStore(path) as store:
        assert store.recover(T0 + 2 * S) == ["run_old"]  # a v1 runner's leftover: interrupted
        assert store.claim("a", T0 + S, "scheduler", "keep", T0) is None  # its slot stays used
        claim = store.claim("a", T0 + 2 * S, "scheduler", "keep", T0, def_hash="h2")
        assert isinstance(claim, Claim) and claim.conversation_id == "conv_1"
    con = sqlite3.connect(path)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    assert {"replica", "def_hash"} <= columns
    with pytest.raises(sqlite3.IntegrityError):  # the claim's uniqueness is in the schema now
        con.execute(
            "INSERT INTO runs (run_id, schedule, trigger, scheduled_for, status) "
            "VALUES ('dup', 'a', 'scheduler', ?, 'ok')",
            ((T0 + 2 * S).isoformat(timespec="microseconds"),),
        )
    con.execute("UPDATE schema_version SET version = 7")
    con.commit()
    con.close()
    with pytest.raises(RunnerError, match="newer schedctl"):
        SqliteRunStore(path)
    with pytest.raises(RunnerError, match="newer schedctl"):
        list_runs(path)


def test_urls_are_checked_and_redacted() -> None:
    assert has_password("postgresql://u:secret@h/db")
    assert has_password("postgresql://u@h/db?sslmode=require&password=secret")
    assert not has_password("postgresql://u@h:5433/db")
    assert "secret" not in redact("postgresql://u:secret@h:5433/db?password=secret")
    assert redact("postgresql://u:secret@h:5433/db") == "postgresql://u:***@h:5433/db"


# -- the command line ------------------------------------------------------------------------


def test_a_password_on_the_command_line_is_refused(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.yaml": [doc("tick", {"every": "1s"})]})
    out = schedctl(["run", "--store", "postgresql://me:hunter2@127.0.0.1:1/db"], tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "--store-env" in out.stderr and "password" in out.stderr
    assert not (tmp_path / ".schedctl").exists()  # nothing started, nothing written
    bad = schedctl(["run", "--store", "mysql://h/db"], tmp_path)
    assert bad.returncode == 1 and "postgresql://" in bad.stderr and "--db FILE" in bad.stderr
    unset = schedctl(["runs", "--local", "--store-env", "NO_SUCH_VAR_HERE"], tmp_path)
    assert (
        unset.returncode == 1 and "NO_SUCH_VAR_HERE" in unset.stderr and "not set" in unset.stderr
    )
    both = schedctl(["run", "--store-env", "X", "--db", "x.db"], tmp_path, X="postgresql://h/d")
    assert both.returncode == 1 and "give one" in both.stderr


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.yaml": [doc("tick", {"every": "1s"})]})
    out = schedctl(
        ["run", "--store-env", "URL"], tmp_path, URL="postgresql://me:hunter2@127.0.0.1:1/db"
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "cannot open the runs database postgresql://me:***@127.0.0.1:1/db" in out.stderr
    assert "hunter2" not in out.stderr


def test_replicas_in_a_rollout_each_fire_with_their_own_definition(
    tmp_path: Path, pg_url: str, runner_procs: list[RunnerProcess]
) -> None:
    """Two processes, two versions of the same schedule: every slot once, each row with the
    hash of the definition that fired it, and `runs --local --store` shows the same rows."""
    old = write_project(tmp_path / "old", {"a.yaml": [doc("tick", {"every": "1s"}, "version one")]})
    new = write_project(tmp_path / "new", {"a.yaml": [doc("tick", {"every": "1s"}, "version two")]})
    procs = [
        RunnerProcess(root, ["--store-env", "STORE", "--lease", "3"], STORE=pg_url)
        for root in (old, new)
    ]
    runner_procs.extend(procs)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        rows = pg_rows(pg_url, "SELECT replica FROM runs WHERE status = 'ok'")
        if len(rows) >= 8 and len({r["replica"] for r in rows}) == 2:
            break
        time.sleep(0.2)
    for p in procs:
        assert p.terminate() == 0, p.stderr()
    rows = pg_rows(pg_url, "SELECT * FROM runs ORDER BY seq")
    slots = Counter(r["scheduled_for"] for r in rows if r["trigger"] == "scheduler")
    assert slots and max(slots.values()) == 1
    assert {r["status"] for r in rows} <= {"ok", "interrupted"}
    by_hash = {r["def_hash"]: r["output"] for r in rows if r["status"] == "ok"}
    assert sorted(by_hash.values()) == ["version one", "version two"]
    replicas = pg_rows(pg_url, "SELECT replica, state FROM replicas")
    assert {r["state"] for r in replicas} == {"gone"} and len(replicas) == 2
    shown = schedctl(
        ["runs", "--local", "--store-env", "STORE", "-n", "1000", "--format", "json"],
        tmp_path, STORE=pg_url,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    listed = [(r["run_id"], r["status"], r["def_hash"]) for r in json.loads(shown.stdout)]
    assert listed == [(r["run_id"], r["status"], r["def_hash"]) for r in reversed(rows)]


def test_once_against_postgres_is_a_manual_run_with_a_lease(tmp_path: Path, pg_url: str) -> None:
    write_project(tmp_path, {"a.yaml": [doc("report", {"daily": "09:00"})]})
    out = schedctl(["run", "--once", "report", "--store-env", "STORE"], tmp_path, STORE=pg_url)
    assert out.returncode == 0, out.stderr
    (row,) = pg_rows(pg_url, "SELECT * FROM runs")
    assert row["trigger"] == "manual" and row["status"] == "ok" and row["output"] == "do report"
    (replica,) = pg_rows(pg_url, "SELECT * FROM replicas")
    assert replica["replica"] == row["replica"] and replica["kind"] == "once"
    assert replica["state"] == "gone"
    records = list_runs(None, url=pg_url)
    assert [r.run_id for r in records] == [row["run_id"]] and isinstance(records[0], RunRecord)
