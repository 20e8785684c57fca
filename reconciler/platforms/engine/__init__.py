"""engine: per-instance tasks with cron / interval / one-shot schedules and prompts.

provider.py   the REST provider (platform JSON <-> neutral documents) and the offline checks
rules.py      the scheduler's facts, the run rules `schedctl run` follows, `next`'s notes
sandbox.py    the emulated API (platforms/engine-scheduled-tasks.txt) on reconciler.sandbox
"""

from __future__ import annotations

from reconciler.platforms import InitTarget, Platform
from reconciler.platforms.engine.rules import FACTS, NOTES, RULES

PLATFORM = Platform(
    name="engine",
    provider_path="reconciler.platforms.engine.provider:EngineProvider",
    rules=RULES,
    next_notes=NOTES,
    init_target=InitTarget(
        "{platform: engine, url: https://engine.example.com, instance: acme, token_env: ENGINE_TOKEN}",
        "ENGINE_TOKEN",
    ),
    facts=FACTS,
    sandbox="reconciler.platforms.engine.sandbox:EngineApi",
    order=0,
)
