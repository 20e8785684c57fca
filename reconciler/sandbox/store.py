"""SQLite storage shared by both emulated platforms.

Each task and run is kept as the exact JSON the API returns, so a list is a concatenation of
stored strings (no decode/encode per row). The columns beside it are only what queries need:
the scope (engine instance slug, "" for aitroop), the creation order for stable pagination,
and the next run time, so stale ones can be found and recomputed.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import SandboxError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    next_run_at TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_scope ON tasks (scope, seq);
CREATE INDEX IF NOT EXISTS tasks_by_next_run ON tasks (scope, next_run_at);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task_id, seq);
CREATE INDEX IF NOT EXISTS runs_by_scope ON runs (scope, seq);
CREATE TABLE IF NOT EXISTS pending (
    run_seq INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    done_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_time ON pending (done_at);
"""


@dataclass(frozen=True)
class Page:
    """Stored JSON bodies in list order, and the sequence number to continue after (or None)."""

    bodies: list[str]
    next_after: int | None


class Store:
    """One connection behind a lock: simple, and fast enough for one uvicorn worker.

    The lock is re-entrant so that `batch()` can hold it, and one transaction, across many
    calls: the scheduler's ticks over a virtual week commit once."""

    def __init__(self, path: str | Path, platform: str, seed: int | None = None) -> None:
        self._lock = threading.RLock()
        self._in_batch = False
        self._seed = seed
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)  # e.g. .schedctl/
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('platform', ?)", (platform,)
            )
            stored = self._meta("platform")
            counter = self._meta("id_counter")
        except (sqlite3.Error, OSError) as exc:
            raise SandboxError(f"cannot open sandbox database {path}: {exc}") from exc
        if stored != platform:
            self._conn.close()
            raise SandboxError(
                f"sandbox database {path} belongs to the {stored} platform, not {platform}"
            )
        self._counter = int(counter or 0)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def wipe(self) -> None:
        """Forget every task and run, and restart the id sequence: a fresh sandbox."""
        with self._write() as conn:
            conn.execute("DELETE FROM pending")
            conn.execute("DELETE FROM runs")
            conn.execute("DELETE FROM tasks")
            conn.execute("DELETE FROM meta WHERE key IN ('id_counter', 'virtual_now')")
            self._counter = 0

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _execute(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        """One statement, its own transaction (autocommit): a third of the round trips of
        BEGIN / statement / COMMIT. A cascade runs inside the statement's transaction."""
        with self._lock:
            return self._conn.execute(sql, params)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Several statements in one transaction (the enclosing batch's, inside one)."""
        with self.batch():
            yield self._conn

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the store, and one transaction, for the block; nested blocks join it."""
        with self._lock:
            if self._in_batch:
                yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_batch = True
            try:
                yield
            except BaseException:
                self._in_batch = False
                self._conn.execute("ROLLBACK")
                raise
            self._in_batch = False
            self._conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self._execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def mint_id(self, prefix: str) -> str:
        """A fresh id. Under a seed the ids are a function of (seed, n), and n is persisted,
        so a restarted sandbox with the same seed continues the sequence instead of repeating it."""
        if self._seed is None:
            return prefix + secrets.token_hex(8)
        with self._lock:
            self._counter += 1
            n = self._counter
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('id_counter', ?)", (str(n),)
            )
        return prefix + hashlib.sha256(f"{self._seed}:{n}".encode()).hexdigest()[:16]

    # tasks

    def get_task(self, scope: str, task_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM tasks WHERE id = ? AND scope = ?", (task_id, scope)
            ).fetchone()
        return None if row is None else str(row[0])

    def put_task(self, scope: str, task_id: str, body: str, next_run_at: str | None) -> None:
        """Insert a task, or replace the body of an existing one (keeping its list position)."""
        self._execute(
            "INSERT INTO tasks (id, scope, next_run_at, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET next_run_at = excluded.next_run_at, "
            "body = excluded.body",
            (task_id, scope, next_run_at, body),
        )

    def delete_task(self, scope: str, task_id: str) -> bool:
        cur = self._execute("DELETE FROM tasks WHERE id = ? AND scope = ?", (task_id, scope))
        return cur.rowcount > 0

    def due_tasks(self, scope: str, now: str) -> list[str]:
        """Tasks whose stored next run is not after `now` (ISO strings compare in time order)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT body FROM tasks WHERE scope = ? AND next_run_at <= ?", (scope, now)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def due_everywhere(self, now: str, limit: int | None = None) -> list[tuple[str, str]]:
        """(scope, body) of every task due by `now`, the longest overdue first, then the
        oldest: the order a scheduler claims them in."""
        sql = "SELECT scope, body FROM tasks WHERE next_run_at <= ? ORDER BY next_run_at, seq" + (
            "" if limit is None else " LIMIT ?"
        )
        params: tuple[object, ...] = (now,) if limit is None else (now, limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def earliest_due(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT MIN(next_run_at) FROM tasks").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def all_tasks(self) -> list[tuple[str, str]]:
        """(scope, body) of every task; the caller picks (only at a scheduler's start)."""
        with self._lock:
            rows = self._conn.execute("SELECT scope, body FROM tasks ORDER BY seq").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def list_tasks(self, scope: str, after: int | None, limit: int | None) -> Page:
        """Oldest first, so pages stay stable while tasks are added at the end."""
        return self._page(
            "SELECT seq, body FROM tasks WHERE scope = ? AND seq > ? ORDER BY seq",
            (scope, -1 if after is None else after),
            limit,
        )

    # runs

    def record_run(
        self,
        scope: str,
        task_id: str,
        run_body: str,
        task_body: str | None,
        next_run_at: str | None,
        *,
        done: tuple[str, str] | None = None,
    ) -> None:
        """Store a run and the task's new state in one transaction; task_body None deletes
        the task (and, by cascade, its runs: a one-shot that retires itself). `done`: the run
        is still going, and (done_at, its final body) replaces it then (see finish_due)."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (task_id, scope, body) VALUES (?, ?, ?)",
                (task_id, scope, run_body),
            )
            if done is not None:
                conn.execute(
                    "INSERT INTO pending (run_seq, task_id, scope, done_at, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (cur.lastrowid, task_id, scope, *done),
                )
            if task_body is None:
                conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            else:
                conn.execute(
                    "UPDATE tasks SET body = ?, next_run_at = ? WHERE id = ?",
                    (task_body, next_run_at, task_id),
                )

    def finishing(self, now: str) -> list[tuple[int, str, str, str | None]]:
        """(run seq, scope, final run body, the task's body or None) of the runs still going
        that are done by `now`, in the order they end."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT p.run_seq, p.scope, p.body, t.body FROM pending p "
                "LEFT JOIN tasks t ON t.id = p.task_id WHERE p.done_at <= ? "
                "ORDER BY p.done_at, p.run_seq",
                (now,),
            ).fetchall()
        return [
            (int(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3])) for r in rows
        ]

    def earliest_done(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT MIN(done_at) FROM pending").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def finish_run(
        self,
        run_seq: int,
        run_body: str,
        task_id: str,
        task_body: str | None,
        next_run_at: str | None,
    ) -> None:
        """A run still going has ended: its final body, and its task's new state (if any)."""
        with self._write() as conn:
            conn.execute("DELETE FROM pending WHERE run_seq = ?", (run_seq,))
            conn.execute("UPDATE runs SET body = ? WHERE seq = ?", (run_body, run_seq))
            if task_body is not None:
                conn.execute(
                    "UPDATE tasks SET body = ?, next_run_at = ? WHERE id = ?",
                    (task_body, next_run_at, task_id),
                )

    def list_runs(
        self, scope: str, task_id: str | None, before: int | None, limit: int | None
    ) -> Page:
        """Most recent first; task_id None is the scope's whole log."""
        bound = (1 << 62) if before is None else before
        if task_id is None:
            sql = "SELECT seq, body FROM runs WHERE scope = ? AND seq < ? ORDER BY seq DESC"
            params: tuple[object, ...] = (scope, bound)
        else:
            sql = (
                "SELECT seq, body FROM runs WHERE scope = ? AND task_id = ? AND seq < ? "
                "ORDER BY seq DESC"
            )
            params = (scope, task_id, bound)
        return self._page(sql, params, limit)

    def _page(self, sql: str, params: tuple[object, ...], limit: int | None) -> Page:
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit + 1)  # one extra row tells whether another page exists
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            return Page([str(r[1]) for r in rows], int(rows[-1][0]))
        return Page([str(r[1]) for r in rows], None)
