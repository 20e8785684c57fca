"""The sandbox fixtures live in the package (reconciler.sandbox.testing) so any suite can use them."""

from reconciler.sandbox.testing import (
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
