"""The audit's pure core from tables: desired schedules, live tasks and run rows in, findings out.

The platform runs of the DST weeks are made by tests/timing/timing_reference.py (a brute-force walk
of UTC minutes through zoneinfo, independent of reconciler.timing), so a "no false missed"
is not timing agreeing with itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from reconciler.audit import (
    DEFAULT_FAIL_ON,
    HEALTHY,
    NOT_AUDITED,
    AuditReport,
    Expected,
    Finding,
    Run,
    TargetAudit,
    TargetInput,
    audit_target,
    counts,
)
from reconciler.forms import LiveTask, Marker, TaskStatus
from reconciler.model import ScheduleSpec
from tests.timing.timing_reference import RefCron, ref_fires

UTC = timezone.utc
OWNER = "team"
TICK = timedelta(seconds=30)


def spec(**form: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(form)


def expected(
    key: str, zone: str = "UTC", max_retries: int | None = 3, enabled: bool = True, **form: Any
) -> Expected:
    return Expected(key, key.title(), spec(**form), zone, enabled, max_retries, f"s/{key}.yaml", 3)


def live(
    task_id: str,
    key: str,
    *,
    created: str = "2026-01-01T00:00:00Z",
    enabled: bool = True,
    errors: int = 0,
    owner: str = OWNER,
) -> LiveTask:
    return LiveTask(
        task_id,
        key.title(),
        Marker(owner, key),
        {},
        {},
        TaskStatus(enabled=enabled, consecutive_errors=errors),
        created_at=created,
    )


_counter = iter(range(1_000_000))


def run(
    task_id: str,
    at: datetime,
    *,
    trigger: str = "scheduler",
    status: str = "ok",
    duration_ms: int = 1_000,
    error: str | None = None,
    tokens: int | None = None,
) -> Run:
    started = at.timestamp()
    return Run(
        f"r{next(_counter)}",
        task_id,
        trigger,
        status,
        started,
        started + duration_ms / 1000,
        duration_ms,
        error,
        tokens,
    )


def audit(
    exp: Sequence[Expected],
    tasks: Sequence[LiveTask],
    runs: Sequence[Run],
    since: datetime,
    until: datetime,
    tick: timedelta = TICK,
) -> TargetAudit:
    inp = TargetInput("prod", "engine", "engine instance 'acme'", tick, exp, tasks, runs, OWNER)
    return audit_target(inp, since.timestamp(), until.timestamp())


def kinds(result: TargetAudit) -> list[tuple[str, str]]:
    return sorted((f.kind, f.key) for f in result.findings)


def one(result: TargetAudit, kind: str, key: str | None = None) -> Finding:
    (found,) = [f for f in result.findings if f.kind == kind and (key is None or f.key == key)]
    return found


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def slots_utc(found: Finding) -> list[str]:
    return [datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M") for s in found.slots]


# ---------------------------------------------------------------------------------------------
# DST weeks: the platform fires by an independent reference; the audit finds nothing.

EVERY_MINUTE = frozenset(range(60))
ALL_DAYS, ALL_MONTHS, ALL_DOWS = (
    frozenset(range(1, 32)),
    frozenset(range(1, 13)),
    frozenset(range(7)),
)


def ref(minutes: set[int], hours: set[int] | None) -> RefCron:
    return RefCron(
        frozenset(minutes),
        frozenset(hours) if hours is not None else frozenset(range(24)),
        ALL_DAYS,
        ALL_MONTHS,
        ALL_DOWS,
        minute_star=False,
        hour_star=hours is None,
        dom_star=True,
        dow_star=True,
    )


DST_WEEKS = [
    # zone, a week around a change, (cron, the same as field sets)
    ("Europe/London", "2026-03-25", "2026-04-01"),  # spring forward 03-29 01:00 -> 02:00
    ("Europe/London", "2026-10-21", "2026-10-28"),  # fall back 10-25 02:00 -> 01:00
    ("America/New_York", "2026-03-05", "2026-03-12"),  # spring forward 03-08 02:00 -> 03:00
    ("America/New_York", "2026-10-29", "2026-11-05"),  # fall back 11-01 02:00 -> 01:00
]
DST_CRONS = [
    ("0 9 * * *", ref({0}, {9})),  # a daily job
    ("30 1 * * *", ref({30}, {1})),  # in London's gap and repeated hour
    ("30 2 * * *", ref({30}, {2})),  # in New York's gap and repeated hour
    ("15 * * * *", ref({15}, None)),  # wildcard: both passes of a repeated hour, none in a gap
]


@pytest.mark.parametrize(("zone", "start", "end"), DST_WEEKS)
def test_a_dst_week_gives_no_false_missed(zone: str, start: str, end: str) -> None:
    since, until = at(start + "T00:00:00"), at(end + "T00:00:00")
    exp, tasks, runs = [], [], []
    for index, (cron, reference) in enumerate(DST_CRONS):
        key = f"job-{index}"
        exp.append(expected(key, zone, cron=cron))
        tasks.append(live(f"t{index}", key))
        # The platform picks each due task up within the tick: 10 s after the slot.
        runs += [
            run(f"t{index}", f + timedelta(seconds=10))
            for f in ref_fires(reference, zone, since - timedelta(minutes=1), until)
        ]
    result = audit(exp, tasks, runs, since, until)
    assert result.findings == [], [f.message for f in result.findings]
    assert {t.health for t in result.tasks} == {HEALTHY}
    by_key = {t.key: t for t in result.tasks}
    assert by_key["job-0"].expected == 7 and by_key["job-0"].ran == 7
    # The wildcard job: 23 or 25 on the local day of the change, once an hour all the same.
    assert by_key["job-3"].expected == 7 * 24
    assert by_key["job-3"].lateness_p95 == 10


def test_a_dropped_slot_in_the_dst_gap_is_missed_at_its_instant() -> None:
    zone, since, until = "Europe/London", at("2026-03-25T00:00:00"), at("2026-04-01T00:00:00")
    fires = ref_fires(ref({30}, {1}), zone, since, until)
    gap_fire = at("2026-03-29T01:00:00")  # 01:30 never shows: it fires at 02:00 BST
    assert gap_fire in fires
    runs = [run("t1", f) for f in fires if f != gap_fire]
    result = audit(
        [expected("night", zone, cron="30 1 * * *")], [live("t1", "night")], runs, since, until
    )
    assert kinds(result) == [("missed", "night")]
    found = one(result, "missed")
    assert slots_utc(found) == ["2026-03-29 01:00"] and found.slot_count == 1
    assert found.zone == zone and found.file == "s/night.yaml" and found.line == 3
    assert result.tasks[0].health == "missed" and result.tasks[0].ran == 6


# ---------------------------------------------------------------------------------------------
# One case per kind

SINCE, UNTIL = at("2026-06-01T00:00:00"), at("2026-06-08T00:00:00")  # Monday to Monday
DAYS = [SINCE + timedelta(days=d, hours=9) for d in range(7)]  # the daily 09:00 slots


def daily_runs(task_id: str = "t1", **kw: Any) -> list[Run]:
    return [run(task_id, d + timedelta(seconds=5), **kw) for d in DAYS]


def test_a_clean_week_has_no_finding_and_counts_cost() -> None:
    result = audit(
        [expected("digest", daily="09:00")],
        [live("t1", "digest")],
        daily_runs(tokens=1_500),
        SINCE,
        UNTIL,
    )
    assert result.findings == []
    (task,) = result.tasks
    assert (task.health, task.expected, task.ran, task.runs, task.manual) == (HEALTHY, 7, 7, 7, 0)
    assert task.runs_per_day == pytest.approx(1.0) and task.tokens_per_day == pytest.approx(1_500)
    assert result.runs == 7 and result.tokens == 10_500
    assert result.to_dict()["cost"] == {
        "runs": 7, "tokens": 10_500, "runs_per_day": 1.0, "tokens_per_day": 1500.0,
    }  # fmt: skip


def test_missed_slots_are_named_and_a_slot_still_within_its_grace_is_not_judged() -> None:
    runs = [r for i, r in enumerate(daily_runs()) if i not in (2, 3)]
    until = DAYS[6] + timedelta(minutes=2)  # the last slot's run may still come
    result = audit(
        [expected("digest", daily="09:00")], [live("t1", "digest")], runs[:-1], SINCE, until
    )
    found = one(result, "missed")
    assert slots_utc(found) == ["2026-06-03 09:00", "2026-06-04 09:00"]
    assert found.message == "2 slots with no run: no run within 5m30s of the slot"
    assert result.tasks[0].expected == 6  # the 7th is pending, not missed


CASES: list[tuple[str, list[Expected], list[LiveTask], list[Run], list[tuple[str, str]]]] = [
    (
        "late: queued past the per-tick concurrency",
        [expected("digest", daily="09:00")],
        [live("t1", "digest")],
        [*daily_runs()[:3], run("t1", DAYS[3] + timedelta(seconds=30)), *daily_runs()[4:]],
        [("late", "digest")],
    ),
    (
        "failing: the latest runs are errors",
        [expected("digest", daily="09:00")],
        [live("t1", "digest", errors=2)],
        [*daily_runs()[:5], *daily_runs(status="error", error="boom")[5:]],
        [("failing", "digest")],
    ),
    (
        "an error streak that ended is not failing",
        [expected("digest", daily="09:00")],
        [live("t1", "digest")],
        [*daily_runs(status="error")[:3], *daily_runs()[3:]],
        [],
    ),
    (
        "auto-disabled: its slots since are not also missed",
        [expected("digest", daily="09:00")],
        [live("t1", "digest", enabled=False, errors=3)],
        [*daily_runs()[:1], *daily_runs(status="error", error="Missing key")[1:4]],
        [("auto-disabled", "digest")],
    ),
    (
        "disabled on the platform without errors: its slots are missed",
        [expected("digest", daily="09:00")],
        [live("t1", "digest", enabled=False)],
        daily_runs()[:4],
        [("missed", "digest")],
    ),
    (
        "a duplicate copy firing twice: its runs are unexpected",
        [expected("digest", daily="09:00")],
        [live("t1", "digest"), live("t2", "digest", created="2026-02-01T00:00:00Z")],
        [*daily_runs("t2"), *daily_runs("t1")],
        [("unexpected", "digest")],
    ),
    (
        "manual runs are counted, never a finding",
        [expected("digest", daily="09:00")],
        [live("t1", "digest")],
        [*daily_runs(), run("t1", DAYS[2] + timedelta(hours=3), trigger="manual")],
        [],
    ),
    (
        "an orphan's scheduler runs are unexpected",
        [expected("digest", daily="09:00")],
        [live("t1", "digest"), live("t9", "old-report")],
        [*daily_runs(), *daily_runs("t9")[:2]],
        [("unexpected", "old-report")],
    ),
    (
        "another owner's and unmarked tasks are none of the audit's business",
        [expected("digest", daily="09:00")],
        [live("t1", "digest"), live("t8", "digest", owner="other")],
        [*daily_runs(), *daily_runs("t8")],
        [],
    ),
    (
        "overlapping: a run still going at the next slot",
        [expected("poll", every="1h", anchor="2026-01-01T00:00:00Z")],
        [live("t1", "poll")],
        [
            run(
                "t1",
                SINCE + timedelta(hours=h, seconds=3),
                duration_ms=90 * 60_000 if h == 5 else 1_000,
            )
            for h in range(0, 24 * 7)
        ],
        [("anomalous", "poll"), ("overlapping", "poll")],
    ),
    (
        "anomalous: a duration far off the median",
        [expected("digest", daily="09:00")],
        [live("t1", "digest")],
        [
            run("t1", d + timedelta(seconds=2), duration_ms=60_000 if i == 4 else 2_000)
            for i, d in enumerate(DAYS)
        ],
        [("anomalous", "digest")],
    ),
    (
        "a task created mid-week is judged from its creation",
        [expected("digest", daily="09:00")],
        [live("t1", "digest", created="2026-06-04T12:00:00Z")],
        daily_runs()[4:],
        [],
    ),
    (
        "an interval with no anchor counts from the task's creation",
        [expected("poll", every="6h")],
        [live("t1", "poll", created="2026-05-31T01:17:00Z")],
        [run("t1", SINCE + timedelta(hours=1 + 6 * k, minutes=17, seconds=4)) for k in range(28)],
        [],
    ),
    (
        "a schedule the repository disables: its runs are unexpected",
        [expected("digest", daily="09:00", enabled=False)],
        [live("t1", "digest")],
        daily_runs()[:2],
        [("unexpected", "digest")],
    ),
    (
        "a desired schedule not on the platform is not audited",
        [expected("digest", daily="09:00")],
        [],
        [],
        [],
    ),
]


@pytest.mark.parametrize(
    ("exp", "tasks", "runs", "found"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_kind(
    exp: list[Expected], tasks: list[LiveTask], runs: list[Run], found: list[tuple[str, str]]
) -> None:
    result = audit(exp, tasks, runs, SINCE, UNTIL)
    assert kinds(result) == found, [f.message for f in result.findings]
    for f in result.findings:
        assert f.message and f.kind in counts(result.findings)


def test_late_names_its_slot_and_the_lateness_percentiles() -> None:
    runs = [*daily_runs()[:3], run("t1", DAYS[3] + timedelta(seconds=95)), *daily_runs()[4:]]
    result = audit([expected("digest", daily="09:00")], [live("t1", "digest")], runs, SINCE, UNTIL)
    found = one(result, "late")
    assert slots_utc(found) == ["2026-06-04 09:00"]
    assert found.runs[0].lateness == pytest.approx(95)
    assert found.details["p50_s"] == 5 and found.details["p95_s"] == 95
    assert result.tasks[0].lateness_p50 == 5 and result.tasks[0].health == "late"


def test_failing_and_auto_disabled_carry_the_streak_and_the_last_error() -> None:
    runs = [
        *daily_runs()[:1],
        *daily_runs(status="error", error="Missing required connections: gmail")[1:4],
    ]
    result = audit(
        [expected("digest", daily="09:00")],
        [live("t1", "digest", enabled=False, errors=3)],
        runs,
        SINCE,
        UNTIL,
    )
    found = one(result, "auto-disabled")
    assert found.details == {"streak": 3, "last_error": "Missing required connections: gmail"}
    assert "after 3 errors in a row (max_retries 3)" in found.message
    assert slots_utc(found) == [f"2026-06-0{d} 09:00" for d in (5, 6, 7)]  # not run since
    assert result.tasks[0].health == "auto-disabled"
    # A platform that never disables (aitroop: no max_retries) is failing instead.
    result = audit(
        [expected("digest", max_retries=None, daily="09:00")],
        [live("t1", "digest")],
        runs,
        SINCE,
        DAYS[3] + timedelta(hours=1),
    )
    assert kinds(result) == [("failing", "digest")]
    assert one(result, "failing").details["last_error"] == "Missing required connections: gmail"


def test_the_duplicate_copy_is_the_unexpected_one_and_the_kept_copy_matches() -> None:
    result = audit(
        [expected("digest", daily="09:00")],
        [live("t2", "digest", created="2026-02-01T00:00:00Z"), live("t1", "digest")],
        [*daily_runs("t2"), *daily_runs("t1")],
        SINCE,
        UNTIL,
    )
    found = one(result, "unexpected")
    assert {r.task_id for r in found.runs} == {"t2"} and len(found.runs) == 7
    assert found.details["reasons"] == ["extra copy"] and "t1, t2" in found.message
    assert result.tasks[0].ran == 7 and result.tasks[0].task_ids == ("t1", "t2")


def test_manual_runs_show_as_manual() -> None:
    runs = [*daily_runs(), run("t1", DAYS[2] + timedelta(hours=3), trigger="manual")]
    result = audit([expected("digest", daily="09:00")], [live("t1", "digest")], runs, SINCE, UNTIL)
    assert (result.tasks[0].runs, result.tasks[0].manual) == (8, 1)


def test_overlapping_names_the_slot_whose_run_ran_into_the_next() -> None:
    runs = [
        run(
            "t1",
            SINCE + timedelta(hours=h, seconds=3),
            duration_ms=90 * 60_000 if h == 5 else 1_000,
        )
        for h in range(0, 24 * 7)
    ]
    result = audit(
        [expected("poll", every="1h", anchor="2026-01-01T00:00:00Z")],
        [live("t1", "poll")],
        runs,
        SINCE,
        UNTIL,
    )
    assert slots_utc(one(result, "overlapping")) == ["2026-06-01 05:00"]
    assert [r.duration_ms for r in one(result, "anomalous").runs] == [90 * 60_000]


def test_the_report_is_stable_versioned_data() -> None:
    result = audit(
        [expected("digest", daily="09:00")], [live("t1", "digest")], daily_runs()[1:], SINCE, UNTIL
    )
    report = AuditReport(OWNER, SINCE.timestamp(), UNTIL.timestamp(), [result])
    data = report.to_dict()
    assert data["format_version"] == "1"
    assert data["since"] == "2026-06-01T00:00:00Z" and data["until"] == "2026-06-08T00:00:00Z"
    assert list(data["summary"]) == [
        "auto-disabled", "failing", "missed", "overlapping", "late", "unexpected", "anomalous",
        "over-budget",
    ]  # fmt: skip
    (finding,) = data["targets"][0]["findings"]
    assert finding["kind"] == "missed" and finding["slots"] == ["2026-06-01T09:00:00Z"]
    assert finding["source"] == {"file": "s/digest.yaml", "line": 3}
    assert report.failing(DEFAULT_FAIL_ON) == report.findings
    assert report.failing(["late"]) == []
    assert report.health("prod", "digest") == "missed" and report.health("prod", "x") == NOT_AUDITED
