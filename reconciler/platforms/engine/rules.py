"""engine's scheduler as its document describes it (platforms/engine-scheduled-tasks.txt).

It ticks every 30 s and claims at most MAX_CONCURRENT = 3 due tasks per tick, in parallel; the
rest wait for the next tick. A task auto-disables after `maxRetries` consecutive errors
(default 3); `keepHistory` reuses one conversation, otherwise each run gets a fresh one;
one-shots with `deleteAfterRun` are deleted after a success. A restart recomputes an
interval's next fire from its last run (cron schedules keep theirs).

The sandbox's scheduler and `schedctl run --semantics engine` both apply these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from reconciler.platforms import Facts, RunRules

MAX_CONCURRENT = 3
TICK = timedelta(seconds=30)  # TICK_INTERVAL_MS = 30_000
FACTS = Facts(tick=TICK, max_concurrent=MAX_CONCURRENT)
RULES = RunRules(default_max_retries=3)
# What the platform does differently from `schedctl next`'s preview, by schedule form.
NOTES: Mapping[str, str] = {
    "every": "engine counts from anchorAt (or creation); a restart recomputes from the last run",
}


def next_after_restart(last_run: datetime, every: timedelta) -> datetime:
    """An interval's next fire once the engine restarted: counted from its last run, which
    moves it off its anchor's grid until that fire (a past one fires at the first tick)."""
    return last_run + every
