"""Helpers for the runner tests: schedules in memory, projects on disk, a runner process."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.model import Schedule
from reconciler.runner.executors import Outcome, RunContext
from tests.pgserver import PgServer, missing_reason

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)  # a Monday


@dataclass(frozen=True)
class Item:
    """The smallest Runnable: what loader.ResolvedSchedule offers the runner."""

    key: str
    schedule: Schedule
    timezone: str = "UTC"


def item(name: str, schedule: dict[str, Any], prompt: str | None = None, **fields: Any) -> Item:
    action = fields.pop("action", None) or {"prompt": prompt or f"do {name}"}
    return Item(
        name,
        Schedule.model_validate({"name": name, "schedule": schedule, "action": action, **fields}),
    )


@dataclass
class FakeExecutor:
    """Records every context; answers with `result(ctx)`; optionally blocks until released."""

    result: Callable[[RunContext], Outcome] = field(
        default=lambda ctx: Outcome(True, f"ran {ctx.key}")
    )
    block: threading.Event | None = None
    name: str = "fake"
    wants_turns: bool = False
    calls: list[RunContext] = field(default_factory=list)
    running: int = 0
    max_running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, ctx: RunContext) -> Outcome:
        with self._lock:
            self.calls.append(ctx)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.block is not None:
                self.block.wait(10)
            return self.result(ctx)
        finally:
            with self._lock:
                self.running -= 1

    def cancel_all(self) -> None:
        pass

    def close(self) -> None:
        pass


def failing(ctx: RunContext) -> Outcome:
    return Outcome(False, "", "boom")


# -- projects on disk and runner processes ----------------------------------------------------


def write_project(
    root: Path, files: dict[str, list[dict[str, Any]] | str], config: dict[str, Any] | None = None
) -> Path:
    """schedctl.yaml plus schedules/NAME.yaml files (a list of documents, or raw text)."""
    config = config or {
        "defaults": {"timezone": "UTC", "targets": ["local"]},
        "targets": {"local": {"platform": "engine", "sandbox": ".schedctl/sandbox.db"}},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "schedctl.yaml").write_text(yaml.safe_dump(config))
    for name, docs in files.items():
        write_schedule(root, name, docs)
    return root


def write_schedule(root: Path, name: str, docs: list[dict[str, Any]] | str) -> Path:
    path = root / "schedules" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = docs if isinstance(docs, str) else yaml.safe_dump_all(docs, sort_keys=False)
    tmp = path.with_suffix(".tmp")  # atomic: the watcher never reads half a file
    tmp.write_text(text)
    tmp.replace(path)
    return path


def doc(
    name: str, schedule: dict[str, Any], prompt: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "schedule": schedule,
        "action": {"prompt": prompt or f"do {name}"},
        **fields,
    }


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **extra}


def schedctl(
    args: list[str], cwd: Path, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd, env=cli_env(**env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


class RunnerProcess:
    """`schedctl run ...` in the background, output to files so nothing blocks on a pipe."""

    def __init__(self, cwd: Path, args: list[str], **env: str) -> None:
        self.cwd = cwd
        self.out_path = cwd / f"runner-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        self._out = self.out_path.open("w")
        self._err = self.err_path.open("w")
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", *args],
            cwd=cwd, env=cli_env(**env), stdout=self._out, stderr=self._err,
        )  # fmt: skip

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition"
    ) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"runner exited ({self.proc.returncode}) before {what}:\n{self.stderr()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.stderr()}")

    def terminate(self, timeout: float = 15.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.close(timeout)

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL
        self.close()

    def close(self, timeout: float = 15.0) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            self._out.close()
            self._err.close()
        return code


@pytest.fixture
def runner_procs() -> Iterator[list[RunnerProcess]]:
    """Every background runner a test starts is killed at its end, whatever happened."""
    procs: list[RunnerProcess] = []
    yield procs
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
            p.close()


def db_rows(
    db: Path, sql: str = "SELECT * FROM runs ORDER BY rowid", params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """Read the runs database the way another process would, while the runner writes."""
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        con.close()


def ts(text: str | None) -> float:
    assert text is not None
    return datetime.fromisoformat(text).timestamp()


# -- a throw-away PostgreSQL ------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One server for the session (initdb and pg_ctl in a temporary directory, loopback)."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.database(f"t_{secrets.token_hex(6)}")


def pg_rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read the PostgreSQL runs database as another process would, while runners write."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        try:
            cur = conn.execute(sql, params)
        except psycopg.errors.UndefinedTable:  # no runner has created the schema yet
            return []
        return list(cur.fetchall()) if cur.description is not None else []
