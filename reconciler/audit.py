"""What actually ran, against what the repository says should have (pure: no I/O).

    Run            one run-log row, read (runlog.read_run builds these from platform JSON)
    Expected       one desired schedule on a target: its spec and zone, its source line
    TargetInput    a target's desired schedules, its live listing and its run log
    audit_target   -> TargetAudit: per task a TaskHealth, and the Findings, as plain data

The expected fires come from reconciler.timing (zones and DST as everywhere else). A run
belongs to the slot whose window holds its start: from one tick before the slot to one tick
before the next slot. The platform's tick (its Facts) sets the granularity:

    missed        a slot with no scheduler run, judged once its deadline passed (slot + tick +
                  tolerance); slots before the task existed on the platform are not judged
    late          a run that started a whole tick or more after its slot: no tick could take
                  it on time (it queued behind the per-tick concurrency, or a tick was skipped)
    failing       the task's latest runs are errors (the streak and the last error text)
    auto-disabled enabled in the repository, disabled by the platform after its retries
    unexpected    a scheduler run no slot explains: an extra copy's, a second one in a slot, an
                  orphan's, one of a task the repository disables. Manual runs are counted as
                  manual, never a finding
    overlapping   a run still going when the next slot came
    anomalous     a run whose duration is far off the task's median

Cost (runs and tokens per task per day, totals per target) comes from the same run log.
Times inside are epoch seconds (floats): a week of 100,000 runs is compared, not converted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from reconciler import timing
from reconciler.records import fields_of, source_of

if TYPE_CHECKING:
    from reconciler.forms import LiveTask
    from reconciler.model import ScheduleSpec

Kind = Literal[
    "missed", "late", "failing", "auto-disabled", "unexpected", "overlapping", "anomalous",
    "over-budget",
]  # fmt: skip
# Worst first: a task's health word is its worst finding's kind.
KINDS: tuple[Kind, ...] = (
    "auto-disabled", "failing", "missed", "overlapping", "late", "unexpected", "anomalous",
    "over-budget",  # actual runs or tokens per day above a budget (reconciler/cost.py)
)  # fmt: skip
DEFAULT_FAIL_ON: tuple[Kind, ...] = ("missed", "failing", "auto-disabled")
HEALTHY = "ok"
NOT_AUDITED = "-"
# How long after a slot's tick a run may still come before the slot counts as missed.
DEFAULT_TOLERANCE = timedelta(minutes=5)
# A platform whose documents name no tick is judged as if it ticked every minute.
DEFAULT_TICK = timedelta(minutes=1)
# Durations: judged against the median once a task has this many, and "far off" means this
# many times longer or shorter, and at least ANOMALY_MIN_MS apart.
ANOMALY_MIN_RUNS = 5
ANOMALY_RATIO = 4.0
ANOMALY_MIN_MS = 1000
SHOWN_SLOTS = 50  # slots and runs kept as evidence per finding; the count stays whole


@dataclass(slots=True)
class Run:
    """One run-log row. Times are epoch seconds; `trigger` is "scheduler" or "manual".

    Not frozen: a frozen dataclass's __init__ costs twice as much, and a week's log is 100,000
    of these (treat them as read-only all the same)."""

    id: str
    task_id: str
    trigger: str
    status: str
    started: float
    completed: float | None = None
    duration_ms: int | None = None
    error: str | None = None
    tokens: int | None = None

    @property
    def ended(self) -> float | None:
        if self.completed is not None:
            return self.completed
        if self.duration_ms is not None:
            return self.started + self.duration_ms / 1000
        return None


@dataclass(frozen=True)
class Expected:
    """One desired schedule on one target."""

    key: str
    title: str
    spec: ScheduleSpec
    timezone: str
    enabled: bool = True
    max_retries: int | None = None  # errors the platform disables after (None: it never does)
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class TargetInput:
    target: str
    platform: str
    where: str
    tick: timedelta
    expected: Sequence[Expected]
    tasks: Sequence[LiveTask]
    runs: Sequence[Run]
    owner: str
    notes: Sequence[str] = ()  # what could not be read (runs, tasks), said beside the result


@dataclass(frozen=True)
class RunRef:
    """A run as evidence: which one, when, and against which slot."""

    run_id: str
    task_id: str
    started: float
    status: str
    trigger: str = "scheduler"
    slot: float | None = None
    duration_ms: int | None = None
    error: str | None = None

    @property
    def lateness(self) -> float | None:
        return None if self.slot is None else self.started - self.slot

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "run_id", "task_id", "trigger", "status"),
            "started_at": iso(self.started),
            "slot": None if self.slot is None else iso(self.slot),
            "lateness_s": None if self.lateness is None else round(self.lateness, 3),
            **fields_of(self, "duration_ms", "error"),
        }


@dataclass(frozen=True)
class Finding:
    kind: Kind
    target: str
    key: str
    title: str
    message: str  # one line, plain words
    slots: tuple[float, ...] = ()  # the slots concerned (at most SHOWN_SLOTS)
    slot_count: int = 0  # all of them
    runs: tuple[RunRef, ...] = ()  # the runs that are the evidence (at most SHOWN_SLOTS)
    details: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    zone: str = "UTC"

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "kind", "target", "key", "title", "message"),
            "source": source_of(self.file, self.line),
            "timezone": self.zone,
            "slots": [iso(s) for s in self.slots],
            "slot_count": self.slot_count,
            "runs": [r.to_dict() for r in self.runs],
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class TaskHealth:
    """One desired schedule (or an orphan with runs) on one target, summed up."""

    target: str
    key: str
    title: str
    health: str  # HEALTHY, a finding kind (the worst), or NOT_AUDITED
    task_ids: tuple[str, ...] = ()
    expected: int = 0  # slots judged
    ran: int = 0  # of those, with a scheduler run
    runs: int = 0  # every run in the window, manual ones included
    manual: int = 0
    errors: int = 0
    tokens: int | None = None  # None: the platform reported none
    days: float = 0.0  # how much of the window the task was live
    lateness_p50: float | None = None  # seconds
    lateness_p95: float | None = None
    note: str = ""  # why it was not audited, or what to know
    file: str = ""
    line: int = 0
    zone: str = "UTC"

    @property
    def runs_per_day(self) -> float:
        return self.runs / self.days if self.days > 0 else 0.0

    @property
    def tokens_per_day(self) -> float | None:
        if self.tokens is None:
            return None
        return self.tokens / self.days if self.days > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **fields_of(self, "key", "title", "health"),
            "task_ids": list(self.task_ids),
            **fields_of(self, "expected", "ran", "runs", "manual", "errors", "tokens"),
            "runs_per_day": round(self.runs_per_day, 3),
            "tokens_per_day": None if self.tokens is None else round(self.tokens_per_day or 0, 1),
            "lateness_p50_s": _rounded(self.lateness_p50),
            "lateness_p95_s": _rounded(self.lateness_p95),
            "note": self.note or None,
            "source": source_of(self.file, self.line),
        }


@dataclass(frozen=True)
class TargetAudit:
    target: str
    platform: str
    where: str
    since: float
    until: float
    tasks: list[TaskHealth] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the target could not be audited (listing or run log failed)
    # What was audited (the run log and listing): the report draws each slot from it.
    source: TargetInput | None = field(default=None, repr=False, compare=False)

    @property
    def runs(self) -> int:
        return sum(t.runs for t in self.tasks)

    @property
    def tokens(self) -> int | None:
        return known_sum(t.tokens for t in self.tasks)

    @property
    def days(self) -> float:
        return max(self.until - self.since, 0.0) / 86_400

    def health(self, key: str) -> str:
        return next((t.health for t in self.tasks if t.key == key), NOT_AUDITED)

    def to_dict(self) -> dict[str, Any]:
        days = self.days
        return {
            **fields_of(self, "target", "platform", "where", "error"),
            "summary": counts(self.findings),
            "cost": {
                "runs": self.runs,
                "tokens": self.tokens,
                "runs_per_day": round(self.runs / days, 3) if days else 0,
                "tokens_per_day": (
                    None if self.tokens is None else round(self.tokens / days, 1) if days else 0
                ),
            },
            "tasks": [t.to_dict() for t in self.tasks],
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }


FORMAT_VERSION = "1"


@dataclass(frozen=True)
class AuditReport:
    owner: str
    since: float
    until: float
    targets: list[TargetAudit]
    config: str | None = None

    @property
    def findings(self) -> list[Finding]:
        return [f for t in self.targets for f in t.findings]

    @property
    def failed(self) -> bool:
        return any(t.error for t in self.targets)

    def failing(self, kinds: Iterable[str]) -> list[Finding]:
        """The findings of these kinds (what --fail-on names)."""
        wanted = set(kinds)
        return [f for f in self.findings if f.kind in wanted]

    def health(self, target: str, key: str) -> str:
        found = next((t for t in self.targets if t.target == target), None)
        return NOT_AUDITED if found is None else found.health(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            **fields_of(self, "owner", "config"),
            "since": iso(self.since),
            "until": iso(self.until),
            "summary": counts(self.findings),
            "targets": [t.to_dict() for t in self.targets],
        }


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per kind, every kind present (0 when none): a stable shape."""
    out: dict[str, int] = dict.fromkeys(KINDS, 0)
    for f in findings:
        out[f.kind] += 1
    return out


def iso(epoch: float) -> str:
    when = datetime.fromtimestamp(epoch, timezone.utc)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted `values` (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(share * len(values)))
    return values[rank - 1]


def parse_instant(value: str | None) -> float | None:
    """An ISO 8601 instant as epoch seconds (naive is UTC); None when absent or unreadable."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


# ---------------------------------------------------------------------------------------------
# The audit


def _to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


# Fires already computed in one audit, by trigger (whose repr names its fires: the canonical
# expression and zone, or the interval and anchor) and window: many tasks share a schedule.
SlotCache = dict[tuple[str, float, float], tuple[float | None, list[float]]]


def slots_of(
    spec: ScheduleSpec,
    zone: str,
    created: float | None,
    start: float,
    until: float,
    cache: SlotCache | None = None,
) -> tuple[float | None, list[float]]:
    """(the last fire before `start`, the fires in [start, until]) as epoch seconds, both
    after `created` (the task's creation) when it is known. `cache`: see SlotCache."""
    created_at = None if created is None else _to_datetime(created)
    trigger = timing.trigger_for(spec, zone, created_at=created_at)
    key = (repr(trigger), start, until)
    known = cache.get(key) if cache is not None else None
    if known is None:
        begin = _to_datetime(start)
        last = trigger.prev_before(begin)
        known = (
            None if last is None else last.timestamp(),
            trigger.stamps_between(begin - timedelta(microseconds=1), _to_datetime(until)),
        )
        if cache is not None:
            cache[key] = known
    before, fires = known
    # A platform first fires after the task exists: an interval one period after creation.
    if created is not None:
        fires = [f for f in fires if f > created]
        if before is not None and before <= created:
            before = None
    return before, list(fires)


def live_copies(tasks: Sequence[LiveTask], owner: str) -> dict[str, list[LiveTask]]:
    """This owner's readable tasks by key, oldest first (the copy apply keeps)."""
    out: dict[str, list[LiveTask]] = {}
    for task in tasks:
        if task.unreadable is None and task.marker is not None and task.marker.owner == owner:
            out.setdefault(task.marker.key, []).append(task)
    for copies in out.values():
        copies.sort(key=lambda t: parse_instant(t.created_at) or math.inf)
    return out


def _ref(run: Run, slot: float | None = None) -> RunRef:
    return RunRef(
        run.id, run.task_id, run.started, run.status, run.trigger, slot, run.duration_ms, run.error
    )


def _short(seconds: float) -> str:
    """`45s`, `3m`, `2h05m`: a duration in plain words."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Task:
    """The working state of one key's audit."""

    def __init__(self, inp: TargetInput, exp: Expected | None, key: str) -> None:
        self.inp = inp
        self.exp = exp
        self.key = key
        self.findings: list[Finding] = []

    def finding(
        self,
        kind: Kind,
        title: str,
        message: str,
        slots: Sequence[float] = (),
        runs: Sequence[RunRef] = (),
        **details: Any,
    ) -> None:
        exp = self.exp
        self.findings.append(
            Finding(
                kind,
                self.inp.target,
                self.key,
                title,
                message,
                tuple(slots[:SHOWN_SLOTS]),
                len(slots),
                tuple(runs[:SHOWN_SLOTS]),
                details,
                exp.file if exp else "",
                exp.line if exp else 0,
                exp.timezone if exp else "UTC",
            )
        )


def match_slots(
    windows: Sequence[float],
    scheduled: Sequence[Run],
    tick: float,
    primary_id: str,
    enabled: bool = True,
) -> tuple[dict[int, Run], list[tuple[Run, str]]]:
    """Scheduler runs (by start) against slot windows: {window index: its run}, and the runs
    no window explains with why. A window runs from a tick before its slot to a tick before
    the next; a second run in one is unexpected, the primary copy's run the expected one."""
    matched: dict[int, Run] = {}
    unexpected: list[tuple[Run, str]] = []
    index = 0
    for run in scheduled:
        while index + 1 < len(windows) and run.started >= windows[index + 1] - tick:
            index += 1
        if not windows or run.started < windows[index] - tick:
            why = "disabled in the repository" if not enabled else "before any slot"
            unexpected.append((run, why))
            continue
        held = matched.get(index)
        if held is None:
            matched[index] = run
        elif held.task_id != primary_id and run.task_id == primary_id:
            matched[index] = run  # the copy apply keeps is the expected one
            unexpected.append((held, "extra copy"))
        else:
            why = "extra copy" if run.task_id != held.task_id else "second run in one slot"
            unexpected.append((run, why))
    return matched, unexpected


def in_window(runs: Iterable[Run], since: float, until: float) -> dict[str, list[Run]]:
    """The runs that started in [since, until], by task, each task's by start."""
    by_task: dict[str, list[Run]] = {}
    for run in runs:
        if since <= run.started <= until:
            by_task.setdefault(run.task_id, []).append(run)
    for runs_of in by_task.values():
        runs_of.sort(key=lambda r: r.started)
    return by_task


class Judge:
    """audit_target in parts, for a caller whose runs come in task by task: a desired key can
    be judged (judge_key) as soon as the runs of all its live copies are in, on any thread
    (keys are independent; the shared slot cache only saves work); finish judges the rest and
    puts the result together, in the order audit_target gives it."""

    def __init__(
        self,
        inp: TargetInput,
        since: float,
        until: float,
        tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        self.inp, self.since, self.until = inp, since, until
        self.tick = inp.tick.total_seconds()
        self.grace = self.tick + tolerance.total_seconds()
        self.copies = live_copies(inp.tasks, inp.owner)
        self.desired = {e.key: e for e in inp.expected}
        self.slot_cache: SlotCache = {}
        self.judged: dict[str, tuple[TaskHealth, list[Finding]]] = {}

    def needs(self) -> dict[str, list[str]]:
        """The desired keys that are live, each with the task ids whose runs it is judged by."""
        return {key: [t.id for t in self.copies[key]] for key in self.desired if key in self.copies}

    def judge_key(self, key: str, by_task: Mapping[str, list[Run]]) -> None:
        """Judge one desired, live key; `by_task` (see in_window) holds its copies' runs."""
        work = _Task(self.inp, self.desired[key], key)
        health = _audit_one(
            work,
            self.copies[key],
            by_task,
            self.since,
            self.until,
            self.tick,
            self.grace,
            self.slot_cache,
        )
        self.judged[key] = (health, work.findings)

    def finish(
        self, by_task: Mapping[str, list[Run]], inp: TargetInput | None = None
    ) -> TargetAudit:
        """Every key not judged yet, the orphans, and the whole; `inp`: what was audited, as
        the report reads it (default: the input given at the start)."""
        inp = inp or self.inp
        since, until = self.since, self.until
        tasks: list[TaskHealth] = []
        findings: list[Finding] = []
        for exp in inp.expected:
            if exp.key not in self.copies:
                tasks.append(
                    TaskHealth(
                        inp.target,
                        exp.key,
                        exp.title,
                        NOT_AUDITED,
                        note="not on the platform (apply creates it)",
                        file=exp.file,
                        line=exp.line,
                        zone=exp.timezone,
                    )
                )
                continue
            if exp.key not in self.judged:
                self.judge_key(exp.key, by_task)
            health, found = self.judged[exp.key]
            tasks.append(health)
            findings.extend(found)
        # This owner's tasks that no desired schedule of this target names: every scheduler
        # run of theirs is unexpected.
        for key in sorted(set(self.copies) - set(self.desired)):
            work = _Task(inp, None, key)
            live = self.copies[key]
            runs = [r for t in live for r in by_task.get(t.id, ())]
            scheduled = [r for r in runs if r.trigger != "manual"]
            if scheduled:
                work.finding(
                    "unexpected",
                    live[0].title,
                    f"{_plural(len(scheduled), 'run')} of a task the repository no longer has "
                    "(an orphan: `apply --prune` deletes it)",
                    runs=[_ref(r) for r in scheduled],
                    reason="orphan",
                )
            if runs:
                tasks.append(
                    TaskHealth(
                        inp.target,
                        key,
                        live[0].title,
                        work.findings[0].kind if work.findings else HEALTHY,
                        task_ids=tuple(t.id for t in live),
                        runs=len(runs),
                        manual=len(runs) - len(scheduled),
                        errors=sum(r.status == "error" for r in runs),
                        tokens=_tokens(runs),
                        days=(until - since) / 86_400,
                        note="not in the repository",
                    )
                )
                findings.extend(work.findings)
        return TargetAudit(
            inp.target, inp.platform, inp.where, since, until, tasks, findings, list(inp.notes),
            source=inp,
        )  # fmt: skip


def audit_target(
    inp: TargetInput,
    since: float,
    until: float,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> TargetAudit:
    """Every desired schedule of one target against its live tasks and run log."""
    return Judge(inp, since, until, tolerance).finish(in_window(inp.runs, since, until))


N = TypeVar("N", int, float)


def known_sum(values: Iterable[N | None]) -> N | None:
    """The sum of the values that are known; None when none is (unknown is never zero)."""
    counted = [v for v in values if v is not None]
    return sum(counted) if counted else None


def _tokens(runs: Sequence[Run]) -> int | None:
    return known_sum(r.tokens for r in runs)


def _audit_one(
    work: _Task,
    live: list[LiveTask],
    by_task: Mapping[str, list[Run]],
    since: float,
    until: float,
    tick: float,
    grace: float,
    slot_cache: SlotCache | None = None,
) -> TaskHealth:
    exp = work.exp
    assert exp is not None
    primary = live[0]
    title = exp.title
    created = parse_instant(primary.created_at)
    start = max(since, created) if created is not None else since
    runs = (
        by_task.get(primary.id, [])  # sorted already
        if len(live) == 1
        else sorted((r for t in live for r in by_task.get(t.id, ())), key=lambda r: r.started)
    )
    scheduled = [r for r in runs if r.trigger != "manual"]

    before, slots = (None, []) if not exp.enabled else slots_of(
        exp.spec, exp.timezone, created, start, until, slot_cache
    )  # fmt: skip
    # Each slot's window: from a tick before it to a tick before the next one.
    windows = ([before] if before is not None else []) + slots
    first_judged = 1 if before is not None else 0
    matched, unexpected = match_slots(windows, scheduled, tick, primary.id, exp.enabled)

    # Lateness of every judged slot's run.
    late: list[RunRef] = []
    lateness: list[float] = []
    judged = ran = 0
    missed: list[float] = []
    for i in range(first_judged, len(windows)):
        slot = windows[i]
        got = matched.get(i)
        if got is not None:
            judged += 1
            ran += 1
            delay = max(got.started - slot, 0.0)
            lateness.append(delay)
            if delay >= tick:
                late.append(_ref(got, slot))
        elif slot + grace <= until:
            judged += 1
            missed.append(slot)
    lateness.sort()

    # Errors: the latest runs' streak, else the platform's own count.
    streak: list[Run] = []
    for run in reversed(runs):
        if run.status != "error":
            break
        streak.append(run)
    streak.reverse()
    counted = primary.status.consecutive_errors or 0
    errors = max(len(streak), counted if isinstance(counted, int) else 0)
    last_error = next((r.error for r in reversed(streak) if r.error), None)
    disabled = primary.status.enabled is False
    auto_disabled = (
        exp.enabled
        and disabled
        and exp.max_retries is not None
        and errors >= max(exp.max_retries, 1)
    )
    if auto_disabled:
        last_run = runs[-1].started if runs else None
        after = [s for s in missed if last_run is None or s > last_run]
        missed = [s for s in missed if last_run is not None and s <= last_run]
        work.finding(
            "auto-disabled",
            title,
            f"disabled by the platform after {_plural(errors, 'error')} in a row "
            f"(max_retries {exp.max_retries}); "
            + (f"{_plural(len(after), 'slot')} not run since" if after else "no slot since")
            + (f"; last error: {last_error}" if last_error else ""),
            slots=after,
            runs=[_ref(r) for r in streak],
            streak=errors,
            last_error=last_error,
        )
    elif errors:
        work.finding(
            "failing",
            title,
            f"the last {_plural(errors, 'run')} failed"
            + (f"; last error: {last_error}" if last_error else ""),
            slots=[r.started for r in streak],
            runs=[_ref(r) for r in streak],
            streak=errors,
            last_error=last_error,
        )
    if missed:
        why = (
            "the task is disabled on the platform"
            if disabled and exp.enabled
            else f"no run within {_short(grace)} of the slot"
        )
        work.finding(
            "missed",
            title,
            f"{_plural(len(missed), 'slot')} with no run: {why}",
            slots=missed,
            grace_s=grace,
        )
    # Overlaps: a slot's run still going when the next slot came.
    overlapping: list[RunRef] = []
    for i, run in sorted(matched.items()):
        if i + 1 >= len(windows):
            continue
        following = windows[i + 1]
        ended = run.ended
        if (ended is not None and ended > following) or (ended is None and until > following):
            overlapping.append(_ref(run, windows[i]))
    if overlapping:
        work.finding(
            "overlapping",
            title,
            f"{_plural(len(overlapping), 'run')} still going when the next slot came",
            slots=[r.slot for r in overlapping if r.slot is not None],
            runs=overlapping,
        )
    if late:
        work.finding(
            "late",
            title,
            f"{_plural(len(late), 'run')} started a tick ({_short(tick)}) or more after "
            f"the slot; lateness p50 {_short(percentile(lateness, 0.5) or 0)}, "
            f"p95 {_short(percentile(lateness, 0.95) or 0)}",
            slots=[r.slot for r in late if r.slot is not None],
            runs=late,
            p50_s=_rounded(percentile(lateness, 0.5)),
            p95_s=_rounded(percentile(lateness, 0.95)),
        )
    if unexpected:
        reasons = sorted({why for _, why in unexpected})
        others = sorted({r.task_id for r, why in unexpected if why == "extra copy"})
        copies = f" (live copies: {', '.join(t.id for t in live)})" if others else ""
        work.finding(
            "unexpected",
            title,
            f"{_plural(len(unexpected), 'scheduler run')} no slot explains: "
            f"{', '.join(reasons)}{copies}",
            runs=[_ref(r) for r, _ in unexpected],
            reasons=reasons,
        )
    anomalies = _anomalies(scheduled)  # a manual run is never a finding
    if anomalies:
        median = _median_ms(scheduled)
        work.finding(
            "anomalous",
            title,
            f"{_plural(len(anomalies), 'run')} far off the median duration ({median} ms)",
            runs=[_ref(r) for r in anomalies],
            median_ms=median,
        )
    kinds = {f.kind for f in work.findings}
    health = next((k for k in KINDS if k in kinds), HEALTHY)
    return TaskHealth(
        work.inp.target,
        exp.key,
        title,
        health,
        task_ids=tuple(t.id for t in live),
        expected=judged,
        ran=ran,
        runs=len(runs),
        manual=len(runs) - len(scheduled),
        errors=sum(r.status == "error" for r in runs),
        tokens=_tokens(runs),
        days=max(until - start, 0.0) / 86_400,
        lateness_p50=percentile(lateness, 0.5),
        lateness_p95=percentile(lateness, 0.95),
        note="disabled in the repository" if not exp.enabled else "",
        file=exp.file,
        line=exp.line,
        zone=exp.timezone,
    )


def _durations(runs: Sequence[Run]) -> list[int]:
    return sorted(r.duration_ms for r in runs if r.duration_ms is not None)


def _median_ms(runs: Sequence[Run]) -> int:
    durations = _durations(runs)
    return durations[len(durations) // 2] if durations else 0


def _anomalies(runs: Sequence[Run]) -> list[Run]:
    durations = _durations(runs)
    if len(durations) < ANOMALY_MIN_RUNS:
        return []
    median = durations[len(durations) // 2]
    out = []
    for run in runs:
        d = run.duration_ms
        if d is None or abs(d - median) < ANOMALY_MIN_MS:
            continue
        if d >= median * ANOMALY_RATIO or d * ANOMALY_RATIO <= median:
            out.append(run)
    return out
