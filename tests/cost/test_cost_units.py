"""The pure cost figures (reconciler/cost.py) against tables worked out by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reconciler import cost, timing
from reconciler.audit import Run
from reconciler.cost import ChangeCost, CostTotal, PlanCost
from reconciler.model import ScheduleSpec

UTC = timezone.utc
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def spec(**form: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(form)


@pytest.mark.parametrize(
    ("form", "zone", "per_day"),
    [
        ({"every": "5m"}, "UTC", 288),
        ({"every": "15m"}, "Europe/Rome", 96),
        ({"every": "1h30m"}, "UTC", 16),
        ({"every": "2d"}, "UTC", 0.5),
        ({"cron": "*/5 * * * *"}, "UTC", 288),
        ({"cron": "0 * * * *"}, "Europe/Rome", 24),  # DST days (23, 25 h) even out
        ({"cron": "0 9 * * 1-5"}, "America/New_York", 5 / 7),
        ({"cron": "@daily"}, "UTC", 1),
        ({"daily": "09:00"}, "Europe/Rome", 1),
        ({"weekly": {"at": "08:30", "days": ["mon", "wed", "fri"]}}, "UTC", 3 / 7),
        ({"monthly": {"at": "09:00", "day": 1}}, "UTC", 12 / 365.2425),
        ({"at": "2026-12-24T09:00:00Z"}, "UTC", 0),
    ],
)
def test_runs_per_day_of_each_form(form: dict[str, Any], zone: str, per_day: float) -> None:
    assert cost.runs_per_day(spec(**form), zone) == pytest.approx(per_day)


def _day_fires(form: dict[str, Any], zone: str, day: date) -> int:
    z = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=z)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), z)
    trigger = timing.trigger_for(spec(**form), zone)
    return len(trigger.fires_between(start - timedelta(microseconds=1), end - timedelta(seconds=1)))


@pytest.mark.parametrize(
    ("form", "spring", "autumn", "plain"),
    [
        ({"cron": "0 * * * *"}, 23, 25, 24),  # wall-clock hours: one missing, one twice
        ({"cron": "*/15 * * * *"}, 92, 100, 96),
        ({"every": "1h"}, 23, 25, 24),  # elapsed time: the local day is 23 or 25 hours long
        ({"daily": "09:00"}, 1, 1, 1),
    ],
)
def test_dst_days_and_the_average_day(
    form: dict[str, Any], spring: int, autumn: int, plain: int
) -> None:
    zone = "Europe/Rome"
    assert _day_fires(form, zone, date(2026, 3, 29)) == spring
    assert _day_fires(form, zone, date(2026, 10, 25)) == autumn
    assert _day_fires(form, zone, date(2026, 6, 1)) == plain
    # The budget's runs/day is the average day: the two DST days even out over the year.
    year = sum(_day_fires(form, zone, date(2026, 1, 1) + timedelta(days=d)) for d in range(365))
    assert year / 365 == pytest.approx(cost.runs_per_day(spec(**form), zone))


@pytest.mark.parametrize(
    ("form", "gap"),
    [
        ({"every": "5m"}, timedelta(minutes=5)),
        ({"cron": "0,5 9 * * *"}, timedelta(minutes=5)),
        ({"cron": "*/20 * * * *"}, timedelta(minutes=20)),
        ({"daily": "09:00"}, timedelta(days=1)),
        ({"weekly": {"at": "08:30", "days": ["mon", "tue"]}}, timedelta(days=1)),
        ({"at": "2026-12-24T09:00:00Z"}, None),
    ],
)
def test_shortest_gap(form: dict[str, Any], gap: timedelta | None) -> None:
    assert cost.shortest_gap(spec(**form), "UTC", NOW) == gap


def run(started: float, tokens: int | None, duration: int | None = 1000) -> Run:
    return Run(f"r{started}", "t1", "scheduler", "ok", started, None, duration, None, tokens)


def test_observe_takes_the_median_of_the_newest_runs() -> None:
    runs = [run(i, 100 * i, 10 * i) for i in range(1, 31)]  # tokens 100..3000, newest last
    seen = cost.observe(runs, 20)
    # The newest 20 are runs 11..30: the median of 1100..3000 is 2050.
    assert seen == cost.Observed(20, 2050.0, 205.0)
    odd = cost.observe([run(1, 500), run(2, None), run(3, 700), run(4, 900)], 3)
    assert odd.tokens == 800.0  # runs 2..4, the one without tokens left out
    assert cost.observe([run(1, None), run(2, None)], 20).tokens is None  # unknown, not 0
    assert cost.observe([], 20) == cost.Observed(0, None, None)


def test_unknown_tokens_are_never_zero() -> None:
    new = ChangeCost(0.0, 96.0)  # a create whose cost per run is unknown
    assert new.tokens_before == 0.0 and new.tokens_after is None
    gone = ChangeCost(24.0, 0.0)
    assert gone.tokens_before is None and gone.tokens_after == 0.0
    known = ChangeCost(24.0, 48.0, 1500.0, "observed", 20, per_1k_tokens=0.01, currency="USD")
    assert (known.tokens_before, known.tokens_after) == (36_000.0, 72_000.0)
    assert known.money(known.tokens_after) == pytest.approx(0.72)
    assert ChangeCost.from_dict(known.to_dict()) == known


def test_the_total_line() -> None:
    target = CostTotal(120, 216, 0, 1_200_000, 0, 0.01, "USD", known=1)
    plan = cost.total([target])
    assert plan is not None
    assert plan.line() == "+96 runs/day, ≈ +1.2 M tokens/day, ≈ +$12/day"
    assert CostTotal.from_dict(target.to_dict()) == target
    down = PlanCost(-48, -36_000, 1, -0.36, "EUR", known=1)
    assert (
        down.line()
        == "-48 runs/day, ≈ -36.0 k tokens/day, ≈ -€0.36/day, 1 change(s) of unknown tokens"
    )
    unknown = PlanCost(24, 0, 1)
    assert unknown.line() == "+24 runs/day, 1 change(s) of unknown tokens"  # no "+0 tokens"
    mixed = cost.total(
        [CostTotal(0, 1, 0, 1000, per_1k_tokens=1, currency="USD", known=1),
         CostTotal(0, 1, 0, 1000, per_1k_tokens=1, currency="EUR", known=1)]
    )  # fmt: skip
    assert mixed is not None and mixed.money is None  # two currencies are never added


@pytest.mark.parametrize(
    ("value", "text"),
    [(900, "900"), (12_500, "12.5 k"), (1_200_000, "1.2 M"), (3e9, "3.0 G")],
)
def test_tokens_text(value: float, text: str) -> None:
    assert cost.tokens_text(value) == text


def test_money_text() -> None:
    assert cost.money_text(12.0, "USD", sign=True) == "+$12"
    assert cost.money_text(0.354, "GBP") == "£0.35"
    assert cost.money_text(-3.4, "CHF") == "-3.40 CHF"
