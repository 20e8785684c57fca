"""reconciler.timing: parsing, Vixie-cron DST semantics, intervals, one-shots, descriptions.

The property tests compare timing.py with tests/timing/timing_reference.py, a brute-force walk over
UTC minutes that shares no code with it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler import timing
from reconciler.timing import (
    CronError,
    CronExpr,
    CronTrigger,
    IntervalTrigger,
    OnceTrigger,
    describe_cron,
    describe_interval,
    format_duration,
    parse_cron,
    parse_duration,
    preset_to_cron,
)
from tests.timing.timing_reference import RefCron, ref_fires, transitions

UTC = timezone.utc
ZONES = (
    "America/Los_Angeles",
    "Europe/Rome",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
    "Europe/London",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Apia",
)
DST_ZONES = tuple(z for z in ZONES if transitions(z))


def iso(dts: list[datetime]) -> list[str]:
    return [d.isoformat() for d in dts]


def one(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def stamps(dts: list[datetime]) -> list[float]:
    # Same-tzinfo datetimes compare by wall time, ignoring fold: compare instants.
    return [d.timestamp() for d in dts]


def fires(expr: str, tz: str, after: str, n: int) -> list[str]:
    return iso(CronTrigger(expr, tz).fires(datetime.fromisoformat(after), n))


# --------------------------------------------------------------------------------------------
# The exact cases of the issue, and more DST corners
# --------------------------------------------------------------------------------------------


def test_issue_spring_forward_fixed_time_fires_after_the_gap() -> None:
    assert fires("30 2 * * *", "America/Los_Angeles", "2025-03-08T12:00-08:00", 2) == [
        "2025-03-09T03:00:00-07:00",
        "2025-03-10T02:30:00-07:00",
    ]


def test_issue_fall_back_fixed_time_fires_on_the_first_pass() -> None:
    assert fires("30 1 * * *", "America/Los_Angeles", "2025-11-01T12:00-07:00", 2) == [
        "2025-11-02T01:30:00-07:00",
        "2025-11-03T01:30:00-08:00",
    ]


def test_issue_fall_back_wildcard_fires_in_both_passes() -> None:
    assert fires("*/30 * * * *", "America/Los_Angeles", "2025-11-02T00:45-07:00", 5) == [
        "2025-11-02T01:00:00-07:00",
        "2025-11-02T01:30:00-07:00",
        "2025-11-02T01:00:00-08:00",
        "2025-11-02T01:30:00-08:00",
        "2025-11-02T02:00:00-08:00",
    ]


def test_issue_dom_or_dow() -> None:
    assert fires("0 0 1,15 * sun", "UTC", "2025-01-01T00:00+00:00", 5) == [
        "2025-01-05T00:00:00+00:00",
        "2025-01-12T00:00:00+00:00",
        "2025-01-15T00:00:00+00:00",
        "2025-01-19T00:00:00+00:00",
        "2025-01-26T00:00:00+00:00",
    ]


def test_results_are_in_the_trigger_zone() -> None:
    fire = CronTrigger("0 9 * * *", "Europe/Rome").next_after(datetime(2025, 6, 1, tzinfo=UTC))
    assert fire is not None and fire.tzinfo is ZoneInfo("Europe/Rome")
    assert fire.isoformat() == "2025-06-01T09:00:00+02:00"


def test_wildcard_gets_no_catch_up_for_the_skipped_hour() -> None:
    assert fires("*/30 * * * *", "America/Los_Angeles", "2025-03-09T01:00-08:00", 3) == [
        "2025-03-09T01:30:00-08:00",
        "2025-03-09T03:00:00-07:00",
        "2025-03-09T03:30:00-07:00",
    ]
    # Minute fixed, hour "*": a wildcard job, so 02:00 does not exist and is not caught up.
    assert fires("0 * * * *", "America/Los_Angeles", "2025-03-09T00:30-08:00", 2) == [
        "2025-03-09T01:00:00-08:00",
        "2025-03-09T03:00:00-07:00",
    ]


def test_several_fixed_times_in_the_gap_fire_once() -> None:
    assert fires("0,15,30 2,3 * * *", "America/Los_Angeles", "2025-03-09T00:00-08:00", 4) == [
        "2025-03-09T03:00:00-07:00",
        "2025-03-09T03:15:00-07:00",
        "2025-03-09T03:30:00-07:00",
        "2025-03-10T02:00:00-07:00",
    ]


def test_fixed_time_in_the_gap_keeps_its_weekday() -> None:
    # 2025-03-09 is a Sunday: the Sunday 02:30 job fires at 03:00 that day, Monday's does not.
    assert fires("30 2 * * 0", "America/Los_Angeles", "2025-03-08T00:00-08:00", 1) == [
        "2025-03-09T03:00:00-07:00"
    ]
    assert fires("30 2 * * 1", "America/Los_Angeles", "2025-03-08T00:00-08:00", 1) == [
        "2025-03-10T02:30:00-07:00"
    ]


def test_start_inside_the_repeated_hour_after_the_first_pass() -> None:
    for start in (
        "2025-11-02T01:45-07:00",  # first pass, after 01:30
        "2025-11-02T01:15-08:00",  # second pass, before the second 01:30
        "2025-11-02T01:30-07:00",  # exactly the first-pass fire: strictly after
    ):
        assert fires("30 1 * * *", "America/Los_Angeles", start, 1) == ["2025-11-03T01:30:00-08:00"]
    # Wildcard job from inside the second pass: the rest of the second pass.
    assert fires("*/20 1 * * *", "America/Los_Angeles", "2025-11-02T01:15-08:00", 3) == [
        "2025-11-02T01:20:00-08:00",
        "2025-11-02T01:40:00-08:00",
        "2025-11-03T01:00:00-08:00",
    ]


def test_start_given_in_another_zone_or_with_fold() -> None:
    second_pass = datetime(2025, 11, 2, 1, 10, tzinfo=ZoneInfo("America/Los_Angeles"), fold=1)
    trig = CronTrigger("*/20 * * * *", "America/Los_Angeles")
    assert iso(trig.fires(second_pass, 2)) == [
        "2025-11-02T01:20:00-08:00",
        "2025-11-02T01:40:00-08:00",
    ]
    as_utc = second_pass.astimezone(UTC)
    assert iso(trig.fires(as_utc, 2)) == iso(trig.fires(second_pass, 2))


def test_lord_howe_half_hour_shift() -> None:
    # 2025-10-05: 02:00 +10:30 -> 02:30 +11:00.
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2025-10-04T12:00+10:30", 2) == [
        "2025-10-05T02:30:00+11:00",
        "2025-10-06T02:15:00+11:00",
    ]
    assert fires("*/15 2 * * *", "Australia/Lord_Howe", "2025-10-05T00:00+10:30", 2) == [
        "2025-10-05T02:30:00+11:00",
        "2025-10-05T02:45:00+11:00",
    ]
    # 2025-04-06: 02:00 +11:00 -> 01:30 +10:30, so 01:30-01:59 happens twice.
    assert fires("45 1 * * *", "Australia/Lord_Howe", "2025-04-05T12:00+11:00", 2) == [
        "2025-04-06T01:45:00+11:00",
        "2025-04-07T01:45:00+10:30",
    ]
    assert fires("*/15 1-2 * * *", "Australia/Lord_Howe", "2025-04-06T01:20+11:00", 5) == [
        "2025-04-06T01:30:00+11:00",
        "2025-04-06T01:45:00+11:00",
        "2025-04-06T01:30:00+10:30",
        "2025-04-06T01:45:00+10:30",
        "2025-04-06T02:00:00+10:30",
    ]


def test_santiago_transitions_at_midnight() -> None:
    # Spring forward 2025-09-07: 00:00 -04 -> 01:00 -03, so 00:30 never shows.
    assert fires("30 0 * * *", "America/Santiago", "2025-09-05T12:00-04:00", 3) == [
        "2025-09-06T00:30:00-04:00",
        "2025-09-07T01:00:00-03:00",
        "2025-09-08T00:30:00-03:00",
    ]
    assert fires("30 * * * *", "America/Santiago", "2025-09-06T23:00-04:00", 2) == [
        "2025-09-06T23:30:00-04:00",
        "2025-09-07T01:30:00-03:00",
    ]
    # Fall back 2025-04-06: Sunday 00:00 -03 -> Saturday 23:00 -04.
    assert fires("30 23 * * *", "America/Santiago", "2025-04-05T12:00-03:00", 2) == [
        "2025-04-05T23:30:00-03:00",
        "2025-04-06T23:30:00-04:00",
    ]
    assert fires("30 * * * *", "America/Santiago", "2025-04-05T23:00-03:00", 3) == [
        "2025-04-05T23:30:00-03:00",
        "2025-04-05T23:30:00-04:00",
        "2025-04-06T00:30:00-04:00",
    ]


def test_repeated_stretch_crossing_midnight() -> None:
    # St John's fell back at 00:01 until 2011: 2010-11-07 00:01 NDT -> 2010-11-06 23:01 NST, so
    # 23:01-00:00 repeat and Sunday's first 00:00 comes before Saturday's second 23:30.
    after = "2010-11-06T22:45-02:30"
    assert fires("*/30 * * * *", "America/St_Johns", after, 6) == [
        "2010-11-06T23:00:00-02:30",
        "2010-11-06T23:30:00-02:30",
        "2010-11-07T00:00:00-02:30",
        "2010-11-06T23:30:00-03:30",
        "2010-11-07T00:00:00-03:30",
        "2010-11-07T00:30:00-03:30",
    ]
    assert fires("30 23 * * *", "America/St_Johns", after, 2) == [
        "2010-11-06T23:30:00-02:30",
        "2010-11-07T23:30:00-03:30",
    ]
    assert fires("0 0 * * *", "America/St_Johns", after, 2) == [
        "2010-11-07T00:00:00-02:30",
        "2010-11-08T00:00:00-03:30",
    ]
    # Starting in Sunday's first 00:00 minute, Saturday's second pass is still ahead.
    assert fires("*/30 * * * *", "America/St_Johns", "2010-11-07T00:00:30-02:30", 2) == [
        "2010-11-06T23:30:00-03:30",
        "2010-11-07T00:00:00-03:30",
    ]
    trig = CronTrigger("*/30 * * * *", "America/St_Johns")
    back = trig.iter_fires_before(datetime.fromisoformat("2010-11-07T00:15-03:30"))
    assert iso(_take(back, 4)) == [
        "2010-11-07T00:00:00-03:30",
        "2010-11-06T23:30:00-03:30",
        "2010-11-07T00:00:00-02:30",
        "2010-11-06T23:30:00-02:30",
    ]
    back = trig.iter_fires_before(datetime.fromisoformat("2010-11-06T23:15-03:30"))
    assert iso(_take(back, 2)) == ["2010-11-07T00:00:00-02:30", "2010-11-06T23:30:00-02:30"]


def test_apia_skipped_day() -> None:
    # Samoa skipped 2011-12-30 entirely: fixed-time jobs of that day fire when it ends.
    assert fires("0 9 * * *", "Pacific/Apia", "2011-12-29T12:00-10:00", 2) == [
        "2011-12-31T00:00:00+14:00",
        "2011-12-31T09:00:00+14:00",
    ]
    assert fires("0 */12 * * *", "Pacific/Apia", "2011-12-29T12:00-10:00", 2) == [
        "2011-12-31T00:00:00+14:00",
        "2011-12-31T12:00:00+14:00",
    ]


def test_prev_before() -> None:
    trig = CronTrigger("0 9 * * 1-5", "Europe/Rome")
    monday = datetime.fromisoformat("2025-06-09T08:00+02:00")
    assert one(trig.prev_before(monday)) == "2025-06-06T09:00:00+02:00"
    nine = datetime.fromisoformat("2025-06-09T09:00+02:00")
    assert one(trig.prev_before(nine)) == "2025-06-06T09:00:00+02:00"
    la = CronTrigger("30 1 * * *", "America/Los_Angeles")
    after_fall_back = datetime.fromisoformat("2025-11-02T01:45-08:00")
    assert one(la.prev_before(after_fall_back)) == "2025-11-02T01:30:00-07:00"
    spring = CronTrigger("30 2 * * *", "America/Los_Angeles")
    just_after = datetime.fromisoformat("2025-03-09T03:00:01-07:00")
    assert one(spring.prev_before(just_after)) == "2025-03-09T03:00:00-07:00"
    noon = datetime.fromisoformat("2025-03-10T12:00-07:00")
    assert iso(_take(spring.iter_fires_before(noon), 3)) == [
        "2025-03-10T02:30:00-07:00",
        "2025-03-09T03:00:00-07:00",
        "2025-03-08T02:30:00-08:00",
    ]


def _take(it: Iterator[datetime], n: int) -> list[datetime]:
    return list(itertools.islice(it, n))


def test_sub_second_instants() -> None:
    trig = CronTrigger("0 9 * * *", "UTC")
    nine = datetime(2025, 1, 1, 9, tzinfo=UTC)
    assert trig.next_after(nine - timedelta(microseconds=1)) == nine
    assert trig.next_after(nine + timedelta(microseconds=1)) == nine + timedelta(days=1)
    assert trig.prev_before(nine + timedelta(microseconds=1)) == nine
    assert trig.prev_before(nine) == nine - timedelta(days=1)


def test_sparse_and_impossible_dates() -> None:
    leap = CronTrigger("0 0 29 2 *", "UTC")
    assert iso(leap.fires(datetime(2096, 3, 1, tzinfo=UTC), 2)) == [
        "2104-02-29T00:00:00+00:00",  # 2100 is no leap year
        "2108-02-29T00:00:00+00:00",
    ]
    assert one(leap.prev_before(datetime(2104, 1, 1, tzinfo=UTC))) == "2096-02-29T00:00:00+00:00"
    never = CronTrigger("0 0 30 2 *", "UTC")
    assert never.next_after(datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert never.prev_before(datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert never.fires(datetime(2025, 1, 1, tzinfo=UTC), 3) == []
    near_end = CronTrigger("0 0 1 1 *", "UTC")
    assert iso(near_end.fires(datetime(9998, 6, 1, tzinfo=UTC), 5)) == ["9999-01-01T00:00:00+00:00"]
    assert one(near_end.prev_before(datetime(1, 6, 1, tzinfo=UTC))) == "0001-01-01T00:00:00+00:00"
    assert near_end.prev_before(datetime(1, 1, 1, tzinfo=UTC)) is None


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2025, 1, 1)
    for trig in (
        CronTrigger("0 9 * * *"),
        IntervalTrigger(timedelta(hours=1), datetime(2025, 1, 1, tzinfo=UTC)),
        OnceTrigger(datetime(2025, 1, 1, tzinfo=UTC)),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            trig.next_after(naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            trig.prev_before(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        IntervalTrigger(timedelta(hours=1), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        OnceTrigger(naive)
    with pytest.raises(ValueError, match="unknown time zone"):
        CronTrigger("0 9 * * *", "Mars/Olympus_Mons")


# --------------------------------------------------------------------------------------------
# Intervals and one-shots
# --------------------------------------------------------------------------------------------


def test_interval_is_elapsed_time_across_dst() -> None:
    la = ZoneInfo("America/Los_Angeles")
    trig = IntervalTrigger(timedelta(hours=1), datetime(2025, 3, 9, 0, 0, tzinfo=la))
    assert iso(trig.fires(datetime(2025, 3, 9, 0, 30, tzinfo=la), 3)) == [
        "2025-03-09T01:00:00-08:00",
        "2025-03-09T03:00:00-07:00",  # one hour after 01:00 PST
        "2025-03-09T04:00:00-07:00",
    ]
    rome = ZoneInfo("Europe/Rome")
    daily = IntervalTrigger(timedelta(days=1), datetime(2025, 3, 29, 9, 0, tzinfo=rome))
    assert iso(daily.fires(datetime(2025, 3, 29, 9, 0, tzinfo=rome), 2)) == [
        "2025-03-30T10:00:00+02:00",  # 24 h later, not 09:00 on the wall
        "2025-03-31T10:00:00+02:00",
    ]


def test_interval_next_prev_and_before_the_anchor() -> None:
    anchor = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    trig = IntervalTrigger(timedelta(minutes=15), anchor)
    assert trig.next_after(anchor) == anchor + timedelta(minutes=15)
    assert trig.prev_before(anchor) == anchor - timedelta(minutes=15)
    assert trig.next_after(anchor - timedelta(minutes=20)) == anchor - timedelta(minutes=15)
    assert trig.prev_before(anchor + timedelta(minutes=15)) == anchor
    assert trig.prev_before(anchor + timedelta(minutes=16)) == anchor + timedelta(minutes=15)
    t = datetime(2025, 1, 1, 5, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # 23:30 UTC the day before
    assert trig.next_after(t) == datetime(2024, 12, 31, 23, 45, tzinfo=UTC)
    assert trig.runs_per_day() == 96
    assert one(trig.next_after(anchor)) == "2025-01-01T00:15:00+00:00"
    with pytest.raises(ValueError):
        IntervalTrigger(timedelta(0), anchor)


@settings(max_examples=60, deadline=None)
@given(
    every=st.integers(1, 10**6).map(lambda s: timedelta(seconds=s)),
    anchor=st.datetimes(datetime(2000, 1, 1), datetime(2050, 1, 1), timezones=st.just(UTC)),
    t=st.datetimes(datetime(2000, 1, 1), datetime(2050, 1, 1), timezones=st.just(UTC)),
)
def test_interval_property(every: timedelta, anchor: datetime, t: datetime) -> None:
    trig = IntervalTrigger(every, anchor)
    nxt, prv = trig.next_after(t), trig.prev_before(t)
    assert nxt is not None and prv is not None
    assert prv < t < nxt or (prv < t and nxt > t)
    assert (nxt - anchor) % every == timedelta(0) and (prv - anchor) % every == timedelta(0)
    assert nxt - prv <= 2 * every
    assert nxt - t <= every and t - prv <= every


def test_once() -> None:
    at = datetime(2025, 12, 24, 9, 0, tzinfo=ZoneInfo("Europe/Rome"))
    trig = OnceTrigger(at)
    assert trig.next_after(at - timedelta(seconds=1)) == at
    assert trig.next_after(at) is None
    assert trig.prev_before(at) is None
    assert trig.prev_before(at + timedelta(seconds=1)) == at
    assert trig.fires(datetime(2025, 1, 1, tzinfo=UTC), 5) == [at]
    assert trig.runs_per_day() == 0


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("0 9 * * MON-FRI", "0 9 * * 1-5"),
        ("0 9 * * mon-fri", "0 9 * * 1-5"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 * JAN,jul *", "0 0 * 1,7 *"),
        ("5-5 5 5 5 5", "5 5 5 5 5"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0-59/15 * * * *", "*/15 * * * *"),
        ("0/15 * * * *", "*/15 * * * *"),
        ("0/15 9 * * *", "0,15,30,45 9 * * *"),
        ("10/20 * * * *", "10,30,50 * * * *"),
        ("1-10/3 * * * *", "1,4,7,10 * * * *"),
        ("0 */2 * * *", "0 */2 * * *"),
        ("0 0-23/2 * * *", "0 0,2,4,6,8,10,12,14,16,18,20,22 * * *"),
        ("0 0 * */3 *", "0 0 * */3 *"),
        ("0 0 * 1,4,7,10 *", "0 0 * */3 *"),
        ("0 0 * 1-12 *", "0 0 * * *"),
        ("0 0 1-31 * *", "0 0 * * *"),
        ("0 0 1-31 * 1", "0 0 * * *"),  # either may match, and every day is in 1-31
        ("0 0 * * 0-6", "0 0 * * *"),
        ("0 0 1 * 0-7", "0 0 * * *"),
        ("30 8 * * 5,3,1", "30 8 * * 1,3,5"),
        ("0 12 1,2,3,4,5,10 * *", "0 12 1-5,10 * *"),
        ("  0   9 * * *  ", "0 9 * * *"),
        ("0\t9 * * *", "0 9 * * *"),
        ("*/15,7 9 * * *", "*/15,7 9 * * *"),
        ("0 0 */2 * 1", "0 0 */2 * 1"),
        ("0 12 * * 6,0", "0 12 * * 0,6"),  # weekends, not */6
        ("0 0 * */6 *", "0 0 * 1,7 *"),
        ("0 0 * * */2", "0 0 * * */2"),
        ("0 0 * * 0,2,4,6", "0 0 * * */2"),
        ("0 0 1,15 * */6", "0 0 1,15 * */6"),  # the star must stay: both fields required
        ("0 0 5,9 * */7", "0 0 5,9 * */7"),
        ("*/30 * * * *", "*/30 * * * *"),
        ("0,30 * * * *", "*/30 * * * *"),
    ],
)
def test_parse_and_canonical(text: str, canonical: str) -> None:
    expr = CronExpr.parse(text)
    assert expr.canonical() == canonical
    assert parse_cron(canonical).canonical() == canonical


def test_parsed_sets_and_flags() -> None:
    e = CronExpr.parse("5-5 */6 1,15 JAN-MAR sun,7")
    assert e.minutes == {5} and e.hours == {0, 6, 12, 18}
    assert e.days == {1, 15} and e.months == {1, 2, 3} and e.weekdays == {0}
    assert (e.minute_star, e.hour_star, e.dom_star, e.dow_star) == (False, True, False, False)
    assert not e.is_fixed_time
    assert CronExpr.parse("0 9 * * *").is_fixed_time
    assert not CronExpr.parse("* 9 * * *").is_fixed_time
    assert CronExpr.parse("0-59 1 * * *").is_fixed_time  # text, not set, decides (Vixie)
    assert CronExpr.parse("0 9 * * MON-FRI") == CronExpr.parse("0 9 * * 1-5")
    assert CronExpr.parse("@daily") == CronExpr.parse("0 0 * * *")
    assert parse_cron("0 9 * * *") is parse_cron("0 9 * * *")  # cached
    assert CronExpr.parse("* * * * 1/2").weekdays == {1, 3, 5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty cron expression"),
        ("   ", "empty cron expression"),
        ("0 9 * *", "expected 5 fields"),
        ("0 0 9 * * *", "expected 5 fields .*got 6; seconds"),
        ("@reboot", "@reboot is not a schedule"),
        ("@fortnightly", "unknown macro"),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("0 5-1 * * *", "hour field: range '5-1' is reversed"),
        ("*/0 * * * *", "minute field: step 0"),
        ("*/x * * * *", "minute field: step 'x'"),
        ("1,,2 * * * *", "minute field: empty item"),
        ("0 0 * FOO *", "month field: 'FOO' is not a number or a month name"),
        ("0 0 * * funday", "day-of-week field: 'funday' is not a number or a weekday name"),
        ("JAN 0 * * *", "minute field: 'JAN' is not a number"),
        ("0 0 L * *", "day-of-month field: 'L' is not a number"),
        ("0 0 ? * *", "day-of-month field"),
        ("1- * * * *", "minute field: missing number"),
        ("-5 * * * *", "minute field: missing number"),
        ("٣ * * * *", "minute field"),  # non-ASCII digits
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        CronExpr.parse(text)
    assert issubclass(CronError, ValueError)


def test_direct_construction_is_validated() -> None:
    expr = CronExpr(
        minutes=frozenset({0}),
        hours=frozenset({9}),
        days=frozenset(range(1, 32)),
        months=frozenset(range(1, 13)),
        weekdays=frozenset({7}),
        minute_star=False,
        hour_star=False,
        dom_star=True,
        dow_star=False,
    )
    assert expr.weekdays == {0} and expr.canonical() == "0 9 * * 0"
    with pytest.raises(CronError, match="minute field: 60"):
        CronExpr(
            frozenset({60}), frozenset({0}), frozenset({1}), frozenset({1}), frozenset({0}),
            False, False, False, False,
        )  # fmt: skip


def test_canonical_keeps_what_changes_the_meaning() -> None:
    # Fixed-time vs wildcard differ under DST, so 0-23 must not become *.
    assert parse_cron("0 0-23 * * *").canonical() == "0 0-23 * * *"
    assert parse_cron("0 * * * *").canonical() == "0 * * * *"
    assert parse_cron("*/15 0-23 * * *").canonical() == "*/15 * * * *"
    assert parse_cron("0-59 1 * * *").canonical() == "0-59 1 * * *"
    # Both day fields restricted: either may match; one starting with * makes both required.
    assert parse_cron("0 0 1 * 1").canonical() == "0 0 1 * 1"
    assert parse_cron("0 0 */31 * 1").canonical() != "0 0 1 * 1"
    assert parse_cron("0 0 * * 1").canonical() == "0 0 * * 1"


def test_can_ever_fire() -> None:
    assert not parse_cron("0 0 31 2 *").can_ever_fire()
    assert not parse_cron("0 0 30 2 *").can_ever_fire()
    assert not parse_cron("0 0 31 4,6,9,11 *").can_ever_fire()
    assert parse_cron("0 0 29 2 *").can_ever_fire()
    assert parse_cron("0 0 31 2 1").can_ever_fire()  # or any Monday in February
    assert parse_cron("0 0 31 2,3 *").can_ever_fire()
    assert not parse_cron("0 0 30 2 */7").can_ever_fire()  # both required
    assert parse_cron("* * * * *").can_ever_fire()


def test_runs_per_day() -> None:
    assert parse_cron("*/15 * * * *").runs_per_day() == 96
    assert parse_cron("0 9 * * 1-5").runs_per_day() == pytest.approx(5 / 7)
    assert parse_cron("0 0 1 * *").runs_per_day() == pytest.approx(12 / 365.2425)
    assert CronTrigger("0 9,17 * * *", "Europe/Rome").runs_per_day() == 2
    assert parse_cron("0 0 30 2 *").runs_per_day() == 0


# --------------------------------------------------------------------------------------------
# Presets, durations, descriptions, specs
# --------------------------------------------------------------------------------------------


def test_preset_to_cron() -> None:
    assert preset_to_cron("daily", "09:00") == "0 9 * * *"
    assert preset_to_cron("weekly", "08:30", [1, 3, 5]) == "30 8 * * 1,3,5"
    assert preset_to_cron("weekly", "08:30", [5, 1, 3]) == "30 8 * * 1,3,5"
    assert preset_to_cron("weekly", "08:30", [1, 2, 3, 4, 5]) == "30 8 * * 1-5"
    assert preset_to_cron("weekly", "08:30", [7]) == "30 8 * * 0"
    assert preset_to_cron("monthly", "09:00", day=1) == "0 9 1 * *"
    assert preset_to_cron("monthly", "23:59", day=31) == "59 23 31 * *"
    assert parse_cron(preset_to_cron("daily", "00:05")).is_fixed_time
    bad: list[tuple[Any, str, list[int], int | None]] = [
        ("daily", "24:00", [], None),
        ("daily", "9am", [], None),
        ("weekly", "08:30", [], None),
        ("weekly", "08:30", [8], None),
        ("monthly", "09:00", [], None),
        ("monthly", "09:00", [], 32),
        ("yearly", "09:00", [], None),
    ]
    for kind, at, days, day in bad:
        with pytest.raises(ValueError):
            preset_to_cron(kind, at, days, day)


@pytest.mark.parametrize(
    "text", ["9:00", "09:00\n", " 09:00", "0\u0669:00", "24:00", "09:60", "0900"]
)
def test_one_clock_rule(text: str) -> None:
    # The presets, the schedule model and the aitroop sandbox read HH:MM by one rule: two
    # ASCII digits each, the whole text (before, preset_to_cron also took 9:00 and 09:00\n).
    with pytest.raises(ValueError, match="expected HH:MM"):
        timing.parse_clock(text)
    with pytest.raises(ValueError):
        preset_to_cron("daily", text)
    assert not re.fullmatch(timing.CLOCK_PATTERN, text)


def test_preset_cron_reads_documents_and_specs_alike() -> None:
    from reconciler.model import ScheduleSpec

    assert timing.parse_clock("23:59") == (23, 59)
    document = {"weekly": {"at": "08:30", "days": ["fri", "monday", 3, 7]}}
    spec = ScheduleSpec.model_validate(document)
    assert timing.preset_cron({"weekly": {"at": "08:30", "days": [5, "mon", 1, 3, 0]}}) == (
        "30 8 * * 0,1,3,5"
    )
    assert timing.preset_cron(document) == "30 8 * * 0,1,3,5"
    assert timing.preset_cron(vars(spec)) == "30 8 * * 0,1,3,5"
    assert timing.preset_cron({"daily": "09:05"}) == "5 9 * * *"
    assert timing.preset_cron({"monthly": {"at": "23:59", "day": 31}}) == "59 23 31 * *"
    assert timing.preset_cron({"cron": "0 9 * * *"}) is None
    assert timing.preset_cron({"every": "15m"}) is None
    assert timing.weekday_numbers(["sat", "sunday", 0, 7, "sun"]) == [0, 6]


def test_duration_seconds_is_the_schema_pattern() -> None:
    assert timing.duration_seconds("1d2h3m4s") == 93784
    assert timing.duration_seconds("") == 0
    for bad in ("1x", "1m1h", "15m\n", "\u0665m", "m"):
        assert timing.duration_seconds(bad) is None
        assert not re.fullmatch(timing.DURATION_PATTERN, bad)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("\u0665m")  # an Arabic-Indic five: the schema refuses it, so does this


@pytest.mark.parametrize(
    ("text", "seconds", "formatted"),
    [
        ("90s", 90, "1m30s"),
        ("15m", 900, "15m"),
        ("2h", 7200, "2h"),
        ("1d", 86400, "1d"),
        ("1h30m", 5400, "1h30m"),
        ("1h 30m", 5400, "1h30m"),
        ("90m", 5400, "1h30m"),
        ("1d2h3m4s", 93784, "1d2h3m4s"),
        ("0h5m", 300, "5m"),
    ],
)
def test_parse_duration(text: str, seconds: int, formatted: str) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert format_duration(timedelta(seconds=seconds)) == formatted


@pytest.mark.parametrize(
    "text", ["", "15", "m", "1.5h", "-5m", "5M", "30m1h", "1w", "0m", "0s", "five minutes"]
)
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10**8))
def test_duration_round_trip(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td)) == td


def test_format_duration_edges() -> None:
    assert format_duration(timedelta(0)) == "0s"
    with pytest.raises(ValueError):
        format_duration(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        format_duration(timedelta(milliseconds=1500))


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 0 1 * *", "At 00:00, on day 1 of the month"),
        ("30 8 * * 1,3,5", "At 08:30, only on Monday, Wednesday, and Friday"),
        ("* * * * *", "Every minute"),
        ("0 * * * *", "Every hour"),
        ("@hourly", "Every hour"),
        ("5 * * * *", "At 5 minutes past the hour"),
        ("0 */2 * * *", "Every 2 hours"),
        ("0 9,17 * * *", "At 09:00 and 17:00"),
        ("*/10 9-17 * * *", "Every 10 minutes, between 09:00 and 17:59"),
        ("0 9-17 * * *", "Every hour, between 09:00 and 17:59"),
        ("0 0 1,15 * sun", "At 00:00, on days 1 and 15 of the month, or on Sunday"),
        ("0 0 1 1 *", "At 00:00, on day 1 of the month, only in January"),
        ("0 9 * 6-8 *", "At 09:00, June through August"),
        ("0 9 * * 6,0", "At 09:00, only on Sunday and Saturday"),
        ("0 9 1-7 * *", "At 09:00, on days 1 through 7 of the month"),
        (
            "0 0 */2 * 1",
            "At 00:00, on days 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, and 31 of the month, if it is a Monday",
        ),
    ],
)
def test_describe_cron(expr: str, words: str) -> None:
    assert describe_cron(expr) == words


def test_describe_never_crashes() -> None:
    assert describe_cron("nonsense").startswith("Invalid cron expression: ")
    assert describe_cron("0,7,13,29,31,44 1,5,9,13,17,21 2-9 3 1,3") != ""
    assert describe_cron(parse_cron("@daily")) == "At 00:00"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (900, "Every 15 minutes"),
        (60, "Every minute"),
        (3600, "Every hour"),
        (7200, "Every 2 hours"),
        (5400, "Every 1 hour and 30 minutes"),
        (86400, "Every day"),
        (90, "Every 1 minute and 30 seconds"),
    ],
)
def test_describe_interval(seconds: int, words: str) -> None:
    assert describe_interval(timedelta(seconds=seconds)) == words


def test_trigger_for_and_describe_specs() -> None:
    from reconciler.model import ScheduleSpec

    def spec(**kw: object) -> ScheduleSpec:
        return ScheduleSpec.model_validate(kw)

    start = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # a Monday
    cron = timing.trigger_for(spec(cron="0 9 * * 1-5", timezone="Europe/Rome"), "America/Chicago")
    assert isinstance(cron, CronTrigger) and cron.tz == "Europe/Rome"
    assert one(cron.next_after(start)) == "2025-06-02T09:00:00+02:00"
    fallback = timing.trigger_for(spec(cron="0 9 * * *"), "America/Chicago")
    assert isinstance(fallback, CronTrigger) and fallback.tz == "America/Chicago"
    assert isinstance(timing.trigger_for(spec(cron="0 9 * * *")), CronTrigger)

    daily = timing.trigger_for(spec(daily="09:00", timezone="Asia/Kolkata"))
    assert isinstance(daily, CronTrigger) and daily.expr.canonical() == "0 9 * * *"
    weekly = timing.trigger_for(spec(weekly={"at": "08:30", "days": ["mon", "wed", "fri"]}))
    assert isinstance(weekly, CronTrigger) and weekly.expr.canonical() == "30 8 * * 1,3,5"
    monthly = timing.trigger_for(spec(monthly={"at": "09:00", "day": 1}))
    assert isinstance(monthly, CronTrigger) and monthly.expr.canonical() == "0 9 1 * *"

    anchored = timing.trigger_for(spec(every="15m", anchor="2025-01-01T00:07:00Z"))
    assert isinstance(anchored, IntervalTrigger)
    assert one(anchored.next_after(start)) == "2025-06-02T00:07:00+00:00"
    created = datetime(2025, 6, 1, 23, 50, tzinfo=UTC)
    from_creation = timing.trigger_for(spec(every="1h"), created_at=created)
    assert one(from_creation.next_after(start)) == "2025-06-02T00:50:00+00:00"
    from_epoch = timing.trigger_for(spec(every="1d"))
    assert one(from_epoch.next_after(start)) == "2025-06-03T00:00:00+00:00"

    once = timing.trigger_for(spec(at="2025-12-24T09:00:00+01:00"))
    assert isinstance(once, OnceTrigger)
    naive_once = timing.trigger_for(spec(at="2025-12-24T09:00:00", timezone="Europe/Rome"))
    assert one(naive_once.next_after(start)) == "2025-12-24T09:00:00+01:00"

    assert timing.describe(spec(cron="0 9 * * 1-5")) == "At 09:00, Monday through Friday"
    assert timing.describe(spec(every="15m")) == "Every 15 minutes"
    assert timing.describe(spec(daily="09:00")) == "At 09:00"
    assert (
        timing.describe(spec(weekly={"at": "08:30", "days": ["mon", "wed", "fri"]}))
        == "At 08:30, only on Monday, Wednesday, and Friday"
    )
    assert (
        timing.describe(spec(monthly={"at": "09:00", "day": 1}))
        == "At 09:00, on day 1 of the month"
    )
    assert timing.describe(spec(at="2025-12-24T09:00:00+01:00")).startswith(
        "Once, at 2025-12-24 09:00"
    )


# --------------------------------------------------------------------------------------------
# Property tests against the brute-force reference
# --------------------------------------------------------------------------------------------

# Local hours where the zones above change their clocks, so fixed-time jobs hit the gaps.
HOT_HOURS = (0, 1, 2, 3, 23)
HOT_MINUTES = (0, 15, 30, 44, 45, 59)


@dataclass(frozen=True)
class FieldSpec:
    index: int
    low: int
    high: int  # highest explicit value
    open_high: int  # where * and a/n stop
    names: tuple[str, ...] = ()
    hot: tuple[int, ...] = ()


FIELDS = (
    FieldSpec(0, 0, 59, 59, hot=HOT_MINUTES),
    FieldSpec(1, 0, 23, 23, hot=HOT_HOURS),
    FieldSpec(2, 1, 31, 31, hot=(1, 5, 15, 28, 29, 30, 31)),
    FieldSpec(
        3,
        1,
        12,
        12,
        names=("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    FieldSpec(4, 0, 7, 6, names=("sun", "mon", "tue", "wed", "thu", "fri", "sat"), hot=(0, 6, 7)),
)


@st.composite
def field_values(draw: st.DrawFn, f: FieldSpec) -> tuple[str, frozenset[int]]:
    """One field's text and the set it means, built side by side (no parser involved)."""

    def value() -> int:
        hot: bool = draw(st.booleans())
        if f.hot and hot:
            return draw(st.sampled_from(f.hot))
        return draw(st.integers(f.low, f.high))

    def spell(v: int) -> str:
        # Names for months and weekdays (not for 7, which would reverse a range like 5-7).
        if f.names and v <= 12 - 6 * (f.index == 4) and draw(st.integers(0, 3)) == 0:
            name = f.names[v - f.low]
            return draw(st.sampled_from([name, name.upper(), name.capitalize()]))
        return str(v)

    items: list[str] = []
    values: set[int] = set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                ["star", "star_step", "value", "value", "range", "range_step", "open_step"]
            )
        )
        if kind == "star":
            items.append("*")
            values.update(range(f.low, f.open_high + 1))
        elif kind == "star_step":
            step = draw(st.integers(1, f.open_high - f.low + 1))
            items.append(f"*/{step}")
            values.update(range(f.low, f.open_high + 1, step))
        elif kind == "value":
            v = value()
            items.append(spell(v))
            values.add(v)
        elif kind in ("range", "range_step"):
            a, b = sorted((value(), value()))
            step = draw(st.integers(1, 10)) if kind == "range_step" else 1
            items.append(f"{spell(a)}-{spell(b)}" + (f"/{step}" if kind == "range_step" else ""))
            values.update(range(a, b + 1, step))
        else:
            a = draw(st.integers(f.low, f.open_high))
            step = draw(st.integers(1, 12))
            items.append(f"{a}/{step}")
            values.update(range(a, f.open_high + 1, step))
    if f.index == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return ",".join(items), frozenset(values)


@st.composite
def crons(draw: st.DrawFn, dense_days: bool = True) -> tuple[str, RefCron]:
    texts: list[str] = []
    sets: list[frozenset[int]] = []
    for f in FIELDS:
        # Mostly "*" for the day fields, so that jobs fire within a few days of the start.
        if f.index >= 2 and dense_days and draw(st.integers(0, 2)) > 0:
            text, values = "*", frozenset(range(f.low, f.open_high + 1))
        else:
            text, values = draw(field_values(f))
        texts.append(text)
        sets.append(values)
    ref = RefCron(
        minutes=sets[0],
        hours=sets[1],
        doms=sets[2],
        months=sets[3],
        dows=sets[4],
        minute_star=texts[0].startswith("*"),
        hour_star=texts[1].startswith("*"),
        dom_star=texts[2].startswith("*"),
        dow_star=texts[4].startswith("*"),
    )
    return " ".join(texts), ref


@st.composite
def zone_and_start(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant, usually within a day and a half of one of its DST changes."""
    zone = draw(st.sampled_from(ZONES))
    trans = transitions(zone)
    if trans and draw(st.integers(0, 4)) > 0:
        base = draw(st.sampled_from(trans))
        start = base + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)))
    else:
        start = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(
            minutes=draw(st.integers(0, 50 * 365 * 1440))
        )
    start += timedelta(seconds=draw(st.sampled_from([0, 0, 0, 1, 30, 59])))
    return zone, start


def _check_against_reference(
    text: str, ref: RefCron, zone: str, start: datetime, hours: int
) -> None:
    expr = parse_cron(text)
    # The parser agrees with the sets the strategy built.
    assert (expr.minutes, expr.hours, expr.days, expr.months, expr.weekdays) == (
        ref.minutes, ref.hours, ref.doms, ref.months, ref.dows,
    )  # fmt: skip
    assert expr.is_fixed_time == ref.fixed
    trig = CronTrigger(expr, zone)
    low, high = start - timedelta(hours=hours), start + timedelta(hours=hours)
    expected = ref_fires(ref, zone, low, high)
    after = [f for f in expected if f > start]
    before = [f for f in expected if f < start]

    got_after: list[datetime] = []
    for fire in trig.iter_fires(start):
        if fire > high:
            break
        got_after.append(fire)
    assert stamps(got_after) == stamps(after), (text, zone, start)

    got_before: list[datetime] = []
    for fire in trig.iter_fires_before(start):
        if fire <= low:
            break
        got_before.append(fire)
    assert stamps(got_before) == stamps(before[::-1]), (text, zone, start)

    if got_after:
        assert got_after[0].tzinfo is ZoneInfo(zone)
        assert got_after[0].astimezone(UTC) == after[0]
    # next/prev from every fire, chained.
    for a, b in itertools.pairwise(expected[:41]):
        nxt, prv = trig.next_after(a), trig.prev_before(b)
        assert nxt is not None and nxt.timestamp() == b.timestamp(), (text, zone, a)
        assert prv is not None and prv.timestamp() == a.timestamp(), (text, zone, b)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron=crons(), where=zone_and_start())
def test_matches_reference_around_dst(
    cron: tuple[str, RefCron], where: tuple[str, datetime]
) -> None:
    text, ref = cron
    zone, start = where
    _check_against_reference(text, ref, zone, start, hours=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron=crons(), zone=st.sampled_from(DST_ZONES), data=st.data())
def test_fixed_time_jobs_at_transitions(
    cron: tuple[str, RefCron], zone: str, data: st.DataObject
) -> None:
    """Fixed-time jobs whose hours sit on the transition: the gap and repeat rules."""
    text, ref = cron
    assume(ref.fixed)
    trans = data.draw(st.sampled_from(transitions(zone)))
    start = trans - timedelta(hours=data.draw(st.integers(1, 20)))
    _check_against_reference(text, ref, zone, start, hours=24)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cron=crons(), zone=st.sampled_from(("America/St_Johns", "America/Goose_Bay")), data=st.data()
)
def test_matches_reference_where_the_repeat_crosses_midnight(
    cron: tuple[str, RefCron], zone: str, data: st.DataObject
) -> None:
    """Before 2011 these zones fell back at 00:01: the repeated stretch spans two dates."""
    text, ref = cron
    autumn = [t for t in transitions(zone) if t.year < 2011 and t.month >= 9]
    start = data.draw(st.sampled_from(autumn)) + timedelta(minutes=data.draw(st.integers(-90, 90)))
    _check_against_reference(text, ref, zone, start, hours=6)


def _day_reference(ref: RefCron, first: date, days: int) -> list[date]:
    return [
        first + timedelta(days=i) for i in range(days) if ref.day_matches(first + timedelta(days=i))
    ]


@settings(max_examples=80, deadline=None)
@given(
    cron=crons(dense_days=False),
    first=st.dates(date(1990, 1, 1), date(2390, 1, 1)),
    zone=st.sampled_from(("UTC", "Asia/Kolkata", "Europe/Rome")),
)
def test_day_matching_over_years(cron: tuple[str, RefCron], first: date, zone: str) -> None:
    """Sparse day fields over four years, forwards and backwards (noon: no DST involved)."""
    _, ref = cron
    text = " ".join(
        ["0", "12", _field_text(cron[0], 2), _field_text(cron[0], 3), _field_text(cron[0], 4)]
    )
    expected = _day_reference(ref, first, 4 * 366)
    trig = CronTrigger(text, zone)
    tz = ZoneInfo(zone)
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    end = start + timedelta(days=4 * 366)
    got = [f.date() for f in trig.fires_between(start, end - timedelta(minutes=1))]
    assert got == expected
    back: list[date] = []
    for fire in trig.iter_fires_before(end):
        if fire < start:
            break
        back.append(fire.date())
    assert back == expected[::-1]


def _field_text(text: str, index: int) -> str:
    return text.split(" ")[index]


@settings(max_examples=60, deadline=None)
@given(cron=crons(), where=zone_and_start())
def test_canonical_keeps_fire_times(cron: tuple[str, RefCron], where: tuple[str, datetime]) -> None:
    text, _ = cron
    zone, start = where
    expr = parse_cron(text)
    canon = expr.canonical()
    again = parse_cron(canon)
    assert again.canonical() == canon  # idempotent
    # Same meaning: times of day, fixed-time-ness, matching dates, fire times.
    assert (again.minutes, again.hours) == (expr.minutes, expr.hours)
    assert again.is_fixed_time == expr.is_fixed_time
    first = start.date()
    for i in range(0, 3 * 366):
        day = first + timedelta(days=i)
        assert again.matches_date(day) == expr.matches_date(day), (text, canon, day)
    a = CronTrigger(expr, zone).fires(start, 30)
    b = CronTrigger(again, zone).fires(start, 30)
    assert stamps(a) == stamps(b)


@settings(max_examples=60, deadline=None)
@given(cron=crons(dense_days=False), data=st.data())
def test_same_meaning_same_canonical(cron: tuple[str, RefCron], data: st.DataObject) -> None:
    """Respelling each field (numbers in any order, 7 for Sunday, 1-12 for *) keeps canonical."""
    text, ref = cron
    fields = text.split(" ")
    sets = [ref.minutes, ref.hours, ref.doms, ref.months, ref.dows]
    respelled = []
    for i, (field_text, values) in enumerate(zip(fields, sets, strict=True)):
        starts_with_star = field_text.startswith("*")
        if i == 3 and len(values) == 12:
            respelled.append(data.draw(st.sampled_from(["*", "1-12", "*/1"])))
        elif starts_with_star:
            respelled.append(field_text)
        else:
            nums = data.draw(st.permutations(sorted(values)))
            if i == 4:
                nums = [7 if v == 0 and data.draw(st.booleans()) else v for v in nums]
            respelled.append(",".join(str(v) for v in nums))
    assert parse_cron(" ".join(respelled)).canonical() == parse_cron(text).canonical()


@settings(max_examples=100, deadline=None)
@given(cron=crons(dense_days=False))
def test_describe_and_canonical_never_crash(cron: tuple[str, RefCron]) -> None:
    text, _ = cron
    words = describe_cron(text)
    assert words and not words.startswith("Invalid")
    assert describe_cron(parse_cron(text).canonical()) == words  # words follow the meaning


@settings(max_examples=30, deadline=None)
@given(cron=crons(dense_days=False))
def test_runs_per_day_matches_a_count(cron: tuple[str, RefCron]) -> None:
    """The 400-year average against a count over 2001-2028 (a 28-year cycle within 1901-2099)."""
    text, ref = cron
    expr = parse_cron(" ".join(["0", "12", *text.split(" ")[2:]]))
    start, span = date(2001, 1, 1), (date(2029, 1, 1) - date(2001, 1, 1)).days
    days = sum(1 for i in range(span) if ref.day_matches(start + timedelta(days=i)))
    assert expr.runs_per_day() == pytest.approx(days / span, abs=5e-4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-28T09:00:00Z", datetime(2026, 3, 28, 9, tzinfo=timezone.utc)),
        ("2026-03-28T09:00:00z", datetime(2026, 3, 28, 9, tzinfo=timezone.utc)),
        ("2026-03-28T09:00", datetime(2026, 3, 28, 9, tzinfo=timezone.utc)),
        ("2026-03-28T10:00:00+01:00", datetime(2026, 3, 28, 9, tzinfo=timezone.utc)),
    ],
)
def test_parse_instant_is_the_one_iso_reader(text: str, expected: datetime) -> None:
    assert timing.parse_instant(text) == expected
    assert timing.parse_timestamp("2026-03-28T09:00").tzinfo is None  # naive stays naive


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01", "", "2026-03-28T09:00Zz"])
def test_parse_instant_refuses_what_is_no_timestamp(text: str) -> None:
    with pytest.raises(ValueError):
        timing.parse_instant(text)
