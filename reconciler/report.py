"""The week as data: expected against actual runs, load and cost, for `schedctl report` (pure).

    build_report(project, audited, now=, until=)  -> Report (to_dict() is the JSON)

It draws what the other modules compute, and adds only the per-slot view of it:

    timeline   per schedule (grouped by target and template) each past slot's outcome, from the
               audit's own slot windows (audit.slots_of, audit.match_slots): ok, failed, late,
               missed, pending (its deadline has not passed); the runs no slot explains
               (unexpected) and the manual ones at their start; the future slots up to `until`
               (timing); the zone's DST changes (timing.zone_transitions)
    load       per target (one engine instance, one aitroop account) the tasks due per minute
               over the window (upcoming.load_report, the count `next --load` shows) against
               the platform's per-tick capacity (its Facts), the crowded minutes, and the runs
               the scheduler actually started per minute (the run log)
    cost       runs and tokens per UTC day per target, per template and per schedule (the run
               log); money and budget lines when a CostRules says what they are
    summary    the audit's findings per kind and the five worst schedules

A dense row (more slots than a timeline can show apart) keeps consecutive slots of one outcome
as one mark with its count: a week of a 5-minute poll is a few marks, not two thousand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from reconciler import timing
from reconciler.audit import (
    HEALTHY,
    KINDS,
    NOT_AUDITED,
    AuditReport,
    Expected,
    Finding,
    Run,
    TargetAudit,
    TaskHealth,
    counts,
    iso,
    known_sum,
    live_copies,
    match_slots,
    parse_instant,
    slots_of,
)
from reconciler.records import fields_of, source_of

if TYPE_CHECKING:
    from reconciler.loader import Project, ResolvedSchedule
    from reconciler.model import Config
    from reconciler.upcoming import TargetLoad

FORMAT_VERSION = "1"
Outcome = Literal["ok", "failed", "late", "missed", "pending", "manual", "unexpected", "future"]
OUTCOMES: tuple[Outcome, ...] = (
    "ok", "failed", "late", "missed", "pending", "manual", "unexpected", "future",
)  # fmt: skip
# Outcomes a reader looks for: counted into a schedule's badness, drawn above the others.
BAD: tuple[Outcome, ...] = ("failed", "missed", "late", "unexpected")
DENSE = 120  # marks a row shows apart; above it consecutive marks of one outcome merge
WORST = 5
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Mark:
    """One slot (or a run no slot explains), or consecutive ones of one outcome merged."""

    outcome: Outcome
    at: float  # the slot; a manual or unexpected run's start
    last: float  # the last slot merged into this mark (`at` when one)
    count: int = 1
    run_id: str | None = None
    started: float | None = None
    error: str | None = None

    def to_dict(self, zone: str) -> dict[str, Any]:
        local = datetime.fromtimestamp(self.at, timezone.utc).astimezone(timing.get_zone(zone))
        return {
            "outcome": self.outcome,
            "at": iso(self.at),
            "local": local.isoformat(timespec="seconds"),
            "last": iso(self.last),
            "count": self.count,
            "run_id": self.run_id,
            "started_at": None if self.started is None else iso(self.started),
            "lateness_s": (
                None
                if self.started is None or self.outcome in ("manual", "unexpected")
                else round(self.started - self.at, 3)
            ),
            "error": self.error,
        }


@dataclass(frozen=True)
class Limits:
    """A schedule's budget: what one schedule may spend a day (None: no limit)."""

    tokens_per_day: float | None = None
    runs_per_day: float | None = None


@dataclass(frozen=True)
class Price:
    per_1k_tokens: float
    currency: str = "USD"

    def of(self, tokens: float | None) -> float | None:
        return None if tokens is None else round(tokens / 1000 * self.per_1k_tokens, 4)


@dataclass(frozen=True)
class CostRules:
    """Where money and budgets come from (the config's pricing and budgets, when it has them):
    per target a price, per schedule its limits. The defaults know neither."""

    price: Callable[[str], Price | None] = lambda target: None
    limits: Callable[[str, str], Limits | None] = lambda target, key: None


def cost_rules(config: Config) -> CostRules:
    """The config's pricing and budgets as the report draws them: a target's price, and per
    schedule the tightest runs and tokens a day of the budgets that cover it."""
    from reconciler.cost import budgets_for

    def price(target: str) -> Price | None:
        pricing = config.pricing_for(target)
        return None if pricing is None else Price(pricing.per_1k_tokens, pricing.currency)

    def limits(target: str, key: str) -> Limits | None:
        budgets = [a.budget for a in budgets_for(config, target, key)]
        tokens = [b.max_tokens_per_day for b in budgets if b.max_tokens_per_day is not None]
        runs = [b.max_runs_per_day for b in budgets if b.max_runs_per_day is not None]
        if not tokens and not runs:
            return None
        return Limits(min(tokens, default=None), min(runs, default=None))

    return CostRules(price=price, limits=limits)


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class Day:
    """One UTC day's spend."""

    day: str  # YYYY-MM-DD
    runs: int = 0
    tokens: int | None = None
    money: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "runs": self.runs, "tokens": self.tokens, "money": self.money}


class _Spend:
    """Tokens and money summed over `parts`: unknown (None) when no part knows them."""

    @property
    def parts(self) -> Iterable[Day | Row]:
        raise NotImplementedError

    @property
    def tokens(self) -> int | None:
        return known_sum(p.tokens for p in self.parts)

    @property
    def money(self) -> float | None:
        return _money(known_sum(p.money for p in self.parts))


@dataclass
class Row(_Spend):
    """One schedule on one target (or an orphan with runs): its slots, findings and cost."""

    target: str
    key: str
    title: str
    template: str | None  # the fleet it was made from
    zone: str
    description: str
    health: str
    marks: list[Mark] = field(default_factory=list)  # the past, in time order
    future: list[Mark] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    tally: dict[str, int] = field(default_factory=dict)  # slots (or runs) per outcome
    days: list[Day] = field(default_factory=list)
    limits: Limits | None = None
    task_ids: tuple[str, ...] = ()
    note: str = ""
    file: str = ""
    line: int = 0

    @property
    def anchor(self) -> str:
        return anchor(self.target, self.key)

    @property
    def bad(self) -> int:
        return sum(self.tally.get(o, 0) for o in BAD)

    @property
    def parts(self) -> list[Day]:
        return self.days

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "target", "key", "title", "template"),
            "timezone": self.zone,
            **fields_of(self, "description", "health", "anchor"),
            "source": source_of(self.file, self.line),
            "task_ids": list(self.task_ids),
            "note": self.note or None,
            "tally": dict(self.tally),
            "past": [m.to_dict(self.zone) for m in self.marks],
            "future": [m.to_dict(self.zone) for m in self.future],
            "findings": [f.to_dict() for f in self.findings],
            "cost": {
                "tokens": self.tokens,
                "money": self.money,
                "days": [d.to_dict() for d in self.days],
                "budget": None
                if self.limits is None
                else {
                    "tokens_per_day": self.limits.tokens_per_day,
                    "runs_per_day": self.limits.runs_per_day,
                },
            },
        }


@dataclass
class Group(_Spend):
    """The rows of one target made from one template (`template` None: its plain schedules)."""

    target: str
    template: str | None
    rows: list[Row]

    @property
    def parts(self) -> list[Row]:
        return self.rows

    @property
    def runs(self) -> int:
        return sum(d.runs for r in self.rows for d in r.days)

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "target", "template", "runs", "tokens", "money"),
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class Crowded:
    minute: float
    due: int
    keys: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"minute": iso(self.minute), "due": self.due, "keys": list(self.keys)}


@dataclass
class Load:
    """One target's tasks due per minute against its capacity, and what actually started."""

    target: str
    capacity: int | None
    tick_seconds: int | None
    due: list[tuple[float, int]]  # (minute, tasks due), minutes with any, in order
    started: list[tuple[float, int]]  # (minute, scheduler runs started): the past
    crowded: list[Crowded]

    @property
    def peak(self) -> int:
        return max((n for _, n in self.due), default=0)

    @property
    def started_peak(self) -> int:
        return max((n for _, n in self.started), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "capacity", "tick_seconds", "peak", "started_peak"),
            "crowded": [c.to_dict() for c in self.crowded],
            "due": [[iso(m), n] for m, n in self.due],
            "started": [[iso(m), n] for m, n in self.started],
        }


@dataclass
class TargetReport:
    target: str
    platform: str
    where: str
    error: str | None
    notes: list[str]
    findings: dict[str, int]
    load: Load | None
    days: list[Day]
    currency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "target", "platform", "where", "error"),
            "notes": list(self.notes),
            "findings": dict(self.findings),
            "load": None if self.load is None else self.load.to_dict(),
            "cost": {"currency": self.currency, "days": [d.to_dict() for d in self.days]},
        }


@dataclass(frozen=True)
class DstChange:
    zone: str
    at: float
    before: int  # UTC offsets, seconds
    after: int

    @property
    def words(self) -> str:
        shift = (self.after - self.before) // 60
        return f"{self.zone}: clocks {'forward' if shift > 0 else 'back'} {abs(shift)} min"

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "at": iso(self.at),
            "offset_before_s": self.before,
            "offset_after_s": self.after,
        }


@dataclass
class Report:
    owner: str
    config: str | None
    since: float
    now: float
    until: float
    targets: list[TargetReport]
    groups: list[Group]
    dst: list[DstChange]
    findings: dict[str, int]
    worst: list[Row]
    days: list[str]  # the UTC days the window touches (YYYY-MM-DD)

    @property
    def rows(self) -> Iterable[Row]:
        return (r for g in self.groups for r in g.rows)

    @property
    def finding_count(self) -> int:
        return sum(self.findings.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            **fields_of(self, "owner", "config"),
            "since": iso(self.since),
            "now": iso(self.now),
            "until": iso(self.until),
            "days": list(self.days),
            "summary": {
                "findings": self.finding_count,
                "by_kind": dict(self.findings),
                "schedules": sum(1 for _ in self.rows),
                "worst": [
                    {
                        "target": r.target,
                        "key": r.key,
                        "health": r.health,
                        "anchor": r.anchor,
                        "bad_slots": r.bad,
                    }
                    for r in self.worst
                ],
            },
            "dst": [d.to_dict() for d in self.dst],
            "targets": [t.to_dict() for t in self.targets],
            "groups": [g.to_dict() for g in self.groups],
        }


_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def anchor(target: str, key: str) -> str:
    """A row's HTML id: `row-prod--morning-digest` (keys are already id-safe)."""
    return f"row-{_UNSAFE.sub('_', target.lower())}--{_UNSAFE.sub('_', key.lower())}"


def day_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def window_days(since: float, until: float) -> list[str]:
    first = datetime.fromtimestamp(since, timezone.utc).date()
    last = datetime.fromtimestamp(max(since, until), timezone.utc).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


# ---------------------------------------------------------------------------------------------
# Slots


def merged(marks: Sequence[Mark], limit: int = DENSE) -> list[Mark]:
    """`marks` as they are when `limit` or fewer, else consecutive ones of one outcome (and
    one error text) as one mark with their count: a streak's own runs are not shown apart."""
    if len(marks) <= limit:
        return list(marks)
    out: list[Mark] = []
    first = 0
    for i in range(1, len(marks) + 1):
        if (
            i < len(marks)
            and marks[i].outcome == marks[first].outcome
            and (marks[i].error == marks[first].error)
        ):
            continue
        head = marks[first]
        if i - first == 1:
            out.append(head)
        else:
            count = sum(m.count for m in marks[first:i])
            out.append(
                Mark(head.outcome, head.at, marks[i - 1].last, count, None, None, head.error)
            )
        first = i
    return out


def past_marks(
    exp: Expected,
    live: Sequence[Any],
    runs: Sequence[Run],
    since: float,
    now: float,
    tick: float,
    grace: float,
) -> list[Mark]:
    """Each slot of `exp` in [since, now] with its outcome, and the runs no slot explains, as
    the audit judges them (the same windows and matching)."""
    primary = live[0]
    created = parse_instant(primary.created_at)
    start = max(since, created) if created is not None else since
    scheduled = [r for r in runs if r.trigger != "manual"]
    before, slots = (None, []) if not exp.enabled else slots_of(
        exp.spec, exp.timezone, created, start, now
    )  # fmt: skip
    windows = ([before] if before is not None else []) + slots
    first = 1 if before is not None else 0
    matched, unexpected = match_slots(windows, scheduled, tick, primary.id, exp.enabled)
    marks: list[Mark] = []
    for i in range(first, len(windows)):
        slot = windows[i]
        run = matched.get(i)
        if run is None:
            outcome: Outcome = "missed" if slot + grace <= now else "pending"
            marks.append(Mark(outcome, slot, slot))
            continue
        if run.status == "error":
            outcome = "failed"
        elif run.started - slot >= tick:
            outcome = "late"
        else:
            outcome = "ok"
        marks.append(Mark(outcome, slot, slot, 1, run.id, run.started, run.error))
    marks.extend(
        Mark("unexpected", r.started, r.started, 1, r.id, r.started, r.error or why)
        for r, why in unexpected
    )
    marks.extend(
        Mark("manual", r.started, r.started, 1, r.id, r.started, r.error)
        for r in runs
        if r.trigger == "manual"
    )
    marks.sort(key=lambda m: m.at)
    return marks


def future_marks(spec: Any, zone: str, now: float, until: float) -> list[Mark]:
    trigger = timing.trigger_for(spec, zone)
    fires = trigger.stamps_between(
        datetime.fromtimestamp(now, timezone.utc), datetime.fromtimestamp(until, timezone.utc)
    )
    return [Mark("future", f, f) for f in fires]


def tally_of(marks: Iterable[Mark]) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for m in marks:
        out[m.outcome] += m.count
    return out


# ---------------------------------------------------------------------------------------------
# Cost


def spend_by_day(runs: Iterable[Run], days: Sequence[str], price: Price | None = None) -> list[Day]:
    """Runs and tokens per UTC day of `days` (consecutive, as window_days makes them)."""
    if not days:
        return []
    first = datetime.fromisoformat(days[0]).replace(tzinfo=timezone.utc).timestamp()
    count = [0] * len(days)
    tokens: list[int | None] = [None] * len(days)
    for r in runs:
        index = int((r.started - first) // DAY)
        if 0 <= index < len(days):
            count[index] += 1
            if r.tokens is not None:
                tokens[index] = (tokens[index] or 0) + r.tokens
    return [
        Day(day, count[i], tokens[i], price.of(tokens[i]) if price is not None else None)
        for i, day in enumerate(days)
    ]


# ---------------------------------------------------------------------------------------------
# Load


def load_of(target: TargetLoad, runs: Iterable[Run], since: float, until: float) -> Load:
    """A target's minute load (from `next --load`'s count) within [since, until], with the
    scheduler runs started per minute beside it."""
    due = [
        (m.minute.timestamp(), len(m.keys))
        for m in target.minutes
        if since <= m.minute.timestamp() <= until
    ]
    started: dict[float, int] = {}
    for r in runs:
        if r.trigger != "manual" and since <= r.started <= until:
            minute = float(int(r.started) // 60 * 60)
            started[minute] = started.get(minute, 0) + 1
    cap = target.capacity
    crowded = [
        Crowded(m.minute.timestamp(), len(m.keys), tuple(m.keys))
        for m in target.over
        if since <= m.minute.timestamp() <= until
    ]
    return Load(
        target.target,
        cap,
        target.tick_seconds,
        due,
        sorted(started.items()),
        crowded,
    )


# ---------------------------------------------------------------------------------------------
# The report


def _health_rank(row: Row) -> int:
    return KINDS.index(row.health) if row.health in KINDS else len(KINDS)


def worst_rows(rows: Iterable[Row], count: int = WORST) -> list[Row]:
    """The schedules with findings, worst first: by their worst finding's kind, then by how
    many slots went wrong."""
    found = [r for r in rows if r.health not in (HEALTHY, NOT_AUDITED)]
    found.sort(key=lambda r: (_health_rank(r), -r.bad, r.target, r.key))
    return found[:count]


def _target_rows(
    audited: TargetAudit,
    resolved: Mapping[str, ResolvedSchedule],
    now: float,
    until: float,
    days: Sequence[str],
    rules: CostRules,
    tolerance: float,
) -> list[Row]:
    inp = audited.source
    tick = inp.tick.total_seconds() if inp is not None else 60.0
    grace = tick + tolerance
    expected = {e.key: e for e in inp.expected} if inp is not None else {}
    copies = live_copies(inp.tasks, inp.owner) if inp is not None else {}
    by_task: dict[str, list[Run]] = {}
    if inp is not None:
        for run in inp.runs:
            if audited.since <= run.started <= now:
                by_task.setdefault(run.task_id, []).append(run)
    findings: dict[str, list[Finding]] = {}
    for f in audited.findings:
        findings.setdefault(f.key, []).append(f)
    price = rules.price(audited.target)
    rows = []
    for health in audited.tasks:
        rows.append(
            _row(
                audited, health, resolved.get(health.key), expected.get(health.key),
                copies.get(health.key, []), by_task, findings.get(health.key, []),
                now, until, days, tick, grace, price, rules,
            )
        )  # fmt: skip
    return rows


def _row(
    audited: TargetAudit,
    health: TaskHealth,
    resolved: ResolvedSchedule | None,
    exp: Expected | None,
    live: Sequence[Any],
    by_task: Mapping[str, list[Run]],
    found: list[Finding],
    now: float,
    until: float,
    days: Sequence[str],
    tick: float,
    grace: float,
    price: Price | None,
    rules: CostRules,
) -> Row:
    runs = sorted((r for t in live for r in by_task.get(t.id, ())), key=lambda r: r.started)
    if exp is not None and live:
        past = past_marks(exp, live, runs, audited.since, now, tick, grace)
    else:  # an orphan's runs: every scheduler run is unexpected
        past = [
            Mark(
                "manual" if r.trigger == "manual" else "unexpected",
                r.started, r.started, 1, r.id, r.started, r.error,
            )
            for r in runs
        ]  # fmt: skip
    future: list[Mark] = []
    description = ""
    if resolved is not None:
        spec = resolved.schedule.schedule
        description = timing.describe(spec)
        if resolved.schedule.enabled:
            future = future_marks(spec, resolved.timezone, now, until)
    return Row(
        target=audited.target,
        key=health.key,
        title=health.title,
        template=resolved.template.name if resolved is not None and resolved.template else None,
        zone=health.zone if exp is not None else (resolved.timezone if resolved else "UTC"),
        description=description,
        health=health.health,
        marks=merged(past),
        future=merged(future),
        findings=found,
        tally=tally_of([*past, *future]),
        days=spend_by_day(runs, days, price),
        limits=rules.limits(audited.target, health.key),
        task_ids=health.task_ids,
        note=health.note,
        file=health.file,
        line=health.line,
    )


def _groups(rows: Sequence[Row], order: Sequence[str]) -> list[Group]:
    from reconciler.render.tables import natural_key

    by: dict[tuple[str, str | None], list[Row]] = {}
    for row in rows:
        by.setdefault((row.target, row.template), []).append(row)
    place = {name: i for i, name in enumerate(order)}
    keys = sorted(
        by, key=lambda k: (place.get(k[0], len(place)), k[1] is not None, natural_key(k[1] or ""))
    )
    return [
        Group(t, template, sorted(by[(t, template)], key=lambda r: natural_key(r.key)))
        for t, template in keys
    ]


def dst_changes(zones: Iterable[str], since: float, until: float) -> list[DstChange]:
    out: list[DstChange] = []
    for name in sorted(set(zones)):
        try:
            zone = timing.get_zone(name)
        except ValueError:
            continue
        out.extend(DstChange(name, *t) for t in timing.zone_transitions(zone, since, until))
    return sorted(out, key=lambda d: (d.at, d.zone))


def build_report(
    project: Project,
    audited: AuditReport,
    *,
    now: float,
    until: float,
    loads: Sequence[TargetLoad] = (),
    rules: CostRules | None = None,
    tolerance: timedelta | None = None,
) -> Report:
    """The report of [audited.since, until]: the audit's window is the past (it ends at `now`),
    the rest the future. `loads`: upcoming.load_report's minutes covering the window."""
    from reconciler.audit import DEFAULT_TOLERANCE

    rules = rules or CostRules()
    grace = (tolerance or DEFAULT_TOLERANCE).total_seconds()
    since = audited.since
    days = window_days(since, until)
    by_load = {t.target: t for t in loads}
    targets: list[TargetReport] = []
    rows: list[Row] = []
    for t in audited.targets:
        resolved = {s.key: s for s in project.for_target(t.target)}
        target_rows = (
            _target_rows(t, resolved, now, until, days, rules, grace) if not t.error else []
        )
        rows.extend(target_rows)
        runs = t.source.runs if t.source is not None else ()
        price = rules.price(t.target)
        target_load = by_load.get(t.target)
        targets.append(
            TargetReport(
                t.target,
                t.platform,
                t.where,
                t.error,
                list(t.notes),
                counts(t.findings),
                None if target_load is None else load_of(target_load, runs, since, until),
                spend_by_day([r for r in runs if since <= r.started <= now], days, price),
                None if price is None else price.currency,
            )
        )
    groups = _groups(rows, [t.target for t in audited.targets])
    return Report(
        owner=audited.owner,
        config=audited.config,
        since=since,
        now=now,
        until=until,
        targets=targets,
        groups=groups,
        dst=dst_changes((r.zone for r in rows), since, until),
        findings=counts(audited.findings),
        worst=worst_rows(rows),
        days=days,
    )


def ceil_days(since: float, until: float) -> int:
    """Whole days from the hour of `since` past `until`: what load_report is asked for."""
    first = since - since % 3600
    return max(1, math.ceil((until - first) / DAY))
