"""Cost and budgets (pure: no I/O).

    runs_per_day     a schedule's runs on an average day (timing's fire counts: a DST day's
                     extra or missing hour evens out over the year)
    observe          a task's run log -> the median tokens and duration of its last N runs
    check_budgets    validate: each budget against the runs, intervals, per-minute crowding
                     and estimated tokens of the schedules it covers (offline)
    spend_findings   audit: what each task actually ran and spent per day against its budgets
    wanted_ids       the live tasks a plan needs run logs of: those it changes, and the
                     template siblings a new task is estimated from
    cost_target      a target's plan with the cost of each change and the target's totals,
                     and the token budgets a change crosses

A task's cost per run is, in order: the median of its own last runs (observed), the
schedule's `estimate: {tokens: N}`, the median of its template siblings' medians, else
unknown, which is never shown or summed as zero. Budgets cap each schedule they cover: a
target's `budget` every schedule of the target, a `budgets` glob every schedule whose key
matches. `budget_exception: "reason"` on a schedule turns its excesses into notes.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal

from reconciler import timing
from reconciler.errors import Diagnostic

if TYPE_CHECKING:
    from reconciler.audit import Finding, Run, TargetAudit
    from reconciler.forms import Json, Listing, LiveTask
    from reconciler.loader import Project, ResolvedSchedule
    from reconciler.model import Budget, Config, Pricing, ScheduleSpec
    from reconciler.plan import Change, TargetPlan

Source = Literal["observed", "estimate", "siblings", "unknown"]
SIBLINGS = 5  # live siblings of a template whose run logs estimate a new item
# Fires looked at for the shortest gap of a cron or preset: every minute for two days, a
# daily or monthly one over five weeks.
GAP_WINDOW = timedelta(days=35)
GAP_MAX_FIRES = 3000
# Kinds of change that cost something differently once applied (the rest are not written).
COSTED = ("create", "update", "rename", "delete", "duplicate")


# ---------------------------------------------------------------------------------------------
# Runs per day and intervals


def runs_per_day(spec: ScheduleSpec, zone: str) -> float:
    """Runs on an average day; 0 for a one-shot."""
    return timing.trigger_for(spec, zone).runs_per_day()


def shortest_gap(spec: ScheduleSpec, zone: str, start: datetime) -> timedelta | None:
    """The least time between two runs (None: a one-shot, or one fire in the window)."""
    if spec.every is not None:
        return timing.parse_duration(spec.every)
    if spec.at is not None:
        return None
    trigger = timing.trigger_for(spec, zone)
    end = start + GAP_WINDOW
    best: timedelta | None = None
    previous: datetime | None = None
    for fire in itertools.islice(trigger.iter_fires(start), GAP_MAX_FIRES):
        if fire > end:
            break
        if previous is not None and (best is None or fire - previous < best):
            best = fire - previous
        previous = fire
    return best


def spec_of(document: Mapping[str, Any] | None) -> ScheduleSpec | None:
    """The schedule of a neutral document (a plan's before / after), None when unreadable."""
    if not document or not isinstance(document.get("schedule"), Mapping):
        return None
    from pydantic import ValidationError

    from reconciler.model import ScheduleSpec

    try:
        return ScheduleSpec.model_validate(document["schedule"])
    except (ValidationError, ValueError, TypeError):
        return None


def document_rate(document: Mapping[str, Any] | None) -> float:
    """Runs per day of a neutral document: 0 when disabled, absent or unreadable."""
    if not document or document.get("enabled") is False:
        return 0.0
    spec = spec_of(document)
    if spec is None:
        return 0.0
    try:
        return runs_per_day(spec, spec.timezone or "UTC")
    except ValueError:
        return 0.0


def form_text(spec: ScheduleSpec) -> str:
    """The schedule as written, short: `every 5m`, `cron "*/5 * * * *"`, `daily 09:00`."""
    if spec.every is not None:
        return f"every {spec.every}"
    if spec.cron is not None:
        return f'cron "{spec.cron}"'
    if spec.daily is not None:
        return f"daily {spec.daily}"
    if spec.weekly is not None:
        return f"weekly {spec.weekly.at} on {len(spec.weekly.days)} day(s)"
    if spec.monthly is not None:
        return f"monthly on day {spec.monthly.day} at {spec.monthly.at}"
    return "once"


def form_of(spec: ScheduleSpec) -> str:
    from reconciler.model import SCHEDULE_FORMS

    return next((f for f in SCHEDULE_FORMS if getattr(spec, f) is not None), "cron")


# ---------------------------------------------------------------------------------------------
# Figures in words


def number_text(value: float) -> str:
    """96, 0.43, 1.5"""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def tokens_text(value: float) -> str:
    """900, 12.5 k, 1.2 M"""
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:.1f} G"
    if size >= 1e6:
        return f"{value / 1e6:.1f} M"
    if size >= 1e4:
        return f"{value / 1e3:.1f} k"
    return f"{round(value):,}"


_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money_text(value: float, currency: str, *, sign: bool = False) -> str:
    """$12, $0.35, 3.40 CHF; with `sign`, +$12 / -$0.35."""
    size = abs(value)
    amount = f"{size:,.0f}" if size >= 10 else f"{size:.2f}"
    symbol = _SYMBOLS.get(currency)
    text = f"{symbol}{amount}" if symbol else f"{amount} {currency}"
    if sign:
        return ("-" if value < 0 else "+") + text
    return ("-" if value < 0 else "") + text


def signed(value: float, text: str) -> str:
    return ("+" if value >= 0 else "-") + text.lstrip("-")


# ---------------------------------------------------------------------------------------------
# Observed cost


@dataclass(frozen=True)
class Observed:
    """What a task's last runs cost: medians (None when no run reported it)."""

    runs: int  # runs read
    tokens: float | None  # per run
    duration_ms: float | None


def median(values: Iterable[float]) -> float | None:
    found = list(values)
    return float(statistics.median(found)) if found else None


def observe(runs: Iterable[Run], last: int) -> Observed:
    """The medians over the newest `last` runs (a run still going reports no duration)."""
    newest = sorted(runs, key=lambda r: r.started, reverse=True)[:last]
    return Observed(
        len(newest),
        median(r.tokens for r in newest if r.tokens is not None),
        median(r.duration_ms for r in newest if r.duration_ms is not None),
    )


# ---------------------------------------------------------------------------------------------
# Budgets


@dataclass(frozen=True)
class Applied:
    """One budget covering a schedule: whose it is and where the config says it."""

    budget: Budget
    who: str  # "target prod", 'budget "monitor-*"'
    loc: tuple[str, ...]  # its path in the config

    def where(self, project: Project, limit: str) -> str:
        from reconciler.yamlpos import position_of

        if not project.config_file:
            return "in the config"
        pos = position_of(project.config_data, (*self.loc, limit))
        return f"at {project.config_file}:{pos.line}"


def budgets_for(config: Config, target: str, key: str) -> list[Applied]:
    out = []
    own = config.targets[target].budget if target in config.targets else None
    if own is not None:
        out.append(Applied(own, f"target {target}", ("targets", target, "budget")))
    for glob, budget in config.budgets.items():
        if fnmatchcase(key, glob):
            out.append(Applied(budget, f'budget "{glob}"', ("budgets", glob)))
    return out


def has_budgets(config: Config) -> bool:
    return bool(config.budgets) or any(t.budget for t in config.targets.values())


def _passing_interval(max_runs: float) -> timedelta:
    """The shortest whole-minute interval that makes at most `max_runs` a day."""
    return timedelta(minutes=max(1, math.ceil(1440 / max_runs)))


def _interval_example(max_runs: float) -> str:
    every = _passing_interval(max_runs)
    return (
        f"e.g. every: {timing.format_duration(every)} "
        f"({number_text(round(86400 / every.total_seconds(), 2))} runs/day) passes"
    )


EXCEPTION_HINT = 'or budget_exception: "why" on the schedule lets a reviewed change through'


def runs_problem(applied: Applied, project: Project, rate: float, spec: ScheduleSpec) -> str | None:
    limit = applied.budget.max_runs_per_day
    if limit is None or rate <= limit + 1e-9:
        return None
    return (
        f"{applied.who} allows at most {number_text(limit)} runs/day (budget "
        f"{applied.where(project, 'max_runs_per_day')}); this schedule makes "
        f"{number_text(round(rate, 2))} ({form_text(spec)}); {_interval_example(limit)}"
    )


def gap_problem(
    applied: Applied, project: Project, gap: timedelta | None, spec: ScheduleSpec
) -> str | None:
    text = applied.budget.min_interval
    if text is None or gap is None:
        return None
    least = timing.parse_duration(text)
    if gap >= least:
        return None
    return (
        f"{applied.who} allows runs at least {text} apart (budget "
        f"{applied.where(project, 'min_interval')}); this schedule runs "
        f"{timing.format_duration(gap)} apart ({form_text(spec)}); e.g. every: "
        f"{timing.format_duration(least)} passes"
    )


def tokens_problem(
    applied: Applied,
    project: Project,
    rate: float,
    per_run: float | None,
    why: str,
    spec: ScheduleSpec,
) -> str | None:
    limit = applied.budget.max_tokens_per_day
    if limit is None or per_run is None or rate * per_run <= limit:
        return None
    runs = limit / per_run if per_run else math.inf
    example = _interval_example(runs) if runs >= 1 / 30 else "e.g. enabled: false passes"
    return (
        f"{applied.who} allows at most {tokens_text(limit)} tokens/day (budget "
        f"{applied.where(project, 'max_tokens_per_day')}); this schedule makes ≈ "
        f"{tokens_text(rate * per_run)} tokens/day ({number_text(round(rate, 2))} runs/day × "
        f"{tokens_text(per_run)} tokens per run, {why}; {form_text(spec)}); {example}"
    )


def _excused(s: ResolvedSchedule, loc: Sequence[str], message: str) -> Diagnostic:
    """An excess the schedule's budget_exception lets through: a note naming the reason."""
    reason = s.schedule.budget_exception
    if reason:
        return s.diagnostic(
            ("budget_exception",), f"{message}; allowed by budget_exception: {reason!r}", "warning"
        )
    return s.diagnostic(loc, f"{message}, {EXCEPTION_HINT}")


def check_budgets(
    project: Project, schedules: Sequence[ResolvedSchedule], now: datetime
) -> list[Diagnostic]:
    """Each budget against the enabled schedules it covers: runs per day, the shortest
    interval, tokens per day from an `estimate`, and how many are due in one minute."""
    config = project.config
    if not has_budgets(config):
        return []
    from reconciler.spread import _spec_key

    out: list[Diagnostic] = []
    rates: dict[tuple[object, ...], float] = {}
    gaps: dict[tuple[object, ...], timedelta | None] = {}
    crowds: dict[tuple[str, tuple[str, ...]], tuple[Applied, list[ResolvedSchedule]]] = {}
    for s in schedules:
        if not s.schedule.enabled:
            continue
        applied = budgets_for(config, s.target, s.key)
        if not applied:
            continue
        spec = s.schedule.schedule
        alike = (_spec_key(spec), s.timezone)
        if alike not in rates:
            rates[alike] = runs_per_day(spec, s.timezone)
        rate = rates[alike]
        loc = ("schedule", form_of(spec))
        estimate = s.schedule.estimate
        for a in applied:
            if a.budget.min_interval is not None and alike not in gaps:
                gaps[alike] = shortest_gap(spec, s.timezone, now)
            problems = [
                runs_problem(a, project, rate, spec),
                gap_problem(a, project, gaps.get(alike), spec),
                tokens_problem(
                    a,
                    project,
                    rate,
                    estimate.tokens if estimate else None,
                    "its estimate",
                    spec,
                ),
            ]
            out.extend(_excused(s, loc, p) for p in problems if p)
            if a.budget.max_concurrent_per_minute is not None and not s.schedule.budget_exception:
                crowds.setdefault((s.target, a.loc), (a, []))[1].append(s)
    for (target, _), (a, members) in crowds.items():
        out.extend(_crowd_problem(project, target, a, members, now))
    return out


def _crowd_problem(
    project: Project, target: str, a: Applied, members: list[ResolvedSchedule], now: datetime
) -> list[Diagnostic]:
    from reconciler.spread import CROWD_MAX_FIRES, CROWD_WINDOW, due_minutes
    from reconciler.yamlpos import position_of

    limit = a.budget.max_concurrent_per_minute
    assert limit is not None
    if len(members) <= limit:
        return []
    due = due_minutes(members, now, now + CROWD_WINDOW, CROWD_MAX_FIRES)
    crowded = sorted((m, g) for m, g in due.items() if len(g) > limit)
    if not crowded:
        return []
    minute, group = crowded[0]
    keys = sorted({members[i].key for i in group})
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    at = datetime.fromtimestamp(minute * 60, timezone.utc)
    message = (
        f"{a.who} allows at most {limit} of its schedules due in one minute on target "
        f"{target}; {len(group)} are due at {at:%Y-%m-%d %H:%M} UTC ({shown}), and "
        f"{len(crowded)} minute(s) in the next {CROWD_WINDOW.days} days are over; e.g. an H "
        f'minute with spread: true (daily: "09:H") keeps them apart, {EXCEPTION_HINT}'
    )
    if not project.config_file:
        return [Diagnostic.general(message)]
    pos = position_of(project.config_data, (*a.loc, "max_concurrent_per_minute"))
    return [Diagnostic(project.config_file, pos.line, pos.column, message)]


# ---------------------------------------------------------------------------------------------
# Cost in plans


@dataclass(frozen=True)
class ChangeCost:
    """What one change does to a task's cost per day. Tokens None: unknown (never 0)."""

    runs_before: float
    runs_after: float
    tokens_per_run: float | None = None
    source: Source = "unknown"
    sampled: int = 0  # the runs (or siblings) the median is over
    duration_ms: float | None = None  # median duration per run
    per_1k_tokens: float | None = None
    currency: str | None = None
    exception: str | None = None  # the schedule's budget_exception
    over: tuple[str, ...] = ()  # the token budgets it crosses, as file:line messages

    def _tokens(self, runs: float) -> float | None:
        if runs == 0:
            return 0.0
        return None if self.tokens_per_run is None else runs * self.tokens_per_run

    @property
    def tokens_before(self) -> float | None:
        return self._tokens(self.runs_before)

    @property
    def tokens_after(self) -> float | None:
        return self._tokens(self.runs_after)

    @property
    def blocks(self) -> bool:
        """Over a budget, with no exception: the plan fails."""
        return bool(self.over) and not self.exception

    def money(self, tokens: float | None) -> float | None:
        if tokens is None or self.per_1k_tokens is None:
            return None
        return tokens / 1000 * self.per_1k_tokens

    def to_dict(self) -> Json:
        return {
            "runs_per_day": {"before": _r(self.runs_before), "after": _r(self.runs_after)},
            "tokens_per_run": _r(self.tokens_per_run),
            "tokens_per_day": {"before": _r(self.tokens_before), "after": _r(self.tokens_after)},
            "money_per_day": {
                "before": _r(self.money(self.tokens_before)),
                "after": _r(self.money(self.tokens_after)),
            },
            "currency": self.currency,
            "per_1k_tokens": self.per_1k_tokens,
            "source": self.source,
            "sampled": self.sampled,
            "duration_ms": _r(self.duration_ms),
            "budget_exception": self.exception,
            "over_budget": list(self.over),
        }

    @classmethod
    def from_dict(cls, data: Any) -> ChangeCost | None:
        if not isinstance(data, Mapping):
            return None
        runs = data.get("runs_per_day") or {}
        return cls(
            float(runs.get("before") or 0),
            float(runs.get("after") or 0),
            _float(data.get("tokens_per_run")),
            data.get("source") or "unknown",
            int(data.get("sampled") or 0),
            _float(data.get("duration_ms")),
            _float(data.get("per_1k_tokens")),
            data.get("currency"),
            data.get("budget_exception"),
            tuple(map(str, data.get("over_budget") or ())),
        )


@dataclass(frozen=True)
class CostTotal:
    """A target's runs per day (every task of this owner) before and after the plan, and the
    tokens and money per day of the changes whose cost is known."""

    runs_before: float
    runs_after: float
    tokens_before: float = 0.0
    tokens_after: float = 0.0
    unknown: int = 0  # changes whose tokens per run are unknown (left out of the tokens)
    per_1k_tokens: float | None = None
    currency: str | None = None
    known: int = 0  # changes whose tokens are counted

    @property
    def runs_delta(self) -> float:
        return self.runs_after - self.runs_before

    @property
    def tokens_delta(self) -> float:
        return self.tokens_after - self.tokens_before

    @property
    def money_delta(self) -> float | None:
        if self.per_1k_tokens is None:
            return None
        return self.tokens_delta / 1000 * self.per_1k_tokens

    def to_dict(self) -> Json:
        money = self.money_delta
        return {
            "runs_per_day": {"before": _r(self.runs_before), "after": _r(self.runs_after)},
            "tokens_per_day": {"before": _r(self.tokens_before), "after": _r(self.tokens_after)},
            "money_per_day_delta": _r(money),
            "currency": self.currency,
            "per_1k_tokens": self.per_1k_tokens,
            "unknown": self.unknown,
            "known": self.known,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CostTotal | None:
        if not isinstance(data, Mapping):
            return None
        runs, tokens = data.get("runs_per_day") or {}, data.get("tokens_per_day") or {}
        return cls(
            float(runs.get("before") or 0),
            float(runs.get("after") or 0),
            float(tokens.get("before") or 0),
            float(tokens.get("after") or 0),
            int(data.get("unknown") or 0),
            _float(data.get("per_1k_tokens")),
            data.get("currency"),
            int(data.get("known") or 0),
        )


@dataclass(frozen=True)
class PlanCost:
    """The whole plan's change per day: runs, tokens of the known changes, money."""

    runs: float
    tokens: float
    unknown: int
    money: float | None = None  # when every priced target shares one currency
    currency: str | None = None
    known: int = 0

    def line(self) -> str:
        """`+96 runs/day, ≈ +1.2 M tokens/day, ≈ +$12/day`"""
        parts = [f"{signed(self.runs, number_text(round(self.runs, 2)))} runs/day"]
        if self.known:
            parts.append(f"≈ {signed(self.tokens, tokens_text(self.tokens))} tokens/day")
            if self.money is not None and self.currency:
                parts.append(f"≈ {money_text(self.money, self.currency, sign=True)}/day")
        if self.unknown:
            parts.append(f"{self.unknown} change(s) of unknown tokens")
        return ", ".join(parts)

    def to_dict(self) -> Json:
        return {
            "runs_per_day_delta": _r(self.runs),
            "tokens_per_day_delta": _r(self.tokens),
            "money_per_day_delta": _r(self.money),
            "currency": self.currency,
            "unknown": self.unknown,
            "known": self.known,
        }


def combined(costs: Sequence[ChangeCost]) -> CostTotal:
    """Several changes' cost as one (a template's changes in one block)."""
    runs_before = sum(c.runs_before for c in costs)
    runs_after = sum(c.runs_after for c in costs)
    known = [c for c in costs if c.tokens_before is not None and c.tokens_after is not None]
    first = costs[0] if costs else None
    return CostTotal(
        runs_before,
        runs_after,
        sum(c.tokens_before or 0.0 for c in known),
        sum(c.tokens_after or 0.0 for c in known),
        len(costs) - len(known),
        first.per_1k_tokens if first else None,
        first.currency if first else None,
        len(known),
    )


def total(costs: Iterable[CostTotal]) -> PlanCost | None:
    found = list(costs)
    if not found:
        return None
    currencies = {c.currency for c in found if c.per_1k_tokens is not None}
    money = None
    if len(currencies) == 1:
        money = sum(c.money_delta or 0.0 for c in found)
    return PlanCost(
        sum(c.runs_delta for c in found),
        sum(c.tokens_delta for c in found),
        sum(c.unknown for c in found),
        money,
        next(iter(currencies)) if len(currencies) == 1 else None,
        sum(c.known for c in found),
    )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _owned(listing: Listing, owners: Sequence[str] | set[str]) -> list[LiveTask]:
    return [
        t
        for t in listing.tasks
        if t.unreadable is None and t.marker is not None and t.marker.owner in owners
    ]


def _siblings(
    s: ResolvedSchedule, by_template: Mapping[str, list[str]], live: Mapping[str, str]
) -> list[str]:
    """Live ids of up to SIBLINGS other items of `s`'s template, by key."""
    if s.template is None:
        return []
    keys = [k for k in by_template.get(s.template.name, ()) if k != s.key and k in live]
    return [live[k] for k in keys[:SIBLINGS]]


def _templates(schedules: Sequence[ResolvedSchedule]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in schedules:
        if s.template is not None:
            out.setdefault(s.template.name, []).append(s.key)
    return {name: sorted(keys) for name, keys in out.items()}


def _costed(change: Change) -> bool:
    return change.action in COSTED and (change.action != "duplicate" or change.delete)


def wanted_ids(
    planned: TargetPlan,
    schedules: Sequence[ResolvedSchedule],
    listing: Listing,
    owners: Sequence[str] | set[str],
) -> list[str]:
    """Live ids whose run logs the plan's cost needs: the tasks its changes touch, and for a
    new item of a template without an `estimate`, a few live siblings."""
    desired = {s.key: s for s in schedules}
    live = {t.marker.key: t.id for t in _owned(listing, owners) if t.marker is not None}
    templates = _templates(schedules)
    out: dict[str, None] = {}
    for change in planned.changes:
        if not _costed(change):
            continue
        if change.remote_id is not None:
            out[change.remote_id] = None
        s = desired.get(str(change.key))
        if s is not None and s.schedule.estimate is None:
            out.update(dict.fromkeys(_siblings(s, templates, live)))
    return list(out)


def cost_target(
    planned: TargetPlan,
    project: Project,
    listing: Listing,
    observed: Mapping[str, Observed],
    now: datetime,
) -> TargetPlan:
    """`planned` with each costed change's ChangeCost and the target's CostTotal. A change
    that crosses a budget carries the messages: an error unless its schedule has a
    budget_exception (see ChangeCost.blocks), which the plan then shows."""
    config = project.config
    target = planned.target
    schedules = project.for_target(target)
    desired = {s.key: s for s in schedules}
    owners = {config.owner, *config.previous_owners}
    owned = _owned(listing, owners)
    live = {t.marker.key: t.id for t in owned if t.marker is not None}
    templates = _templates(schedules)
    pricing: Pricing | None = config.pricing_for(target)
    rates: dict[str, float] = {}
    before = 0.0
    for task in owned:
        # Fleets share a handful of schedules: each is read once.
        alike = json.dumps(
            [task.document.get("enabled"), task.document.get("schedule")],
            sort_keys=True,
            default=str,
        )
        if alike not in rates:
            rates[alike] = document_rate(task.document)
        before += rates[alike]
    changes: list[Change] = []
    delta = tokens_before = tokens_after = 0.0
    unknown = known = 0
    for change in planned.changes:
        if not _costed(change):
            changes.append(change)
            continue
        s = desired.get(str(change.key))
        cost = _change_cost(change, s, observed, templates, live, pricing)
        if s is not None and change.action in ("create", "update", "rename"):
            cost = replace(cost, over=_budget_problems(project, s, cost, now))
        changes.append(replace(change, cost=cost))
        delta += cost.runs_after - cost.runs_before
        if cost.tokens_before is None or cost.tokens_after is None:
            unknown += 1
        else:
            known += 1
            tokens_before += cost.tokens_before
            tokens_after += cost.tokens_after
    totals = CostTotal(
        before,
        max(before + delta, 0.0),
        tokens_before,
        tokens_after,
        unknown,
        pricing.per_1k_tokens if pricing else None,
        pricing.currency if pricing else None,
        known,
    )
    return replace(planned, changes=changes, cost=totals)


def _change_cost(
    change: Change,
    s: ResolvedSchedule | None,
    observed: Mapping[str, Observed],
    templates: Mapping[str, list[str]],
    live: Mapping[str, str],
    pricing: Pricing | None,
) -> ChangeCost:
    gone = change.action == "delete" or change.delete
    runs_before = document_rate(change.before)
    runs_after = 0.0 if gone else document_rate(change.after)
    own = observed.get(change.remote_id) if change.remote_id is not None else None
    per_run: float | None = None
    source: Source = "unknown"
    sampled = 0
    duration = own.duration_ms if own is not None else None
    if own is not None and own.tokens is not None:
        per_run, source, sampled = own.tokens, "observed", own.runs
    elif s is not None and s.schedule.estimate is not None:
        per_run, source = float(s.schedule.estimate.tokens), "estimate"
    elif s is not None:
        medians = [
            o.tokens
            for o in (observed.get(i) for i in _siblings(s, templates, live))
            if o is not None and o.tokens is not None
        ]
        if medians:
            per_run, source, sampled = median(medians), "siblings", len(medians)
    return ChangeCost(
        runs_before,
        runs_after,
        per_run,
        source,
        sampled,
        duration,
        pricing.per_1k_tokens if pricing else None,
        pricing.currency if pricing else None,
        s.schedule.budget_exception if s is not None else None,
    )


def source_text(cost: ChangeCost) -> str:
    """Where a tokens-per-run figure comes from, in words."""
    if cost.source == "observed":
        return f"the median of its last {cost.sampled} run(s)"
    if cost.source == "estimate":
        return "its estimate"
    if cost.source == "siblings":
        return f"the median of {cost.sampled} sibling(s) of its template"
    return "unknown"


def _budget_problems(
    project: Project, s: ResolvedSchedule, cost: ChangeCost, now: datetime
) -> tuple[str, ...]:
    """Every budget the desired schedule of a change crosses. Runs and intervals were
    validate's to refuse: here they are the excesses a budget_exception let through."""
    spec = s.schedule.schedule
    applied = budgets_for(project.config, s.target, s.key)
    if not applied or not s.schedule.enabled:
        return ()
    gap = (
        shortest_gap(spec, s.timezone, now) if any(a.budget.min_interval for a in applied) else None
    )
    out: list[str] = []
    for a in applied:
        problems = [
            runs_problem(a, project, cost.runs_after, spec),
            gap_problem(a, project, gap, spec),
            tokens_problem(
                a, project, cost.runs_after, cost.tokens_per_run, source_text(cost), spec
            ),
        ]
        loc = ("schedule", form_of(spec))
        out.extend(str(_excused(s, loc, p)) for p in problems if p)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Actual spend (audit)


def spend_findings(audited: TargetAudit, project: Project) -> list[Finding]:
    """`over-budget` findings: tasks whose runs or tokens per day over the audit's window
    (from the run log) are above a budget covering them."""
    from reconciler.audit import Finding

    config = project.config
    if audited.error or not has_budgets(config):
        return []
    desired = {s.key: s for s in project.for_target(audited.target)}
    out: list[Finding] = []
    for task in audited.tasks:
        s = desired.get(task.key)
        if s is None or task.days <= 0:
            continue
        for a in budgets_for(config, audited.target, task.key):
            figures = [
                ("max_runs_per_day", task.runs_per_day, "runs/day", number_text),
                ("max_tokens_per_day", task.tokens_per_day, "tokens/day", tokens_text),
            ]
            for limit_name, actual, unit, text in figures:
                limit = getattr(a.budget, limit_name)
                if limit is None or actual is None or actual <= limit:
                    continue
                message = (
                    f"made {text(round(actual, 2))} {unit} over {number_text(round(task.days, 2))} "
                    f"day(s) of its run log; {a.who} allows at most {text(limit)} {unit} "
                    f"(budget {a.where(project, limit_name)})"
                )
                if s.schedule.budget_exception:
                    message += f"; budget_exception: {s.schedule.budget_exception!r}"
                out.append(
                    Finding(
                        "over-budget",
                        audited.target,
                        task.key,
                        task.title,
                        message,
                        details={"budget": limit_name, "limit": limit, "actual": round(actual, 3)},
                        file=task.file,
                        line=task.line,
                        zone=task.zone,
                    )
                )
    return out
