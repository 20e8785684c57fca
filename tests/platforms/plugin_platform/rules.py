"""tinycron's scheduler: a one-minute tick, one run at a time, and a job disables on its first
error (unlike engine's three and the neutral never), so a test can tell whose rules ran."""

from __future__ import annotations

from datetime import timedelta

from reconciler.platforms import Facts, RunRules

FACTS = Facts(tick=timedelta(minutes=1), max_concurrent=1)
RULES = RunRules(default_max_retries=1)
NOTES = {"cron": "tinycron fires on its one-minute tick, up to a minute late"}
