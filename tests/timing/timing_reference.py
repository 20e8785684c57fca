"""A brute-force reference for cron fire times, independent of reconciler.timing.

It takes the field sets directly (no parser), walks UTC minutes one by one, converts each to
the zone's wall clock with zoneinfo and applies the rules of the issue literally:

- a wildcard job fires at every minute whose wall clock matches (both passes of a repeated
  hour, nothing for wall times that never show on the clock);
- a fixed-time job fires at a matching minute only if that wall time shows for the first
  time (fold=0 maps back to this instant), and at the first minute after a forward jump if
  any skipped wall minute matches (Vixie's catch-up, deduplicated to one fire).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class RefCron:
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    minute_star: bool
    hour_star: bool
    dom_star: bool
    dow_star: bool

    @property
    def fixed(self) -> bool:
        return not (self.minute_star or self.hour_star)

    def day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom_ok = d.day in self.doms
        dow_ok = d.isoweekday() % 7 in self.dows  # isoweekday: Monday 1 .. Sunday 7
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def matches(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and self.day_matches(wall.date())
        )


def ref_fires(cron: RefCron, zone_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Fire instants f (in UTC) with start < f <= end, by walking every UTC minute."""
    zone = ZoneInfo(zone_name)
    start_utc = start.astimezone(UTC)
    u = start_utc.replace(second=0, microsecond=0)
    if u <= start_utc:
        u += MINUTE
    end_utc = end.astimezone(UTC)
    prev_wall = (u - MINUTE).astimezone(zone).replace(tzinfo=None)
    out: list[datetime] = []
    while u <= end_utc:
        wall = u.astimezone(zone).replace(tzinfo=None)
        fire = False
        if cron.matches(wall):
            if not cron.fixed:
                fire = True
            else:  # first pass only: this wall time with fold=0 is this very instant
                fire = wall.replace(tzinfo=zone, fold=0).astimezone(UTC) == u
        if cron.fixed and not fire and wall - prev_wall > MINUTE:
            skipped = prev_wall + MINUTE
            while skipped < wall:
                if cron.matches(skipped):
                    fire = True
                    break
                skipped += MINUTE
        if fire:
            out.append(u)
        prev_wall = wall
        u += MINUTE
    return out


@cache
def transitions(
    zone_name: str, first_year: int = 1990, last_year: int = 2040
) -> tuple[datetime, ...]:
    """UTC instants (to the minute) where the zone's offset changes, found by probing days."""
    zone = ZoneInfo(zone_name)
    t = datetime(first_year, 1, 1, tzinfo=UTC)
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    out: list[datetime] = []
    offset = t.astimezone(zone).utcoffset()
    while t < stop:
        nxt = t + timedelta(days=1)
        new = nxt.astimezone(zone).utcoffset()
        if new != offset:
            lo, hi = t, nxt  # minutes: offset(lo) old, offset(hi) new
            while hi - lo > MINUTE:
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            offset = new
        t = nxt
    return tuple(out)
