"""tinycron: a third platform, as a plugin would ship it, in a folder of its own.

Jobs with a 5-field cron, a zone and a prompt under /api/jobs. Registered for the tests by
tests/platforms/test_plugin_platform.py (an entry point in a temporary dist-info); nothing
outside this folder names it.

    provider.py   the REST provider and its offline checks
    rules.py      its facts, run rules and `next` notes
    sandbox.py    its emulated API on the shared sandbox server
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.platforms import InitTarget, Platform

from .rules import FACTS, NOTES, RULES

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxApi
    from reconciler.sandbox.service import SandboxState


def _sandbox(ctx: SandboxState) -> SandboxApi:
    from .sandbox import TinycronApi

    return TinycronApi(ctx)


PLATFORM = Platform(
    name="tinycron",
    provider_path=f"{__name__}.provider:TinycronProvider",
    rules=RULES,
    next_notes=NOTES,
    init_target=InitTarget(
        "{platform: tinycron, url: https://tinycron.example, token_env: TINYCRON_TOKEN}",
        "TINYCRON_TOKEN",
    ),
    facts=FACTS,
    sandbox=_sandbox,
)
