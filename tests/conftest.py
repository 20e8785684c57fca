"""Shared test helpers: run the CLI the way a user does."""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

# A terminal's size in the environment (pytest-xdist's workers set COLUMNS and LINES) would
# make every command under test fit its tables to it; a test that wants a width says so.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (a stable sort: the order is otherwise the files'). With two
    workers the two-minute replica soak then runs beside the rest, not after it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def run_cli(
    args: Sequence[str],
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`schedctl ARGS` as a real process (python -m reconciler), with NO_COLOR and no terminal."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=input,
    )  # fmt: skip


@pytest.fixture
def examples_copy(tmp_path: Path) -> Path:
    """A private copy of examples/ (its sandbox databases land inside it)."""
    import shutil

    dest = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns(".schedctl"))
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    return dest


@contextmanager
def serve_in_thread(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve a stdlib test server on a daemon thread; shut it down and close it after."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
