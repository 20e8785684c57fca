"""Platform rules as pure functions."""

from __future__ import annotations

import pytest

from reconciler.errors import UsageError
from reconciler.platforms.aitroop.rules import RULES as AITROOP_RULES
from reconciler.platforms.engine.rules import RULES as ENGINE_RULES
from reconciler.runner.semantics import after_run, semantics_for_platform
from reconciler.runner.store import ScheduleState

from .conftest import T0, item

ENGINE = semantics_for_platform("engine")
AITROOP = semantics_for_platform("aitroop")


def state(**kw: object) -> ScheduleState:
    return ScheduleState("a", "s", "d", T0, **kw)  # type: ignore[arg-type]


def test_engine_max_retries_default_and_explicit() -> None:
    assert ENGINE.max_errors(item("a", {"every": "1m"}).schedule) == 3
    assert ENGINE.max_errors(item("a", {"every": "1m"}, max_retries=5).schedule) == 5
    assert ENGINE.max_errors(item("a", {"every": "1m"}, max_retries=0).schedule) == 1
    assert AITROOP.max_errors(item("a", {"every": "1m"}, max_retries=2).schedule) is None


def test_after_run() -> None:
    s = state(consecutive_errors=2)
    assert after_run(s, "ok", max_errors=3, retire_on_success=False).consecutive_errors == 0
    disabled = after_run(s, "error", max_errors=3, retire_on_success=False)
    assert (
        disabled.disabled and disabled.disabled_reason == "auto-disabled after 3 consecutive errors"
    )
    assert not after_run(s, "error", max_errors=None, retire_on_success=False).disabled
    assert after_run(s, "skipped", max_errors=1, retire_on_success=True) == s
    assert after_run(s, "interrupted", max_errors=1, retire_on_success=True) == s
    assert after_run(s, "ok", max_errors=1, retire_on_success=True).retired
    assert not after_run(s, "error", max_errors=9, retire_on_success=True).retired


def test_aitroop_minimum_and_sessions() -> None:
    short = item("a", {"every": "4m"}, history="fresh").schedule
    assert AITROOP.below_minimum(short) and not ENGINE.below_minimum(short)
    assert not AITROOP.below_minimum(item("a", {"every": "5m"}).schedule)
    assert not AITROOP.below_minimum(item("a", {"cron": "* * * * *"}).schedule)
    assert AITROOP.conversation(short) == "keep" and ENGINE.conversation(short) == "fresh"
    app = item("a", {"daily": "09:00"}, action={"app": {"id": "app_1"}}).schedule
    assert AITROOP.conversation(app) == "none" and ENGINE.conversation(app) == "keep"
    notes = AITROOP.notes(item("a", {"every": "1m"}, history="fresh", max_retries=2).schedule)
    assert notes == [
        "history: fresh: aitroop keeps one session per schedule; runs as keep",
        "max_retries: aitroop never auto-disables; ignored",
        "every 1m: below aitroop's 5-minute minimum; each tick is skipped and pushed 5 minutes forward",
    ]
    assert ENGINE.notes(short) == []


def test_platform_rules_come_from_the_registry() -> None:
    assert semantics_for_platform("aitroop").rules is AITROOP_RULES
    assert semantics_for_platform("engine").rules is ENGINE_RULES
    # A name no platform registers has no rules to borrow (a plugin's: tests/platforms).
    with pytest.raises(
        UsageError, match=r"unknown --semantics 'some-plugin' \(engine or aitroop\)"
    ):
        semantics_for_platform("some-plugin")
