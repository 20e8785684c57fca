"""aitroop's scheduler as its document describes it (platforms/aitroop-schedules.txt).

A worker ticks roughly every 60 s and takes due tasks in batches of 50. Intervals below 5
minutes are refused (422), and one that drifted below is not run: "the scheduler pushes
next_run_at forward by 5 min and skips". Failures never disable a task ("they wait for the
next tick"); send_message keeps one session per schedule, run_app has none, and a run_app
whose required Connects are not all authorized fails without starting.

The sandbox's scheduler and `schedctl run --semantics aitroop` both apply these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from reconciler.platforms import Facts, RunRules

MIN_INTERVAL = timedelta(minutes=5)
TICK = timedelta(seconds=60)  # "roughly every 60 seconds"
BATCH = 50
FACTS = Facts(tick=TICK, batch=BATCH, min_interval=MIN_INTERVAL)
RULES = RunRules(
    default_max_retries=None,
    honours_max_retries=False,
    sessions="per-schedule",
    min_interval=MIN_INTERVAL,
    push_forward=MIN_INTERVAL,
)
# What the platform does differently from `schedctl next`'s preview, by schedule form.
NOTES: Mapping[str, str] = {
    "every": "aitroop counts intervals from the task's creation, not from a clock or anchor",
}


def missing_connections(missing: list[str]) -> str | None:
    """The run's error when Connects the app requires are not authorized, else None."""
    if not missing:
        return None
    return "Missing required connections: " + ", ".join(missing)
