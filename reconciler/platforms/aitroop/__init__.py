"""aitroop: presets (interval / daily / weekly / monthly) and send_message / run_app actions.

provider.py   the REST provider (platform JSON <-> neutral documents) and the offline checks
rules.py      the scheduler's facts, the run rules `schedctl run` follows, `next`'s notes
sandbox.py    the emulated API (platforms/aitroop-schedules.txt) on reconciler.sandbox
"""

from __future__ import annotations

from reconciler.platforms import InitTarget, Platform
from reconciler.platforms.aitroop.rules import FACTS, NOTES, RULES

PLATFORM = Platform(
    name="aitroop",
    provider_path="reconciler.platforms.aitroop.provider:AitroopProvider",
    rules=RULES,
    next_notes=NOTES,
    init_target=InitTarget(
        "{platform: aitroop, url: https://app.aitroop.example, token_env: AT_USER_TOKEN}",
        "AT_USER_TOKEN",
    ),
    facts=FACTS,
    sandbox="reconciler.platforms.aitroop.sandbox:AitroopApi",
    order=1,
)
