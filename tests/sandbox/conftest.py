"""The sandbox fixtures (tests/sandbox/fixtures.py), for this suite."""

from tests.sandbox.fixtures import (
    aitroop_sandbox,
    aitroop_sandbox_server,
    engine_sandbox,
    engine_sandbox_server,
    sandbox_factory,
)

__all__ = [
    "aitroop_sandbox",
    "aitroop_sandbox_server",
    "engine_sandbox",
    "engine_sandbox_server",
    "sandbox_factory",
]
