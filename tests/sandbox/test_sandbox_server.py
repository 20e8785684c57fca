"""Storage and serving: state survives a restart, WAL, ids, the blocking `serve`."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.errors import SandboxError
from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.sandbox.fixtures import SandboxFactory

from .helpers import AITROOP, ENGINE, aitroop_task, client, engine_task


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    opts = SandboxOptions(platform="engine", db=db, seed=1)
    with running_sandbox(opts) as first, client(first) as c:
        task = c.post(ENGINE, json=engine_task()).json()
        run = c.post(f"{ENGINE}/{task['id']}/run").json()
        task = c.get(f"{ENGINE}/{task['id']}").json()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with running_sandbox(opts) as second, client(second) as c:
        assert c.get(ENGINE).json() == [task]
        assert c.get(f"{ENGINE}/{task['id']}/runs").json() == [run]
        # The seeded id sequence continues instead of starting over.
        again = c.post(ENGINE, json=engine_task()).json()
        assert again["id"] != task["id"]


def test_seeded_ids_are_reproducible(sandbox_factory: SandboxFactory) -> None:
    def ids(seed: int | None) -> list[str]:
        with client(sandbox_factory("aitroop", seed=seed)) as c:
            return [c.post(AITROOP, json=aitroop_task()).json()["id"] for _ in range(3)]

    assert ids(5) == ids(5)
    assert ids(5) != ids(6)
    assert ids(None) != ids(None)


def test_a_database_belongs_to_one_platform(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    with running_sandbox(SandboxOptions(platform="engine", db=db)):
        pass
    with (
        pytest.raises(SandboxError, match="belongs to the engine platform, not aitroop"),
        running_sandbox(SandboxOptions(platform="aitroop", db=db)),
    ):
        pass


def test_in_memory_database(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory("engine", db=":memory:")
    with client(sandbox) as c:
        c.post(ENGINE, json=engine_task())
        assert len(c.get(ENGINE).json()) == 1


def test_reset_gives_a_fresh_sandbox(
    engine_sandbox_server: object, sandbox_factory: SandboxFactory
) -> None:
    sandbox = sandbox_factory("engine", seed=9)
    with client(sandbox) as c:
        first = c.post(ENGINE, json=engine_task()).json()["id"]
        sandbox.set_faults(page_size=1, latency_ms=1)
        sandbox.reset()
        assert c.get(ENGINE).json() == []  # paging back off, tasks gone
        assert sandbox.request_log == [("GET", ENGINE)]
        assert c.post(ENGINE, json=engine_task()).json()["id"] == first


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="platform"):
        SandboxOptions(platform="dexter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ambiguous_rate"):
        SandboxOptions(platform="engine", ambiguous_rate=-0.1)
    with pytest.raises(ValueError, match="latency_ms"):
        SandboxOptions(platform="engine", latency_ms=-1)


def test_busy_port_is_a_sandbox_error(sandbox_factory: SandboxFactory) -> None:
    taken = int(sandbox_factory("engine").url.rsplit(":", 1)[1])
    with (
        pytest.raises(SandboxError, match="cannot listen"),
        running_sandbox(SandboxOptions(platform="engine"), port=taken),
    ):
        pass


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_the_url_first_and_stops_on_a_signal(
    tmp_path: Path, stop: signal.Signals
) -> None:
    db = tmp_path / "served.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.sandbox",
            "--platform",
            "aitroop",
            "--db",
            str(db),
            "--token",
            "t",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer t"}
        # The URL is usable the moment it is printed.
        r = httpx.post(url + AITROOP, json=aitroop_task(), headers=headers, timeout=5)
        assert r.status_code == 201
        assert httpx.get(url + AITROOP, timeout=5).status_code == 401
    finally:
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == "" and "Traceback" not in err
    assert sqlite3.connect(db).execute("SELECT count(*) FROM tasks").fetchone() == (1,)


def test_module_entry_point_rejects_bad_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.sandbox", "--platform", "engine", "--fail-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and "fail_rate must be between 0 and 1" in proc.stderr


def test_database_directory_is_created(tmp_path: Path) -> None:
    db = tmp_path / ".schedctl" / "sandbox.db"
    with running_sandbox(SandboxOptions(platform="engine", db=db)) as sandbox, client(sandbox) as c:
        assert c.post(ENGINE, json=engine_task()).status_code == 201
    assert db.exists()


def test_module_entry_point_reports_startup_errors(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    with running_sandbox(SandboxOptions(platform="engine", db=db)):
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler.sandbox", "--platform", "aitroop", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert (
        proc.stderr == f"error: sandbox database {db} belongs to the engine platform, not aitroop\n"
    )
    assert proc.stdout == ""


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, reconciler.sandbox as s; "
        "assert s.SandboxOptions(platform='engine').page_size is None; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'pydantic', 'starlette') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
