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
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import SandboxError
from reconciler.transactions import transaction

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
"""


@dataclass(frozen=True)
class Page:
    """Stored JSON bodies in list order, and the sequence number to continue after (or None)."""

    bodies: list[str]
    next_after: int | None


class Store:
    """One connection behind a lock: simple, and fast enough for one uvicorn worker."""

    def __init__(self, path: str | Path, platform: str, seed: int | None = None) -> None:
        self._lock = threading.Lock()
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
            conn.execute("DELETE FROM runs")
            conn.execute("DELETE FROM tasks")
            conn.execute("DELETE FROM meta WHERE key = 'id_counter'")
            self._counter = 0

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _execute(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        """One statement, its own transaction (autocommit): a third of the round trips of
        BEGIN / statement / COMMIT. A cascade runs inside the statement's transaction."""
        with self._lock:
            return self._conn.execute(sql, params)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """Several statements in one transaction."""
        return transaction(self._conn, self._lock, "BEGIN IMMEDIATE")

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
    ) -> None:
        """Store a run and the task's new state in one transaction; task_body None deletes
        the task (and, by cascade, its runs: a one-shot that retires itself)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (task_id, scope, body) VALUES (?, ?, ?)",
                (task_id, scope, run_body),
            )
            if task_body is None:
                conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            else:
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
