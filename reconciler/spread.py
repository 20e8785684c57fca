"""Hashed times (`H`), spreading them under a platform's per-tick capacity, and minute load.

H, as in Jenkins, picks a value from the schedule's key instead of the author:

    cron fields      H          one value of the field: minute 0-59, hour 0-23, day of month
                                1-28 (every month has it), month 1-12, weekday 0-6
                     H(a-b)     one value in a..b
                     H/n        every n-th value from an offset 0..n-1 (`H/15`: 7,22,37,52)
                     H(a-b)/n   the same within a..b
    preset times     the hour or the minute of HH:MM may be H or H(a-b) (`09:H`, `H(8-10):H`,
                     `H:30`); `H` alone is `H:H`, a minute anywhere in the day. For
                     `daily`, `weekly.at` and `monthly.at`.

The value is sha256("owner/key") read as a number, modulo the number of choices (all H fields
of a schedule together, the minute varying fastest): stable across runs, machines and Python
versions (never hash(), which is salted per process), different for different keys.

Spreading (`spread: true`, per schedule or template, or the config's `defaults.spread`)
-----------------------------------------------------------------------------------------------
A platform starts a limited number of due tasks per scheduler tick; the rest wait for the next
tick. Cron fires fall on the start of a minute, so every task due in a minute is due at the
same instant, and the first tick after it is the only one that starts them on time. A
minute's capacity is therefore one tick's: engine 3 (MAX_CONCURRENT per 30 s tick: the next
tick, 30 s later, only serves those already waiting, so "6 a minute" would mean three of
them late), aitroop 50 (one batch per ~60 s tick). The figures are the platform's `Facts`
(its folder's rules.py): `max_concurrent` or `batch` per `tick`.

Spread schedules of one target (one engine instance, one aitroop account) are placed in key
order: each takes its hashed value if every minute it fires in stays within capacity, else
the next value (the next minute) that does, counting every other enabled schedule of the
target as it is. Adding or removing one schedule therefore moves only the few whose place it
takes or frees (linear probing; most keep their minute). The load is counted on a week of
UTC minutes for a January and a July week (zones' summer time), with days of month and
months ignored (a monthly task counts on every day it could fall on), intervals only when
anchored and dividing a week, one-shots not at all: a conservative model of the real fires,
which `validate` checks afterwards (`crowd_warnings`, the same count `next --load` shows).
When no value has room, a schedule keeps its hashed value and a warning says so.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from reconciler import timing
from reconciler.errors import ConfigError, Diagnostic

if TYPE_CHECKING:
    from reconciler.loader import Project, ResolvedSchedule
    from reconciler.model import ScheduleSpec
    from reconciler.platforms import Facts


class HashError(ValueError):
    """An H time that cannot be resolved; the message says what is wrong."""


# ---------------------------------------------------------------------------------------------
# Parsing H


_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_H_RANGES = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))  # what a bare H chooses from
_CRON_ORDER = (0, 1, 2, 4, 3)  # least significant first: minute, hour, day, weekday, month
_H_TOKEN = re.compile(r"^H(?:\((\d{1,2})-(\d{1,2})\))?(?:/(\d{1,2}))?$")
_PRESET_TIME = re.compile(r"^(?P<hour>[^:]+):(?P<minute>[^:]+)$")


@dataclass(frozen=True)
class HPart:
    low: int
    high: int
    step: int | None = None

    @property
    def choices(self) -> int:
        width = self.high - self.low + 1
        return min(self.step, width) if self.step else width

    def text(self, choice: int, width: int = 0) -> str:
        value = self.low + choice
        if self.step:
            return (
                f"{value}-{self.high}/{self.step}" if value + self.step <= self.high else str(value)
            )
        return f"{value:0{width}d}"


@dataclass(frozen=True)
class HashedPattern:
    """An H time as written, and how its values are counted (a mixed-radix index)."""

    form: str  # cron, daily, weekly, monthly
    text: str
    parts: tuple[str | HPart, ...]  # cron: the five fields; presets: hour, minute
    order: tuple[int, ...]  # indexes of the H parts, least significant first
    # Rendered texts by index: a fleet renders the same few values thousands of times.
    _texts: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def space(self) -> int:
        total = 1
        for i in self.order:
            part = self.parts[i]
            assert isinstance(part, HPart)
            total *= part.choices
        return total

    def render(self, index: int) -> str:
        """The plain text for choice `index` (0 <= index < space)."""
        known = self._texts.get(index)
        if known is None:
            known = self._texts[index] = self._render(index)
        return known

    def _render(self, index: int) -> str:
        texts = [p if isinstance(p, str) else "" for p in self.parts]
        for i in self.order:
            part = self.parts[i]
            assert isinstance(part, HPart)
            index, choice = divmod(index, part.choices)
            texts[i] = part.text(choice, 0 if self.form == "cron" else 2)
        return " ".join(texts) if self.form == "cron" else f"{texts[0]}:{texts[1]}"


def _h_part(token: str, field: int, what: str) -> HPart:
    match = _H_TOKEN.match(token)
    name = _FIELDS[field]
    if match is None:
        raise HashError(
            f"{what}: {name} field {token!r}: H stands alone in a field, as H, H(0-29), H/15 "
            "or H(0-29)/10"
        )
    low, high = _H_RANGES[field]
    if match.group(1) is not None:
        low, high = int(match.group(1)), int(match.group(2))
        first, last = _BOUNDS[field]
        if not first <= low <= last or not first <= high <= last:
            raise HashError(f"{what}: {name} field {token!r} is out of range {first}-{last}")
        if low > high:
            raise HashError(f"{what}: {name} field {token!r}: the range is reversed")
    step = int(match.group(3)) if match.group(3) is not None else None
    if step == 0:
        raise HashError(f"{what}: {name} field {token!r}: a step must be at least 1")
    return HPart(low, high, step)


@lru_cache(maxsize=4096)
def parse_hashed(form: str, text: str) -> HashedPattern | None:
    """The H pattern of a cron or preset time, None when it has no H. Raises HashError."""
    if "H" not in text:
        return None
    if form == "cron":
        fields = text.split()
        if not any(f.startswith("H") for f in fields):
            return None  # `H` inside a name (THU) is no H field
        if len(fields) != 5:
            raise HashError(
                f"invalid cron {text!r}: expected 5 fields (minute hour day-of-month month "
                f"day-of-week), got {len(fields)}"
            )
        parts = tuple(
            _h_part(f, i, f"invalid cron {text!r}") if f.startswith("H") else f
            for i, f in enumerate(fields)
        )
        order = tuple(i for i in _CRON_ORDER if isinstance(parts[i], HPart))
        pattern = HashedPattern(form, text, parts, order)
        try:
            timing.parse_cron(pattern.render(0))
        except timing.CronError as exc:
            raise HashError(f"invalid cron {text!r}: {exc}") from None
        return pattern
    clock = "H:H" if text == "H" else text
    match = _PRESET_TIME.match(clock)
    if match is None:
        raise HashError(f"invalid time {text!r}: expected HH:MM with H for a part (09:H, H)")
    pieces: list[str | HPart] = []
    for cron_field, piece in ((1, match["hour"]), (0, match["minute"])):
        if piece.startswith("H"):
            part = _h_part(piece, cron_field, f"invalid time {text!r}")
            if part.step is not None:
                raise HashError(f"invalid time {text!r}: a time has no steps (H/n is for cron)")
            pieces.append(part)
        else:
            pieces.append(piece)
    order = tuple(i for i in (1, 0) if isinstance(pieces[i], HPart))
    return HashedPattern(form, text, tuple(pieces), order)


def _time_of(spec: ScheduleSpec) -> tuple[str, str, tuple[str, ...]] | None:
    """(form, text, where in `schedule`) of the spec's cron or preset time."""
    if spec.cron is not None:
        return "cron", spec.cron, ("cron",)
    if spec.daily is not None:
        return "daily", spec.daily, ("daily",)
    if spec.weekly is not None:
        return "weekly", spec.weekly.at, ("weekly", "at")
    if spec.monthly is not None:
        return "monthly", spec.monthly.at, ("monthly", "at")
    return None


def hash_index(owner: str, key: str, space: int) -> int:
    """The hashed choice for a key: sha256 of "owner/key", modulo the number of choices."""
    digest = hashlib.sha256(f"{owner}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % space


def with_time(spec: ScheduleSpec, form: str, text: str) -> ScheduleSpec:
    """`spec` with its cron or preset time replaced (no validation: `text` is plain)."""
    if form in ("cron", "daily"):
        return spec.model_copy(update={form: text})
    inner = spec.weekly if form == "weekly" else spec.monthly
    assert inner is not None
    return spec.model_copy(update={form: inner.model_copy(update={"at": text})})


def _as_cron(form: str, text: str, spec: ScheduleSpec) -> str:
    """The cron of a plain cron or preset time (presets as the engine receives them)."""
    if form == "cron":
        return text
    if form == "daily":
        return timing.preset_to_cron("daily", text)
    if form == "weekly":
        assert spec.weekly is not None
        return timing.preset_to_cron("weekly", text, days=spec.weekly.day_numbers())
    assert spec.monthly is not None
    return timing.preset_to_cron("monthly", text, day=spec.monthly.day)


def _cron_text(pattern: HashedPattern, index: int, spec: ScheduleSpec) -> str:
    return _as_cron(pattern.form, pattern.render(index), spec)


# ---------------------------------------------------------------------------------------------
# Capacity


@dataclass(frozen=True)
class Capacity:
    tasks: int  # how many due tasks one tick starts: the most one minute holds on time
    tick_seconds: int


def capacity_of(facts: Facts) -> Capacity | None:
    """Runs started per tick, and the tick; None when the platform's documents say neither."""
    tasks = facts.max_concurrent or facts.batch
    if tasks is None or tasks < 1:
        return None
    tick = int(facts.tick.total_seconds()) if facts.tick else 60
    return Capacity(tasks, max(1, tick))


def platform_capacity(platform: str) -> Capacity | None:
    from reconciler import platforms

    try:
        return capacity_of(platforms.get(platform).facts)
    except ConfigError:  # an unknown platform: validate says so
        return None


# ---------------------------------------------------------------------------------------------
# The week model spreading counts on


WEEK = 7 * 1440
_FULL = (1 << WEEK) - 1
SEASONS = (
    datetime(2026, 1, 14, 12, tzinfo=timezone.utc),
    datetime(2026, 7, 15, 12, tzinfo=timezone.utc),
)


def _rotate(bits: int, shift: int) -> int:
    shift %= WEEK
    return ((bits << shift) | (bits >> (WEEK - shift))) & _FULL if shift else bits


@lru_cache(maxsize=4096)
def _wall_week(minutes: frozenset[int], hours: frozenset[int], days: frozenset[int]) -> int:
    day = sum(1 << (h * 60 + m) for h in hours for m in minutes)
    return sum(day << (d * 1440) for d in days)


@lru_cache(maxsize=65536)
def _cron_masks(cron: str, zone: str) -> tuple[int, ...]:
    """Minutes of a UTC week the cron may fire in, for each season."""
    expr = timing.parse_cron(cron)
    # Days of month and months are ignored: a day-of-month restriction may fall on any weekday.
    days = expr.weekdays if expr.dom_star else frozenset(range(7))
    wall = _wall_week(expr.minutes, expr.hours, days)
    tz = timing.get_zone(zone)
    out = []
    for season in SEASONS:
        offset = tz.utcoffset(season.replace(tzinfo=None))
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        out.append(_rotate(wall, -minutes))
    return tuple(out)


@lru_cache(maxsize=4096)
def _interval_mask(seconds: int, anchor: datetime) -> int | None:
    if seconds % 60 or (WEEK * 60) % seconds:
        return None  # its minutes drift from week to week
    period = seconds // 60
    utc = anchor.astimezone(timezone.utc)
    first = (utc.isoweekday() % 7) * 1440 + utc.hour * 60 + utc.minute
    return sum(1 << ((first + k * period) % WEEK) for k in range(WEEK // period))


def _spec_masks(spec: ScheduleSpec, zone: str) -> tuple[int, ...] | None:
    """The minutes a plain schedule holds, or None when it holds none knowable here (and for
    a schedule whose own meaning is broken: validate reports that)."""
    try:
        if spec.every is not None:
            if spec.anchor is None:
                return None  # counted from creation on the platform: its phase is unknown
            anchor = spec.anchor
            if anchor.tzinfo is None:
                anchor = anchor.replace(tzinfo=timing.get_zone(spec.timezone or zone))
            seconds = int(timing.parse_duration(spec.every).total_seconds())
            mask = _interval_mask(seconds, anchor)
            return None if mask is None else (mask,) * len(SEASONS)
        time = _time_of(spec)
        if time is None:  # a one-shot
            return None
        return _cron_masks(_as_cron(time[0], time[1], spec), zone)
    except ValueError:  # CronError included
        return None


class _Levels:
    """Per-minute counts, capped at the capacity, as bit sets: levels[k] = count > k."""

    def __init__(self, capacity: int) -> None:
        self.levels = [0] * capacity
        self.top = 0  # how many levels are non-empty

    def fits(self, mask: int) -> bool:
        return not mask & self.levels[-1]

    def add(self, mask: int) -> None:
        levels = self.levels
        for k in range(min(self.top, len(levels) - 1), 0, -1):
            levels[k] |= levels[k - 1] & mask
        levels[0] |= mask
        if self.top < len(levels) and levels[self.top]:
            self.top += 1


# ---------------------------------------------------------------------------------------------
# Resolving a project's H times


@dataclass(frozen=True)
class Hashed:
    """An H time as written and as resolved."""

    written: str  # "H 9 * * 1-5", "09:H"
    resolved: str  # "37 9 * * 1-5", "09:37"
    spread: bool = False  # placed by spreading
    moved: bool = False  # spreading moved it off its own hashed value


@dataclass
class _Entry:
    resolved: ResolvedSchedule
    pattern: HashedPattern
    where: tuple[str, ...]
    start: int
    spread: bool
    index: int = 0
    overflow: bool = False


def _may_hash(spec: ScheduleSpec) -> bool:
    time = _time_of(spec)
    return time is not None and "H" in time[1]


def resolve_hashed(project: Project) -> None:
    """Replace every H time of the project's schedules by its value (spread where asked).

    A schedule whose H time is wrong is dropped with an error at its line, like any other
    invalid schedule.
    """
    if not any(_may_hash(s.schedule.schedule) or s.schedule.spread for s in project.schedules):
        return
    owner = project.config.owner
    default_spread = project.config.defaults.spread
    entries: dict[int, _Entry] = {}
    dropped: set[int] = set()
    by_target: dict[str, list[_Entry]] = defaultdict(list)
    for s in project.schedules:
        time = _time_of(s.schedule.schedule)
        pattern = None
        if time is not None:
            try:
                pattern = parse_hashed(time[0], time[1])
            except HashError as exc:
                project.diagnostics.append(s.diagnostic(("schedule", *time[2]), str(exc)))
                dropped.add(id(s))
                continue
        if pattern is None or time is None:
            if s.schedule.spread:
                project.diagnostics.append(
                    s.diagnostic(
                        ("spread",),
                        "spread: true changes nothing without an H time (for example "
                        'cron: "H 9 * * 1-5" or daily: "09:H")',
                        "warning",
                    )
                )
            continue
        spread = s.schedule.spread if s.schedule.spread is not None else default_spread
        entry = _Entry(s, pattern, time[2], hash_index(owner, s.key, pattern.space), spread)
        entry.index = entry.start
        entries[id(s)] = entry
        by_target[s.target].append(entry)
    for target, group in by_target.items():
        movers = sorted((e for e in group if e.spread), key=lambda e: e.resolved.key)
        if not movers:
            continue
        capacity = platform_capacity(project.config.targets[target].platform)
        if capacity is not None:
            others = [s for s in project.for_target(target) if id(s) not in dropped]
            _spread(others, entries, movers, capacity.tasks)
            for e in movers:
                if e.overflow:
                    project.diagnostics.append(
                        e.resolved.diagnostic(
                            ("schedule", *e.where),
                            f"spread: no value of {e.pattern.text!r} has room on target "
                            f"{target!r} ({capacity.tasks} due tasks a minute at most): it "
                            "keeps its hashed time; widen the H range or move schedules to "
                            "another target",
                            "warning",
                        )
                    )
    kept: list[ResolvedSchedule] = []
    specs: dict[tuple[object, ...], ScheduleSpec] = {}  # a fleet's items share a few values
    for s in project.schedules:
        if id(s) in dropped:
            continue
        found = entries.get(id(s))
        if found is None:
            kept.append(s)
            continue
        text = found.pattern.render(found.index)
        alike = (_spec_key(s.schedule.schedule), text)
        spec = specs.get(alike)
        if spec is None:
            spec = specs[alike] = with_time(s.schedule.schedule, found.pattern.form, text)
        hashed = Hashed(found.pattern.text, text, found.spread, found.index != found.start)
        schedule = s.schedule.model_copy(update={"schedule": spec})
        kept.append(replace(s, schedule=schedule, hashed=hashed))
    project.schedules = kept


def _spread(
    schedules: Sequence[ResolvedSchedule],
    entries: dict[int, _Entry],
    movers: Sequence[_Entry],
    capacity: int,
) -> None:
    """Choose each mover's value (in key order) so that minutes stay within capacity."""
    seasons = [_Levels(capacity) for _ in SEASONS]
    moving = {id(e.resolved) for e in movers}
    for s in schedules:
        if id(s) in moving or not s.schedule.enabled:
            continue
        entry = entries.get(id(s))
        spec = s.schedule.schedule
        if entry is not None:  # hashed, not spread: fixed at its hashed value
            masks: tuple[int, ...] | None = _cron_masks(
                _cron_text(entry.pattern, entry.start, spec), s.timezone
            )
        else:
            masks = _spec_masks(spec, s.timezone)
        if masks is not None:
            for levels, mask in zip(seasons, masks, strict=True):
                levels.add(mask)
    full: set[tuple[HashedPattern, str]] = set()  # patterns with no room left anywhere
    for e in movers:
        spec = e.resolved.schedule.schedule
        zone = e.resolved.timezone
        chosen: int | None = None
        if e.resolved.schedule.enabled and (e.pattern, zone) not in full:
            space = e.pattern.space
            for step in range(space):
                index = (e.start + step) % space
                masks = _cron_masks(_cron_text(e.pattern, index, spec), zone)
                if all(lv.fits(m) for lv, m in zip(seasons, masks, strict=True)):
                    chosen = index
                    break
            if chosen is None:
                full.add((e.pattern, zone))
        if chosen is None:
            chosen = e.start
            e.overflow = e.resolved.schedule.enabled
        e.index = chosen
        if e.resolved.schedule.enabled:
            masks = _cron_masks(_cron_text(e.pattern, chosen, spec), zone)
            for levels, mask in zip(seasons, masks, strict=True):
                levels.add(mask)


# ---------------------------------------------------------------------------------------------
# Minute load from the real fires: validate's crowd check and `next --load`

# How far ahead validate looks, and how many fires of one schedule it counts: a week of a
# daily or hourly task; two days of a 15-minute one, whose day repeats itself.
CROWD_WINDOW = timedelta(days=7)
CROWD_MAX_FIRES = 200


def _spec_key(spec: ScheduleSpec) -> tuple[object, ...]:
    """What makes two schedule specs fire alike (cheaper than repr for thousands)."""
    weekly = (spec.weekly.at, tuple(spec.weekly.days)) if spec.weekly else None
    monthly = (spec.monthly.at, spec.monthly.day) if spec.monthly else None
    return (spec.cron, spec.every, spec.anchor, spec.at, spec.daily, weekly, monthly, spec.timezone)


def due_minutes(
    schedules: Sequence[ResolvedSchedule],
    start: datetime,
    until: datetime,
    max_fires: int | None = None,
) -> dict[int, list[int]]:
    """Epoch minute -> indexes of the enabled schedules due in it, for fires in (start, until].

    A schedule due twice in one minute counts once there (a task every second is one task).
    """
    alike: dict[tuple[tuple[object, ...], str], list[int]] = defaultdict(list)
    for index, s in enumerate(schedules):
        if s.schedule.enabled:
            alike[(_spec_key(s.schedule.schedule), s.timezone)].append(index)
    due: dict[int, list[int]] = defaultdict(list)
    end = until.timestamp()
    for indexes in alike.values():
        first = schedules[indexes[0]]
        trigger = timing.trigger_for(first.schedule.schedule, first.timezone, created_at=start)
        minutes: dict[int, None] = {}
        for fire in itertools.islice(trigger.iter_fires(start), max_fires):
            stamp = fire.timestamp()
            if stamp > end:
                break
            minutes[int(stamp) // 60] = None
        for minute in minutes:
            due[minute].extend(indexes)
    return due


def _named(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def crowd_warnings(
    provider: Any, schedules: Sequence[ResolvedSchedule], now: datetime
) -> list[Diagnostic]:
    """Warnings where more enabled tasks are due in one minute than the platform starts per
    tick. A plain schedule is warned about once, at its first crowded minute; a template's
    schedules share one warning (at the template's line)."""
    capacity = platform_capacity(str(getattr(provider, "name", "")))
    if capacity is None or len(schedules) <= capacity.tasks:
        return []
    due = due_minutes(schedules, now, now + CROWD_WINDOW, CROWD_MAX_FIRES)
    crowded = sorted((m, g) for m, g in due.items() if len(g) > capacity.tasks)
    name = str(getattr(provider, "name", "the platform"))
    limit = (
        f"{name} starts at most {capacity.tasks} at once (one tick every "
        f"{capacity.tick_seconds} s) and the rest wait for the next tick"
    )
    out: list[Diagnostic] = []
    reported: set[int] = set()
    fleets: dict[tuple[str, str], list[int]] = {}
    firsts: dict[tuple[str, str], tuple[int, list[int]]] = {}
    for minute, group in crowded:
        if len(reported) == len(schedules):  # every schedule warned of: the rest adds nothing
            break
        fresh = [i for i in group if i not in reported]
        if not fresh:  # the keys below are sorted only for a minute that warns
            continue
        reported.update(fresh)
        keys = sorted({schedules[i].key for i in group})
        unspread = any(not (h := schedules[i].hashed) or not h.spread for i in group)
        hint = "; an H time with `spread: true` keeps such schedules apart" if unspread else ""
        at = datetime.fromtimestamp(minute * 60, timezone.utc)
        said = (
            f"{len(group)} tasks are due at {at:%Y-%m-%d %H:%M} UTC ({_named(keys)}); {limit}{hint}"
        )
        for i in fresh:
            s = schedules[i]
            if s.template is not None:
                fleet = (s.template.name, s.target)
                fleets.setdefault(fleet, []).append(i)
                firsts.setdefault(fleet, (minute, group))
                continue
            out.append(
                s.diagnostic(("schedule",), f"{name} target {s.target!r}: {said}", "warning")
            )
    for fleet, members in fleets.items():
        minute, group = firsts[fleet]
        keys = sorted({schedules[i].key for i in group})
        at = datetime.fromtimestamp(minute * 60, timezone.utc)
        unspread = any(not (h := schedules[i].hashed) or not h.spread for i in members)
        hint = "; `spread: true` with an H time keeps them apart" if unspread else ""
        message = (
            f"{name} target {fleet[1]!r}: {len(members)} of this template's schedules are due "
            f"in crowded minutes, the first {at:%Y-%m-%d %H:%M} UTC with {len(group)} tasks "
            f"({_named(keys)}); {limit}{hint}"
        )
        out.extend(schedules[i].diagnostic(("schedule",), message, "warning") for i in members)
    return out
