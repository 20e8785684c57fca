"""engine's scheduler as its document describes it (platforms/engine-scheduled-tasks.txt).

It ticks every 30 s and claims at most MAX_CONCURRENT = 3 due tasks per tick, in parallel; the
rest wait for the next tick. A task auto-disables after `maxRetries` consecutive errors
(default 3); `keepHistory` reuses one conversation, otherwise each run gets a fresh one;
one-shots with `deleteAfterRun` are deleted after a success.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from reconciler.platforms import Facts, RunRules

MAX_CONCURRENT = 3
FACTS = Facts(tick=timedelta(seconds=30), max_concurrent=MAX_CONCURRENT)
RULES = RunRules(default_max_retries=3)
# What the platform does differently from `schedctl next`'s preview, by schedule form.
NOTES: Mapping[str, str] = {
    "every": "engine counts from anchorAt (or creation); a restart recomputes from the last run",
}
