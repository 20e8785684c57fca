"""pytest fixtures: a live sandbox over real HTTP (uvicorn on 127.0.0.1), on a temporary database.

Import the fixtures by name into a conftest (tests/sandbox/conftest.py does). They live with the
tests, so the runtime package never imports pytest. Sandboxes start seeded (ids and faults
replay) and with Retry-After 0, so retrying clients do not sleep.

`engine_sandbox` / `aitroop_sandbox` hand each test a fresh sandbox: one server per platform
serves the whole session and is `reset()` before each test (stopping uvicorn takes ~0.2 s, too
slow to pay per test). `sandbox_factory` starts dedicated servers, for other options (token,
clock, faults from the start) or a restart on the same database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import SandboxOptions, running_sandbox
from reconciler.sandbox.server import RunningSandbox

SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[SandboxFactory]:
    """`make(platform, **options)` starts a sandbox that stops at the end of the test.

    Each call gets its own database unless `db` is given (pass the same `db` to two calls,
    one after the other, to test a restart).
    """
    with ExitStack() as stack:
        count = 0

        def make(platform: str, **options: Any) -> RunningSandbox:
            nonlocal count
            count += 1
            options.setdefault("db", tmp_path / f"{platform}-sandbox-{count}.db")
            options.setdefault("seed", 0)
            options.setdefault("retry_after", 0.0)
            return stack.enter_context(
                running_sandbox(SandboxOptions(platform=platform, **options))
            )

        yield make


def _session_server(factory: pytest.TempPathFactory, platform: str) -> Iterator[RunningSandbox]:
    db = factory.mktemp("sandbox") / f"{platform}.db"
    with running_sandbox(
        SandboxOptions(platform=platform, db=db, seed=0, retry_after=0.0)
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def engine_sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from _session_server(tmp_path_factory, "engine")


@pytest.fixture(scope="session")
def aitroop_sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from _session_server(tmp_path_factory, "aitroop")


@pytest.fixture
def engine_sandbox(engine_sandbox_server: RunningSandbox) -> RunningSandbox:
    """The engine API (/api/instances/{slug}/scheduled-tasks), empty, no faults, no token."""
    engine_sandbox_server.reset()
    return engine_sandbox_server


@pytest.fixture
def aitroop_sandbox(aitroop_sandbox_server: RunningSandbox) -> RunningSandbox:
    """The aitroop API (/api/scheduled-tasks), empty, no faults, no token."""
    aitroop_sandbox_server.reset()
    return aitroop_sandbox_server
