"""Next fire times for every schedule form, in the schedule's zone, DST included (pure, no I/O).

Forms: a cron expression with an IANA zone, an interval (`every`) with an anchor, a one-shot
(`at`), and the presets `daily`, `weekly` and `monthly`, which are fixed-time crons
(`preset_to_cron`). Every trigger answers "the next fire strictly after t", "the latest fire
strictly before t", the next N fires and an average number of runs per day.

Cron semantics: Debian's (Vixie) cron, in the wall clock of the trigger's zone
-----------------------------------------------------------------------------------------------
*Matching.* A wall-clock minute matches when its minute, hour and month are in the fields'
sets and its day matches. Day of month and day of week: when either field's text starts with
`*` both must match (`0 0 */2 * 1`: odd days that are Mondays); otherwise either may
(`0 0 1,15 * sun`: the 1st, the 15th and every Sunday).

*Fixed-time jobs* are those whose minute and hour fields both do not start with `*`
(`30 2 * * *`, `0 9 * * 1-5`, `0-59 1 * * *`, every preset). For each matching date D and
each listed time of day h:m, the wall time "D h:m":

- exists once: the job fires then;
- exists twice (clocks fall back): the job fires once, at the first occurrence. Starting from
  an instant inside the repeated hour after that first pass, the next fire is the next
  matching day's;
- does not exist (clocks spring forward over it): the job fires at the instant the gap ends,
  i.e. the first valid wall-clock minute after the gap (02:30 in a 02:00->03:00 gap fires at
  03:00; 02:15 in Lord Howe's 02:00->02:30 gap fires at 02:30). Several times in one gap
  fire once, at that one instant, also when it coincides with a regular fire. D is the
  nominal date, so `30 0 * * 0` fires at 01:00 on the Sunday Chile springs from 00:00 to 01:00.

*Wildcard jobs* are all others (`*/30 * * * *`, `0 * * * *`, `15 */2 * * *`): they fire at
every instant whose wall clock matches, so twice for a wall time inside a repeated hour, and
never for wall times inside a gap (no catch-up run).

Fires are whole wall-clock minutes; "next" is strictly after the given instant, "previous"
strictly before. Results are aware datetimes in the trigger's ZoneInfo zone, with `fold` set
so that the second pass of a repeated hour is a distinct instant. NB: Python compares two
datetimes that share a tzinfo by wall time, ignoring `fold`; compare `.timestamp()` values or
`astimezone(timezone.utc)` when the instant matters.

Differences from Vixie cron, kept on purpose: Vixie catches fixed-time jobs up only after
forward jumps below 3 hours and treats bigger jumps as a clock reset; here every gap in the
zone database is handled as above (Pacific/Apia's skipped 2011-12-30 fires its fixed-time
jobs at 2011-12-31 00:00). Zone transitions are found by probing the zone (ZoneInfo keeps
its table private) and assumed at least 6 days apart; tzdata's closest pair since 1970 is
6.96 days apart (Brazil 2000). Offsets with seconds (local mean time before ~1900) are not
modelled: fires are whole minutes of UTC plus the offset.

Intervals are elapsed time: fires at anchor + k*every for every integer k, computed in UTC,
whatever the wall clock does (`trigger_for` documents the default anchor). One-shots fire once.

Speed: expressions and zones are parsed once (lru_cache); fires are found by jumping over
months and days with bit masks and bisecting a sorted list of the day's times, with the
careful DST handling only on local days whose UTC offset changes.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from reconciler.model import ScheduleSpec

__all__ = [
    "CronError",
    "CronExpr",
    "CronTrigger",
    "IntervalTrigger",
    "OnceTrigger",
    "Trigger",
    "describe",
    "describe_cron",
    "describe_interval",
    "format_duration",
    "get_zone",
    "parse_clock",
    "parse_cron",
    "parse_duration",
    "preset_cron",
    "preset_to_cron",
    "trigger_for",
    "weekday_number",
    "weekday_numbers",
]


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message names the field and the problem."""


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Bounds of explicit values; day-of-week accepts 7 (= Sunday) but `*` and `a/n` stop at 6.
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_OPEN_HIGH = (59, 23, 31, 12, 6)
_MONTH_ABBR = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WEEKDAY_FULL = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_NAMES: tuple[dict[str, int] | None, ...] = (
    None,
    None,
    None,
    {name: i + 1 for i, name in enumerate(_MONTH_ABBR)},
    {name: i for i, name in enumerate(WEEKDAY_NAMES)},
)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _parse_value(text: str, index: int, item: str) -> int:
    name = _FIELD_NAMES[index]
    low, high = _BOUNDS[index]
    if not text:
        raise CronError(f"{name} field: missing number in {item!r}")
    if text.isascii() and text.isdigit():
        value = int(text)
    else:
        names = _NAMES[index]
        if names is not None and text.lower() in names:
            return names[text.lower()]
        what = {3: "a number or a month name (jan-dec)", 4: "a number or a weekday name (sun-sat)"}
        raise CronError(f"{name} field: {text!r} is not {what.get(index, 'a number')}")
    if not low <= value <= high:
        raise CronError(f"{name} field: {value} is out of range {low}-{high}")
    return value


@lru_cache(maxsize=4096)  # fields repeat across expressions: one shared set each
def _parse_field(text: str, index: int) -> frozenset[int]:
    name = _FIELD_NAMES[index]
    low, _ = _BOUNDS[index]
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{name} field: empty item in list {text!r}")
        span, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()):
                raise CronError(f"{name} field: step {step_text!r} in {item!r} is not a number")
            step = int(step_text)
            if step == 0:
                raise CronError(f"{name} field: step 0 in {item!r} (a step must be at least 1)")
        if span == "*":
            first, last = low, _OPEN_HIGH[index]
        elif "-" in span:
            a_text, _, b_text = span.partition("-")
            first = _parse_value(a_text, index, item)
            last = _parse_value(b_text, index, item)
            if first > last:
                raise CronError(f"{name} field: range {span!r} is reversed ({first} > {last})")
        else:
            first = _parse_value(span, index, item)
            # "a/n" means "a-max/n"; a plain value is just itself.
            last = _OPEN_HIGH[index] if slash else first
            last = max(last, first)
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:  # 7 is Sunday, like 0
        values.discard(7)
        values.add(0)
    return frozenset(values)


@lru_cache(maxsize=32768)
def parse_cron(text: str) -> CronExpr:
    """Parse a 5-field cron expression or macro (cached); raises CronError."""
    if not isinstance(text, str):
        raise CronError(f"a cron expression is text, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise CronError("empty cron expression")
    if stripped.startswith("@"):
        macro = stripped.lower()
        if macro == "@reboot":
            raise CronError(
                "@reboot is not a schedule (it runs at daemon start): use a 5-field time"
            )
        if macro not in _MACROS:
            known = ", ".join(sorted(_MACROS))
            raise CronError(f"unknown macro {stripped!r} (known: {known})")
        stripped = _MACROS[macro]
    fields = stripped.split()
    if len(fields) != 5:
        extra = "; seconds and year fields are not supported" if len(fields) > 5 else ""
        raise CronError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}{extra}"
        )
    sets = [_parse_field(f, i) for i, f in enumerate(fields)]
    # Vixie's *_STAR flags look only at the first character of the field.
    stars = [f.startswith("*") for f in fields]
    return CronExpr(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=sets[4],
        minute_star=stars[0],
        hour_star=stars[1],
        dom_star=stars[2],
        dow_star=stars[4],
    )


# --------------------------------------------------------------------------------------------
# Calendar helpers
# --------------------------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_ORDINAL = date.max.toordinal()
# Bits 1..n set: the days that exist in a month of n days.
_LENGTH_MASK = tuple((1 << (n + 1)) - 2 for n in range(32))
_ALL_DAYS = _LENGTH_MASK[31]


@lru_cache(maxsize=16384)
def _month_info(year: int, month: int) -> tuple[int, int, int]:
    """(ordinal of day 1, its weekday 0=Sunday, number of days)."""
    first = date(year, month, 1).toordinal()
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    # date(1, 1, 1) has ordinal 1 and is a Monday, so ordinal % 7 is 0 for Sundays.
    return first, first % 7, following.toordinal() - first


@lru_cache(maxsize=1024)
def get_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name (cached); ValueError for unknown names."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name like Europe/Rome)"
        ) from None


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as written, naive or not; `Z` (or `z`) is UTC, also on Python
    3.10. ValueError when it is none."""
    if text.endswith(("Z", "z")):
        text = text[:-1]
        # One zone only: Python 3.10 reads "09:00Z+00:00" as 09:00 UTC, 3.11 refuses it.
        if text.endswith(("Z", "z", "+", "-")) or any(c in text[10:] for c in "+-Zz"):
            raise ValueError(f"invalid isoformat string: {text + 'Z'!r}")
        text += "+00:00"
    return datetime.fromisoformat(text)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime: one without an offset is UTC."""
    value = parse_timestamp(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


# Instants (UTC seconds) at which datetime.fromtimestamp works in any zone.
_MIN_INSTANT = (2 - _EPOCH_ORDINAL) * 86400
_MAX_INSTANT = (_MAX_ORDINAL - 1 - _EPOCH_ORDINAL) * 86400
# Transitions are assumed at least 6 days apart: tzdata's closest pair since 1970 is 6.96 days
# apart (Brazil 2000, Gaza), so probing every 6 days sees every change.
_PROBE_STEP = 6 * 86400

Transition = tuple[int, int, int]  # (UTC instant, offset before, offset after), in seconds


@lru_cache(maxsize=16384)
def _zone_year(zone: ZoneInfo, year: int) -> tuple[int, int, int, tuple[Transition, ...]]:
    """(low, high, offset at low, transitions) for UTC instants [low, high): a year plus 2 days
    on each side, so that every transition touching a local date of that year is listed."""
    low = max((date(year, 1, 1).toordinal() - _EPOCH_ORDINAL - 2) * 86400, _MIN_INSTANT)
    high = min((date(year, 12, 31).toordinal() + 3 - _EPOCH_ORDINAL) * 86400, _MAX_INSTANT)
    at = datetime.fromtimestamp  # hot loop: C calls only
    first = at(low, zone).utcoffset()
    found: list[Transition] = []
    here, before = low, first
    while here < high:
        there = here + _PROBE_STEP if here + _PROBE_STEP < high else high
        after = at(there, zone).utcoffset()
        if after != before:
            a, b = here, there  # offset(a) == before != offset(b): bisect to the second
            while b - a > 1:
                mid = (a + b) // 2
                if at(mid, zone).utcoffset() == before:
                    a = mid
                else:
                    b = mid
            after = at(b, zone).utcoffset()
            found.append((b, _seconds(before), _seconds(after)))
            there = b  # look on from there: in odd zones another change may follow
        here, before = there, after
    return low, high, _seconds(first), tuple(found)


def zone_transitions(zone: ZoneInfo, start: float, until: float) -> list[Transition]:
    """The zone's UTC offset changes in [start, until] (epoch seconds), from the same table
    the fire times use."""
    first = datetime.fromtimestamp(start, timezone.utc).year
    last = datetime.fromtimestamp(until, timezone.utc).year
    found = {t for year in range(first, last + 1) for t in _zone_year(zone, year)[3]}
    return sorted(t for t in found if start <= t[0] <= until)


def _seconds(offset: timedelta | None) -> int:
    assert offset is not None  # ZoneInfo always has an offset
    return offset // timedelta(seconds=1)


def _plain_span(zone: ZoneInfo, wall: int) -> tuple[int | None, int, int]:
    """(offset, low, high): the stretch [low, high) of wall time (seconds since 1970-01-01
    00:00 on the wall) around `wall` where the offset is constant and no wall time is skipped
    or repeated; offset is None when `wall` itself is in such a gap or repeat [low, high)."""
    ordinal = min(max(wall // 86400 + _EPOCH_ORDINAL, 1), _MAX_ORDINAL)
    year = date.fromordinal(ordinal).year
    _, _, offset, transitions = _zone_year(zone, year)
    # The table is exact for the local dates of its year: clamp the stretch to them.
    low = (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400
    high = (_MAX_ORDINAL + 1 if year == 9999 else date(year + 1, 1, 1).toordinal()) - _EPOCH_ORDINAL
    high *= 86400
    for instant, before, after in transitions:
        region_low, region_high = instant + min(before, after), instant + max(before, after)
        if wall < region_low:
            return offset, low, min(high, region_low)
        if wall < region_high:
            return None, region_low, region_high
        offset, low = after, max(low, region_high)
    return offset, low, high


@lru_cache(maxsize=131072)
def _day_offset(zone: ZoneInfo, ordinal: int) -> int | None:
    """The UTC offset (seconds) of a local date no transition touches, None if one does.

    Probes the date's two ends with both folds: they agree exactly when no gap or repeated
    stretch of wall time intersects the date (one transition per date at most). Cheaper than
    a year table for schedules that fire on few dates.
    """
    # Fast path: one offset over the five days around the date means no transition there
    # (transitions are at least 6 days apart) and none whose gap or repeat reaches the date.
    wall = (ordinal - _EPOCH_ORDINAL) * 86400
    if wall - 2 * 86400 > _MIN_INSTANT and wall + 3 * 86400 < _MAX_INSTANT:
        offset = datetime.fromtimestamp(wall - 2 * 86400, zone).utcoffset()
        if datetime.fromtimestamp(wall + 3 * 86400, zone).utcoffset() == offset:
            return _seconds(offset)
    d = date.fromordinal(ordinal)
    start = datetime(d.year, d.month, d.day, tzinfo=zone)
    end = datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=zone)
    offset = start.utcoffset()
    for probe in (start.replace(fold=1), end, end.replace(fold=1)):
        if probe.utcoffset() != offset:
            return None
    return _seconds(offset)


# --------------------------------------------------------------------------------------------
# CronExpr
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=128)  # one entry per possible set of weekdays
def _weekday_masks(weekdays: frozenset[int]) -> tuple[int, ...]:
    """For each weekday of the 1st of a month: the days of that month on a listed weekday."""
    return tuple(
        sum(1 << d for d in range(1, 32) if (first + d - 1) % 7 in weekdays) for first in range(7)
    )


@dataclass(frozen=True, slots=True)  # one per expression a repository spells
class CronExpr:
    """A parsed cron expression: the value sets of the five fields and Vixie's star flags.

    Two expressions that differ only in spelling (`MON-FRI` / `1-5`, `7` / `0`, `@daily` /
    `0 0 * * *`) compare equal. Use `canonical()` to compare by meaning.
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # day of month, 1-31
    months: frozenset[int]  # 1-12
    weekdays: frozenset[int]  # 0-6, 0 = Sunday
    minute_star: bool
    hour_star: bool
    dom_star: bool
    dow_star: bool
    # Derived at construction for speed; not part of equality.
    _sods: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _hm: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _dom_mask: int = field(init=False, repr=False, compare=False)
    _dow_masks: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _and_mode: bool = field(init=False, repr=False, compare=False)
    _dense: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weekdays = self.weekdays  # parsed fields are shared sets: a new one only to change it
        if 7 in weekdays:
            weekdays = frozenset(0 if d == 7 else d for d in weekdays)
            object.__setattr__(self, "weekdays", weekdays)
        checks = (self.minutes, self.hours, self.days, self.months, weekdays)
        for index, values in enumerate(checks):
            low, high = _BOUNDS[index][0], _OPEN_HIGH[index]
            if not values:
                raise CronError(f"{_FIELD_NAMES[index]} field: no values")
            bad = [v for v in values if not low <= v <= high]
            if bad:
                raise CronError(
                    f"{_FIELD_NAMES[index]} field: {min(bad)} is out of range {low}-{high}"
                )
        times = sorted((h * 3600 + m * 60, h, m) for h in self.hours for m in self.minutes)
        object.__setattr__(self, "_sods", tuple(t[0] for t in times))
        object.__setattr__(self, "_hm", tuple((t[1], t[2]) for t in times))
        object.__setattr__(self, "_dom_mask", sum(1 << d for d in self.days))
        object.__setattr__(self, "_dow_masks", _weekday_masks(weekdays))
        object.__setattr__(self, "_and_mode", self.dom_star or self.dow_star)
        # Rough share of matching dates: decides between a zone table per year and a probe
        # per date (see CronTrigger.iter_fires).
        by_dom, by_dow = len(self.days) / 31, len(weekdays) / 7
        share = by_dom * by_dow if self._and_mode else 1 - (1 - by_dom) * (1 - by_dow)
        object.__setattr__(self, "_dense", share * len(self.months) / 12 >= 0.2)

    @classmethod
    def parse(cls, text: str) -> CronExpr:
        """Parse a 5-field expression or macro; raises CronError saying what is wrong."""
        return parse_cron(text)

    @property
    def is_fixed_time(self) -> bool:
        """Vixie's "fixed-time job": neither the minute nor the hour field starts with `*`."""
        return not self.minute_star and not self.hour_star

    # -- days ------------------------------------------------------------------------------

    def _month_mask(self, year: int, month: int) -> tuple[int, int]:
        """(bit mask of the matching days of a month, ordinal of its day 1)."""
        first, weekday, length = _month_info(year, month)
        return _day_mask(self._dom_mask, self._dow_masks, self._and_mode, weekday, length), first

    def matches_date(self, day: date) -> bool:
        """Whether the day-of-month, month and day-of-week fields accept this date."""
        if day.month not in self.months:
            return False
        mask, _ = self._month_mask(day.year, day.month)
        return bool(mask >> day.day & 1)

    def can_ever_fire(self) -> bool:
        """False when no date can ever match (`0 0 30 2 *`, `0 0 31 4,6 *`)."""
        return _can_ever_fire(self.months, self._dom_mask, self._dow_masks, self._and_mode)

    def runs_per_day(self) -> float:
        """Average fires per day over the 400-year Gregorian cycle (ignoring DST)."""
        days = _matching_days(self.months, self._dom_mask, self._dow_masks, self._and_mode)
        return days * len(self._sods) / 146097

    # -- canonical form ----------------------------------------------------------------------

    def canonical(self) -> str:
        """A plain numeric 5-field expression that depends only on the meaning.

        `*` and `*/n` are used wherever they reproduce a set and the star does not change the
        meaning; where it does (the fixed-time rule, the day-of-month/day-of-week rule) the
        star-ness of the result is the star-ness of the meaning, not of the spelling.
        """
        return _canonical(self)

    def __str__(self) -> str:
        return self.canonical()


def _star_step(values: frozenset[int], low: int, high: int) -> int | None:
    """n when `values` is exactly `*/n` over low..high (n=1 for the full range), else None."""
    if low not in values or len(values) < 2:
        return None
    ordered = sorted(values)
    step = ordered[1] - ordered[0]
    return step if frozenset(range(low, high + 1, step)) == values else None


def _compress(values: frozenset[int]) -> str:
    """Sorted numbers as a list, runs of three or more as ranges: 1-5,7,9."""
    ordered = sorted(values)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
            i = j + 1
        else:
            parts.append(str(ordered[i]))
            i += 1
    return ",".join(parts)


def _render(values: frozenset[int], low: int, high: int, star: bool, min_step_len: int = 2) -> str:
    """A field; with star=True as `*` or `*/n` when that reproduces the set (and has at least
    min_step_len values)."""
    if star:
        step = _star_step(values, low, high)
        if step == 1:
            return "*"
        if step is not None and len(values) >= min_step_len:
            return f"*/{step}"
    return _compress(values)


def _forced_star(values: frozenset[int], low: int, high: int) -> str:
    """A field spelled to start with `*` although it is no `*/n`: `*/n,rest` (low is in values)."""
    for step in range(2, high - low + 2):
        base = frozenset(range(low, high + 1, step))
        if base <= values:
            rest = values - base
            return f"*/{step}," + _compress(rest) if rest else f"*/{step}"
    return _compress(values)  # unreachable: step = size gives {low}


@lru_cache(maxsize=4096)
def _canonical(e: CronExpr) -> str:
    if e.is_fixed_time:
        minute, hour = _compress(e.minutes), _compress(e.hours)
    else:
        minute, hour = _render(e.minutes, 0, 59, True), _render(e.hours, 0, 23, True)
        if not minute.startswith("*") and not hour.startswith("*"):
            if 0 in e.minutes:
                minute = _forced_star(e.minutes, 0, 59)
            else:
                hour = _forced_star(e.hours, 0, 23)
    month = _render(e.months, 1, 12, True, min_step_len=3)  # "1,7" reads better than "*/6"
    full_dom, full_dow = len(e.days) == 31, len(e.weekdays) == 7
    if e.dom_star or e.dow_star:  # both must match
        # Steps only from three values up: "0,6" reads better than "*/6".
        dom = _render(e.days, 1, 31, True, min_step_len=3)
        dow = _render(e.weekdays, 0, 6, True, min_step_len=3)
        if not dom.startswith("*") and not dow.startswith("*"):  # one must carry the star
            dow_step = _star_step(e.weekdays, 0, 6)
            dom_step = _star_step(e.days, 1, 31)
            if dow_step is not None:
                dow = f"*/{dow_step}"
            elif dom_step is not None:
                dom = f"*/{dom_step}"
            elif 1 in e.days:
                dom = _forced_star(e.days, 1, 31)
            else:
                dow = _forced_star(e.weekdays, 0, 6)
    elif full_dom or full_dow:  # either may match, and one matches every day
        dom, dow = "*", "*"
    else:
        dom, dow = _compress(e.days), _compress(e.weekdays)
    return f"{minute} {hour} {dom} {month} {dow}"


def _day_mask(
    dom_mask: int, dow_masks: tuple[int, ...], and_mode: bool, weekday: int, length: int
) -> int:
    """The matching days of a month whose 1st falls on `weekday` and that has `length` days."""
    by_weekday = dow_masks[weekday]
    # Vixie: a field starting with "*" makes both day fields required, else either will do.
    mask = (dom_mask & by_weekday) if and_mode else (dom_mask | by_weekday)
    return mask & _LENGTH_MASK[length]


# Which dates an expression matches depends on its day fields only, and those repeat across
# expressions far more than whole expressions do: the two below are cached by them.
@lru_cache(maxsize=4096)
def _can_ever_fire(
    months: frozenset[int], dom_mask: int, dow_masks: tuple[int, ...], and_mode: bool
) -> bool:
    # Every (month, weekday of the 1st, length) combination occurs in the Gregorian calendar,
    # February with 28 and with 29 days.
    for month in months:
        lengths = (28, 29) if month == 2 else (_month_info(2001, month)[2],)
        for length in lengths:
            if any(_day_mask(dom_mask, dow_masks, and_mode, w, length) for w in range(7)):
                return True
    return False


@lru_cache(maxsize=4096)
def _matching_days(
    months: frozenset[int], dom_mask: int, dow_masks: tuple[int, ...], and_mode: bool
) -> int:
    """Matching dates in 400 Gregorian years: exactly 146097 days, so averages are exact."""
    count = 0
    for year in range(2000, 2400):
        for month in months:
            _, weekday, length = _month_info(year, month)
            count += _day_mask(dom_mask, dow_masks, and_mode, weekday, length).bit_count()
    return count


# --------------------------------------------------------------------------------------------
# Triggers
# --------------------------------------------------------------------------------------------


def _check_aware(t: datetime, what: str = "t") -> None:
    if not isinstance(t, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {t.isoformat()})")


class Trigger(ABC):
    """When something fires. All instants in and out are timezone-aware datetimes."""

    __slots__ = ()  # a runner holds one per schedule: no instance dicts

    @abstractmethod
    def iter_fires(self, after: datetime) -> Iterator[datetime]:
        """Fires strictly after `after`, in increasing order (possibly endless)."""

    @abstractmethod
    def iter_fires_before(self, before: datetime) -> Iterator[datetime]:
        """Fires strictly before `before`, latest first."""

    @abstractmethod
    def runs_per_day(self) -> float:
        """Average number of fires per day (0 for a one-shot)."""

    def next_after(self, t: datetime) -> datetime | None:
        """The first fire strictly after t, or None when there is none."""
        return next(self.iter_fires(t), None)

    def prev_before(self, t: datetime) -> datetime | None:
        """The latest fire strictly before t, or None when there is none."""
        return next(self.iter_fires_before(t), None)

    def fires(self, after: datetime, n: int) -> list[datetime]:
        """The next n fires strictly after `after` (fewer when the trigger runs out)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return list(islice(self.iter_fires(after), n))

    def stamps_between(self, start: datetime, end: datetime) -> list[float]:
        """The epoch seconds of fires_between(start, end): what a week's slots are compared as."""
        return [stamp for _, stamp in self._fires_until(start, end)]

    def fires_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Fires f with start < f <= end."""
        return [fire for fire, _ in self._fires_until(start, end)]

    def _fires_until(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
        # Each fire with its epoch seconds, computed once: the end test needs them anyway.
        _check_aware(end, "end")
        limit = end.timestamp()
        for fire in self.iter_fires(start):
            stamp = fire.timestamp()
            if stamp > limit:
                return
            yield fire, stamp


class CronTrigger(Trigger):
    """A cron expression in an IANA zone, with Vixie cron's DST rules (see the module doc)."""

    __slots__ = ("expr", "tz", "zone")

    def __init__(self, expr: str | CronExpr, tz: str | ZoneInfo = "UTC") -> None:
        self.expr: CronExpr = parse_cron(expr) if isinstance(expr, str) else expr
        self.zone: ZoneInfo = get_zone(tz) if isinstance(tz, str) else tz
        self.tz: str = self.zone.key

    def __repr__(self) -> str:
        return f"CronTrigger({self.expr.canonical()!r}, tz={self.tz!r})"

    def runs_per_day(self) -> float:
        return self.expr.runs_per_day()

    def _day_fires(self, ordinal: int) -> list[int]:
        """UTC instants (seconds) of the fires belonging to one matching local date."""
        offset = _day_offset(self.zone, ordinal)
        base = (ordinal - _EPOCH_ORDINAL) * 86400
        if offset is not None:
            return [base - offset + s for s in self.expr._sods]
        return list(_transition_day_fires(self.expr, self.zone, ordinal))

    def _matches_ordinal(self, ordinal: int) -> bool:
        return 1 <= ordinal <= _MAX_ORDINAL and self.expr.matches_date(date.fromordinal(ordinal))

    def _batch(self, ordinals: list[int]) -> list[int]:
        fires: set[int] = set()
        for ordinal in ordinals:
            if self._matches_ordinal(ordinal):
                fires.update(self._day_fires(ordinal))
        return sorted(fires)

    def _plain_offset(self, ordinal: int, span: list[int]) -> int | None:
        """The offset of a matching date if no transition touches it, else None.

        `span` = [low, high, offset] caches a stretch of wall time known to have one offset.
        Schedules that match many dates use a zone table per year, which yields long
        stretches; the others probe each date.
        """
        zone = self.zone
        wall = (ordinal - _EPOCH_ORDINAL) * 86400
        if span[0] <= wall and wall + 86400 <= span[1]:  # inside the cached stretch
            return span[2]
        if self.expr._dense:
            offset, low, high = _plain_span(zone, wall)
            if offset is None or wall + 86400 > high:
                return None
            span[:] = [low, high, offset]
            return offset
        return _day_offset(zone, ordinal)

    def iter_fires(self, after: datetime) -> Iterator[datetime]:
        _check_aware(after, "after")
        expr, zone = self.expr, self.zone
        if not expr.can_ever_fire():
            return
        last = math.floor(after.timestamp())  # fires are whole seconds: > t iff > floor(t)
        try:
            ordinal = datetime.fromtimestamp(last, zone).toordinal()
        except (OverflowError, ValueError, OSError):
            return
        # Fires of the previous local date can follow t only if a transition touches that date.
        if ordinal > 1 and _day_offset(zone, ordinal - 1) is None:
            ordinal -= 1
        sods, hms, months, n = expr._sods, expr._hm, expr.months, len(expr._sods)
        skip_to = ordinal
        span = [0, 0, 0]  # [low, high, offset]: a stretch of wall time with one offset
        start = date.fromordinal(ordinal)
        year, month, day = start.year, start.month, start.day
        while year <= 9999:
            if month in months:
                mask, first = expr._month_mask(year, month)
                mask >>= day  # bit 0 is `day`
                while mask:
                    step = (mask & -mask).bit_length() - 1
                    day += step
                    mask >>= step + 1
                    ordinal = first + day - 1
                    if ordinal >= skip_to:
                        wall = (ordinal - _EPOCH_ORDINAL) * 86400
                        offset = self._plain_offset(ordinal, span)
                        if offset is None:
                            # A transition touches this date. A repeated stretch crossing
                            # midnight can put the next date's first fires before this one's
                            # last, so merge dates until one without a transition.
                            batch = [ordinal]
                            while batch[-1] < _MAX_ORDINAL and _day_offset(zone, batch[-1]) is None:
                                batch.append(batch[-1] + 1)
                            for instant in self._batch(batch):
                                if instant > last:
                                    try:
                                        yield datetime.fromtimestamp(instant, zone)
                                    except (OverflowError, ValueError, OSError):
                                        return
                                    last = instant
                            skip_to = batch[-1] + 1
                        else:
                            # Plain date: wall time and instants move together.
                            midnight = wall - offset
                            i = bisect_right(sods, last - midnight) if last >= midnight else 0
                            if i < n:
                                for hour, minute in hms[i:]:
                                    yield datetime(year, month, day, hour, minute, 0, 0, zone)
                                last = midnight + sods[-1]
                    day += 1
            month += 1
            day = 1
            if month == 13:
                month = 1
                year += 1

    def iter_fires_before(self, before: datetime) -> Iterator[datetime]:
        _check_aware(before, "before")
        expr, zone = self.expr, self.zone
        if not expr.can_ever_fire():
            return
        last = math.ceil(before.timestamp())  # fires are whole seconds: < t iff < ceil(t)
        try:
            ordinal = datetime.fromtimestamp(last, zone).toordinal()
        except (OverflowError, ValueError, OSError):
            return
        if ordinal < _MAX_ORDINAL and _day_offset(zone, ordinal + 1) is None:
            ordinal += 1
        sods, hms, months = expr._sods, expr._hm, expr.months
        skip_to = ordinal
        span = [0, 0, 0]
        start = date.fromordinal(ordinal)
        year, month, day = start.year, start.month, start.day
        while year >= 1:
            if month in months:
                mask, first = expr._month_mask(year, month)
                mask &= (2 << day) - 1  # days up to `day`
                while mask:
                    day = mask.bit_length() - 1
                    mask ^= 1 << day
                    ordinal = first + day - 1
                    if ordinal <= skip_to:
                        wall = (ordinal - _EPOCH_ORDINAL) * 86400
                        offset = self._plain_offset(ordinal, span)
                        if offset is None:
                            batch = [ordinal]
                            while batch[-1] > 1 and _day_offset(zone, batch[-1]) is None:
                                batch.append(batch[-1] - 1)
                            for instant in reversed(self._batch(batch)):
                                if instant < last:
                                    try:
                                        yield datetime.fromtimestamp(instant, zone)
                                    except (OverflowError, ValueError, OSError):
                                        return
                                    last = instant
                            skip_to = batch[-1] - 1
                        else:
                            midnight = wall - offset
                            i = bisect_left(sods, last - midnight)
                            if i > 0:
                                for hour, minute in reversed(hms[:i]):
                                    yield datetime(year, month, day, hour, minute, 0, 0, zone)
                                last = midnight + sods[0]
            month -= 1
            day = 31
            if month == 0:
                month = 12
                year -= 1


@lru_cache(maxsize=4096)
def _transition_day_fires(expr: CronExpr, zone: ZoneInfo, ordinal: int) -> tuple[int, ...]:
    """The fires of a matching local date that a transition touches, applying the DST rules."""
    base = (ordinal - _EPOCH_ORDINAL) * 86400
    transitions = _zone_year(zone, date.fromordinal(ordinal).year)[3]
    fixed = expr.is_fixed_time
    out: set[int] = set()
    for sod in expr._sods:
        wall = base + sod
        offset = transitions[0][1] if transitions else None
        for instant, before, after in transitions:
            low, high = instant + min(before, after), instant + max(before, after)
            if wall < low:
                break
            if wall < high:
                if after > before:  # a gap: only fixed-time jobs fire, when it ends
                    if fixed:
                        out.add(instant)
                else:  # repeated: first pass, and the second too for wildcard jobs
                    out.add(wall - before)
                    if not fixed:
                        out.add(wall - after)
                offset = None
                break
            offset = after
        else:
            if offset is None:  # no transition found after all: ask the zone
                d = date.fromordinal(ordinal)
                local = datetime(d.year, d.month, d.day, sod // 3600, sod // 60 % 60, tzinfo=zone)
                offset = _seconds(local.utcoffset())
        if offset is not None:
            out.add(wall - offset)
    return tuple(sorted(out))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


_MICROSECOND = timedelta(microseconds=1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)


class IntervalTrigger(Trigger):
    """Fires at anchor + k*every for every integer k: elapsed time, computed in UTC.

    Results are in the anchor's tzinfo (UTC when the anchor is in UTC).
    """

    __slots__ = ("_anchor_utc", "_tz", "anchor", "every")

    def __init__(self, every: timedelta, anchor: datetime) -> None:
        if not isinstance(every, timedelta) or every <= timedelta(0):
            raise ValueError(f"an interval must be a positive timedelta, got {every!r}")
        _check_aware(anchor, "anchor")
        self.every = every
        self.anchor = anchor
        self._tz: tzinfo = anchor.tzinfo or timezone.utc
        self._anchor_utc = anchor.astimezone(timezone.utc)

    def __repr__(self) -> str:
        return (
            f"IntervalTrigger({format_duration(self.every)!r}, anchor={self.anchor.isoformat()!r})"
        )

    def runs_per_day(self) -> float:
        return 86400 / self.every.total_seconds()

    def _at(self, k: int) -> datetime:
        return (self._anchor_utc + k * self.every).astimezone(self._tz)

    def iter_fires(self, after: datetime) -> Iterator[datetime]:
        _check_aware(after, "after")
        k = (after - self._anchor_utc) // self.every + 1
        try:
            while True:
                yield self._at(k)
                k += 1
        except OverflowError:
            return

    def stamps_between(self, start: datetime, end: datetime) -> list[float]:
        # Arithmetic, in whole microseconds as datetime.timestamp() counts: no datetime a fire.
        _check_aware(start, "start")
        _check_aware(end, "end")
        every = self.every // _MICROSECOND
        base = (self._anchor_utc - _EPOCH_UTC) // _MICROSECOND
        first = (start - self._anchor_utc) // self.every + 1
        last = (end - self._anchor_utc) // self.every
        return [(base + k * every) / 1e6 for k in range(first, last + 1)]

    def iter_fires_before(self, before: datetime) -> Iterator[datetime]:
        _check_aware(before, "before")
        quotient, remainder = divmod(before - self._anchor_utc, self.every)
        k = quotient if remainder else quotient - 1
        try:
            while True:
                yield self._at(k)
                k -= 1
        except OverflowError:
            return


class OnceTrigger(Trigger):
    """Fires once, at `at` (returned in at's own tzinfo)."""

    __slots__ = ("at",)

    def __init__(self, at: datetime) -> None:
        _check_aware(at, "at")
        self.at = at

    def __repr__(self) -> str:
        return f"OnceTrigger({self.at.isoformat()!r})"

    def runs_per_day(self) -> float:
        return 0.0

    def iter_fires(self, after: datetime) -> Iterator[datetime]:
        _check_aware(after, "after")
        if self.at > after:
            yield self.at

    def iter_fires_before(self, before: datetime) -> Iterator[datetime]:
        _check_aware(before, "before")
        if self.at < before:
            yield self.at


# --------------------------------------------------------------------------------------------
# Presets and durations
# --------------------------------------------------------------------------------------------

# A wall-clock time HH:MM, two digits each (the schema's rule, and what the platforms say):
# HOUR and MINUTE build the other patterns that hold a time (model.py's H times and instants).
HOUR = "[01][0-9]|2[0-3]"
MINUTE = "[0-5][0-9]"
CLOCK = f"({HOUR}):({MINUTE})"
CLOCK_PATTERN = f"^{CLOCK}$"
_CLOCK = re.compile(CLOCK)


def parse_clock(text: str) -> tuple[int, int]:
    """(hour, minute) of a wall-clock time "HH:MM" (00:00 to 23:59); ValueError otherwise."""
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid time {text!r}: expected HH:MM between 00:00 and 23:59")
    return int(match[1]), int(match[2])


def weekday_number(value: int | str) -> int:
    """0=Sunday .. 6=Saturday; 7 is Sunday too, names are lowercase `mon` or `monday`."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        from reconciler.explain import shown  # only on the error path

        raise ValueError(
            f"expected a weekday, a name (mon..sun) or a number 0-7, not {shown(value)}"
        )
    if isinstance(value, int):
        if 0 <= value <= 7:
            return value % 7
        raise ValueError(f"weekday {value} is out of range 0-7 (0 and 7 are Sunday)")
    text = str(value)
    if text in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(text)
    if text in WEEKDAY_FULL:
        return WEEKDAY_FULL.index(text)
    from reconciler.explain import hint

    names = WEEKDAY_NAMES + WEEKDAY_FULL
    raise ValueError(
        f"unknown weekday {text!r}"
        + hint(text, names, "expected one of mon, tue, wed, thu, fri, sat, sun")
    )


def weekday_numbers(days: Iterable[int | str]) -> list[int]:
    """Weekdays (names or 0-7) as sorted distinct numbers 0=Sunday .. 6=Saturday."""
    return sorted({weekday_number(d) for d in days})


def preset_to_cron(
    kind: Literal["daily", "weekly", "monthly"],
    at: str,
    days: Sequence[int] = (),
    day: int | None = None,
) -> str:
    """The fixed-time cron of a preset, in canonical form.

    daily "09:00" -> "0 9 * * *"; weekly "08:30" [1, 3, 5] -> "30 8 * * 1,3,5" (0 and 7 =
    Sunday); monthly "09:00" day 1 -> "0 9 1 * *".
    """
    hour, minute = parse_clock(at)
    if kind == "daily":
        text = f"{minute} {hour} * * *"
    elif kind == "weekly":
        if not days:
            raise ValueError("a weekly preset needs at least one day")
        for d in days:
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 7:
                raise ValueError(f"weekday {d!r} is out of range 0-7 (0 and 7 are Sunday)")
        text = f"{minute} {hour} * * {','.join(str(d) for d in days)}"
    elif kind == "monthly":
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31:
            raise ValueError(f"a monthly preset needs a day 1-31, got {day!r}")
        text = f"{minute} {hour} {day} * *"
    else:
        raise ValueError(f"unknown preset {kind!r} (expected daily, weekly or monthly)")
    return parse_cron(text).canonical()


def preset_cron(schedule: Mapping[str, Any]) -> str | None:
    """The fixed-time cron of a daily / weekly / monthly schedule; None for the other forms.

    `schedule` is a document's schedule mapping or a ScheduleSpec's fields (`vars(spec)`): its
    weekly and monthly are mappings or models of `at` and `days` / `day`, weekdays as names or
    numbers.
    """
    if (daily := schedule.get("daily")) is not None:
        return preset_to_cron("daily", daily)
    if (weekly := schedule.get("weekly")) is not None:
        weekly = dict(weekly)  # a model iterates as its (field, value) pairs
        return preset_to_cron("weekly", weekly["at"], days=weekday_numbers(weekly["days"]))
    if (monthly := schedule.get("monthly")) is not None:
        monthly = dict(monthly)
        return preset_to_cron("monthly", monthly["at"], day=monthly["day"])
    return None


# A duration, largest unit first ("90s", "1h30m"); also the schema's pattern for `every`.
DURATION_PATTERN = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration_seconds(text: str) -> int | None:
    """The seconds of a DURATION_PATTERN text ("1h30m" -> 5400, "" -> 0); None for others."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    return sum(int(v[:-1]) * size for v, (_, size) in zip(match.groups(), _UNITS, strict=True) if v)


def parse_duration(text: str) -> timedelta:
    """ "90s", "15m", "2h", "1d" and compounds in that order ("1h30m") -> timedelta (> 0)."""
    if not isinstance(text, str):  # before the cache: a list from JSON is not hashable
        raise ValueError(f"a duration is text like 15m, not {type(text).__name__}")
    return _parse_duration(text)


@lru_cache(maxsize=4096)  # a runner asks for a schedule's interval at every fire
def _parse_duration(text: str) -> timedelta:
    compact = "".join(text.split())  # "1h 30m" is fine too
    seconds = duration_seconds(compact) if compact else None
    if seconds is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a whole number with a unit d, h, m or s, "
            "largest first, e.g. 90s, 15m, 2h, 1d or 1h30m"
        )
    if seconds == 0:
        raise ValueError(f"invalid duration {text!r}: it must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    """The inverse of parse_duration: largest units first ("15m", "1h30m", "1d", "0s")."""
    if td < timedelta(0) or td.microseconds:
        raise ValueError(f"cannot format {td!r}: only non-negative whole seconds")
    seconds = td // timedelta(seconds=1)
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Descriptions
# --------------------------------------------------------------------------------------------

_DAY_NAMES = tuple(name.capitalize() for name in WEEKDAY_FULL)
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _join(items: Sequence[str], word: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {word} {items[1]}"
    return f"{', '.join(items[:-1])}, {word} {items[-1]}"


def _runs(values: frozenset[int]) -> list[tuple[int, int]]:
    ordered = sorted(values)
    runs: list[tuple[int, int]] = []
    for v in ordered:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _named_items(values: frozenset[int], names: Sequence[str], offset: int) -> list[str]:
    """Names, with runs of three or more as "A through C"."""
    items: list[str] = []
    for a, b in _runs(values):
        if b - a >= 2:
            items.append(f"{names[a - offset]} through {names[b - offset]}")
        else:
            items.extend(names[v - offset] for v in range(a, b + 1))
    return items


def _numbers(values: frozenset[int]) -> list[str]:
    items: list[str] = []
    for a, b in _runs(values):
        if b - a >= 2:
            items.append(f"{a} through {b}")
        else:
            items.extend(str(v) for v in range(a, b + 1))
    return items


def _hours_phrase(hours: frozenset[int]) -> str:
    step = _star_step(hours, 0, 23)
    if step is not None and step > 1:
        return f"every {step} hours"
    runs = _runs(hours)
    if len(runs) == 1 and runs[0][1] > runs[0][0]:
        a, b = runs[0]
        return f"between {a:02d}:00 and {b:02d}:59"
    return "during hours " + _join([f"{h:02d}" for h in sorted(hours)])


def _time_phrase(e: CronExpr) -> str:
    all_minutes, all_hours = len(e.minutes) == 60, len(e.hours) == 24
    minute_step = _star_step(e.minutes, 0, 59)
    if all_minutes:
        return "Every minute" if all_hours else f"Every minute, {_hours_phrase(e.hours)}"
    if minute_step is not None:
        every = f"Every {minute_step} minutes"
        return every if all_hours else f"{every}, {_hours_phrase(e.hours)}"
    if not all_hours and len(e.minutes) * len(e.hours) <= 8:
        times = [f"{h:02d}:{m:02d}" for h in sorted(e.hours) for m in sorted(e.minutes)]
        return "At " + _join(times)
    if len(e.minutes) == 1:
        (minute,) = e.minutes
        hour_step = _star_step(e.hours, 0, 23)
        past = "Every hour" if minute == 0 else f"At {minute} minutes past the hour"
        if all_hours:
            return past
        if hour_step is not None and minute == 0:
            return f"Every {hour_step} hours"
        return f"{past}, {_hours_phrase(e.hours)}"
    minutes = f"At minutes {_join(_numbers(e.minutes))} past the hour"
    return minutes if all_hours else f"{minutes}, {_hours_phrase(e.hours)}"


def _days_phrase(e: CronExpr) -> str | None:
    all_dom, all_dow = len(e.days) == 31, len(e.weekdays) == 7
    dom_items = _numbers(e.days)
    if len(e.days) == 1:
        dom = f"on day {dom_items[0]} of the month"
    else:
        dom = f"on days {_join(dom_items)} of the month"
    dow_items = _named_items(e.weekdays, _DAY_NAMES, 0)
    if len(dow_items) == 1 and " through " in dow_items[0]:
        dow = dow_items[0]
    else:
        dow = "only on " + _join(dow_items)
    if e.dom_star or e.dow_star:
        if all_dom and all_dow:
            return None
        if all_dom:
            return dow
        if all_dow:
            return dom
        return f"{dom}, if it is a {_join([_DAY_NAMES[d] for d in sorted(e.weekdays)], 'or')}"
    if all_dom or all_dow:
        return None
    return f"{dom}, or on {_join(_named_items(e.weekdays, _DAY_NAMES, 0), 'or')}"


def _months_phrase(e: CronExpr) -> str | None:
    if len(e.months) == 12:
        return None
    items = _named_items(e.months, _MONTH_NAMES, 1)
    if len(items) == 1 and " through " in items[0]:
        return items[0]
    return "only in " + _join(items)


def describe_cron(expr: str | CronExpr) -> str:
    """Plain words, cron-descriptor style: "At 09:00, Monday through Friday". Never raises."""
    try:
        e = expr if isinstance(expr, CronExpr) else parse_cron(expr)
    except CronError as exc:
        return f"Invalid cron expression: {exc}"
    try:
        parts = [_time_phrase(e), _days_phrase(e), _months_phrase(e)]
        return ", ".join(p for p in parts if p)
    except Exception:  # a description is cosmetic: never let it break a command
        return f"Cron {expr}"


def describe_interval(every: timedelta) -> str:
    """ "Every 15 minutes", "Every hour", "Every 1 hour and 30 minutes". Never raises."""
    try:
        seconds = every // timedelta(seconds=1)
    except (TypeError, ValueError):
        return f"Every {every}"
    if seconds <= 0:
        return f"Every {every}"
    words = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    parts: list[tuple[int, str]] = []
    for word, size in words:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append((count, word))
    if len(parts) == 1:
        count, word = parts[0]
        return f"Every {word}" if count == 1 else f"Every {count} {word}s"
    return "Every " + _join([f"{c} {w}{'s' if c != 1 else ''}" for c, w in parts])


# --------------------------------------------------------------------------------------------
# Schedule specs (reconciler.model.ScheduleSpec)
# --------------------------------------------------------------------------------------------


def _aware(t: datetime, zone: ZoneInfo) -> datetime:
    """A naive timestamp from a file means wall time in the schedule's zone."""
    return t.replace(tzinfo=zone) if t.tzinfo is None or t.utcoffset() is None else t


def trigger_for(
    spec: ScheduleSpec, timezone: str | None = "UTC", created_at: datetime | None = None
) -> Trigger:
    """The trigger of a schedule spec.

    The zone is `spec.timezone`, else the `timezone` argument (the config default). Presets
    become fixed-time crons. An interval counts from `spec.anchor`, else from `created_at`,
    else from the Unix epoch (1970-01-01T00:00Z, so `every: 1d` fires at 00:00 UTC). Naive
    `anchor`, `at` and `created_at` values are wall time in the schedule's zone.
    """
    zone = get_zone(spec.timezone or timezone or "UTC")
    if spec.cron is not None:
        return CronTrigger(spec.cron, zone)
    if spec.every is not None:
        anchor = spec.anchor or created_at or _EPOCH
        return IntervalTrigger(parse_duration(spec.every), _aware(anchor, zone))
    if spec.at is not None:
        return OnceTrigger(_aware(spec.at, zone))
    return CronTrigger(_preset_cron(spec), zone)


def _preset_cron(spec: ScheduleSpec) -> str:
    cron = preset_cron(vars(spec))  # a model's fields, as they are: no copy made
    if cron is None:
        raise ValueError("the schedule has no form (cron, every, at, daily, weekly or monthly)")
    return cron


def describe(spec: ScheduleSpec) -> str:
    """Plain words for a schedule spec, without its zone: "At 09:00, Monday through Friday"."""
    try:
        if spec.cron is not None:
            return describe_cron(spec.cron)
        if spec.every is not None:
            words = describe_interval(parse_duration(spec.every))
            if spec.anchor is not None:
                words += f", counted from {spec.anchor.isoformat()}"
            return words
        if spec.at is not None:
            return f"Once, at {spec.at.isoformat(sep=' ')}"
        return describe_cron(_preset_cron(spec))
    except ValueError as exc:  # never crash on a description
        return f"Invalid schedule: {exc}"
