"""kill -9 during runs and restart, 20 times, no slot doubled or lost: that suite is
tests/runner/test_kill9.py (not repeated here). This only guards its shape, so the 20-cycle run
the reliability issue asks for cannot quietly shrink."""

from __future__ import annotations

import tests.runner.test_kill9 as kill9


def test_the_kill9_suite_keeps_its_slow_twenty_cycle_variant() -> None:
    marks = {m.name: m for m in kill9.test_kill9_restart_many_times.pytestmark}  # type: ignore[attr-defined]
    assert "slow" in marks
    assert marks["parametrize"].args == ("cycles", [20])  # 21 sessions, 20 ended by SIGKILL
