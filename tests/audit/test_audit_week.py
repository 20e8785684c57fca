"""A simulated week on the sandbox's virtual clock, both platforms: each injected fault is
found with the right slots, a clean week gives no finding, a DST week no false "missed".

The sandbox fires tasks by its platform's rules (engine: 30 s ticks, 3 per tick; aitroop:
60 s ticks, batches of 50); faults go in through `POST /__sandbox/faults`, time through
`POST /__sandbox/clock`, and the audit reads the run logs over HTTP as from a platform.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.audit import AuditReport, Finding
from reconciler.runlog import audit_project
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from reconciler.targets import connect
from tests.audit.conftest import scope
from tests.conftest import run_cli
from tests.reconcile.conftest import FAST, Repo, prompt_doc, tasks_path, writable

UTC = timezone.utc
START = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)

pytestmark = pytest.mark.slow


@pytest.fixture(params=["engine", "aitroop"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Week:
    """A virtual-clock sandbox at START, a repo on it, and the week's audit."""

    def __init__(self, root: Path, sandbox: RunningSandbox, platform: str) -> None:
        self.sandbox = sandbox
        self.platform = platform
        self.repo = Repo(root, sandbox.url, platform)
        self.start = START

    def schedules(self, *docs: dict[str, Any]) -> None:
        for doc in docs:
            self.repo.write(str(doc["name"]), doc)
        _, result = self.repo.apply()
        assert result.ok, result

    def faults(self, **faults: Any) -> None:
        done = httpx.post(f"{self.sandbox.url}/__sandbox/faults", json=faults)
        assert done.status_code == 200, done.text

    def advance(self, span: str = "7d") -> None:
        done = httpx.post(
            f"{self.sandbox.url}/__sandbox/clock", json={"advance": span}, timeout=120
        )
        assert done.status_code == 200, done.text

    def audit(self, until: datetime | None = None) -> AuditReport:
        project = self.repo.project()
        with connect(project.config, project.root, ["t"], retry=FAST) as conns:
            return audit_project(project, conns, since=self.start, until=until or self.start + WEEK)

    def found(self, report: AuditReport) -> list[tuple[str, str]]:
        assert not report.failed, [t.error for t in report.targets]
        return sorted((f.kind, f.key) for f in report.findings)


def one(report: AuditReport, kind: str, key: str) -> Finding:
    (found,) = [f for f in report.findings if f.kind == kind and f.key == key]
    return found


def slots(found: Finding) -> list[str]:
    return [datetime.fromtimestamp(s, UTC).strftime("%m-%d %H:%M") for s in found.slots]


def week_of(hour_minute: str) -> list[str]:
    """A week's daily slots in UTC (the repo's zone is Europe/Rome: UTC+2 in June)."""
    return [f"06-0{d} {hour_minute}" for d in range(1, 8)]


@pytest.fixture
def week(tmp_path: Path, platform: str) -> Iterator[Week]:
    opts = SandboxOptions(
        platform=platform, seed=7, retry_after=0, clock_kind="virtual", start=START
    )
    with running_sandbox(opts) as sandbox:
        yield Week(tmp_path, sandbox, platform)


def zoned(doc: dict[str, Any], zone: str) -> dict[str, Any]:
    doc["schedule"] = {**doc["schedule"], "timezone": zone}
    return doc


def test_a_clean_week_gives_no_finding(week: Week) -> None:
    week.schedules(
        prompt_doc("digest", daily="09:00"),
        prompt_doc("standup", weekly={"at": "08:30", "days": ["mon", "wed", "fri"]}),
        prompt_doc("poll", every="15m"),
        prompt_doc("close", monthly={"at": "10:00", "day": 3}),
    )
    week.faults(duration=["2s", "20s"], tokens=[500, 4000])
    week.advance()
    report = week.audit()
    assert week.found(report) == []
    health = {t.key: (t.health, t.ran, t.expected) for t in report.targets[0].tasks}
    assert health == {
        "digest": ("ok", 7, 7),
        "standup": ("ok", 3, 3),
        "poll": ("ok", 7 * 96, 7 * 96),
        "close": ("ok", 1, 1),
    }
    if week.platform == "engine":  # engine's runs carry their token usage
        assert report.targets[0].tokens and report.targets[0].tokens > 0


@pytest.mark.parametrize(
    ("zone", "start"),
    [("Europe/London", datetime(2026, 3, 25, tzinfo=UTC)),
     ("America/New_York", datetime(2026, 10, 29, tzinfo=UTC))],
)  # fmt: skip
def test_a_dst_week_gives_no_false_missed(
    tmp_path: Path, platform: str, zone: str, start: datetime
) -> None:
    opts = SandboxOptions(
        platform=platform, seed=7, retry_after=0, clock_kind="virtual", start=start
    )
    with running_sandbox(opts) as sandbox:
        week = Week(tmp_path, sandbox, platform)
        week.start = start
        docs = [
            zoned(prompt_doc("morning", daily="09:00"), zone),
            zoned(prompt_doc("night", daily="01:30"), zone),  # in London's gap / repeated hour
            zoned(prompt_doc("early", daily="02:30"), zone),  # in New York's
        ]
        if platform == "engine":
            docs.append(zoned(prompt_doc("hourly", cron="15 * * * *"), zone))
        week.schedules(*docs)
        week.advance()
        report = week.audit()
    assert week.found(report) == []
    assert {t.key: t.ran for t in report.targets[0].tasks}["morning"] == 7


def test_a_failing_task_is_auto_disabled_or_failing(week: Week) -> None:
    flaky = prompt_doc("flaky", daily="09:00")
    flaky["max_retries"] = 3
    if week.platform == "aitroop":
        del flaky["max_retries"]  # aitroop has none: it never disables
    week.schedules(flaky, prompt_doc("digest", daily="09:00"))
    week.faults(always_fail=["flaky"])
    week.advance()
    report = week.audit()
    if week.platform == "engine":
        assert week.found(report) == [("auto-disabled", "flaky")]
        found = one(report, "auto-disabled", "flaky")
        assert slots(found) == week_of("07:00")[3:]  # disabled after the third error
        assert found.details["streak"] == 3 and found.details["last_error"]
    else:
        assert week.found(report) == [("failing", "flaky")]
        found = one(report, "failing", "flaky")
        assert found.details["streak"] == 7 and slots(found) == week_of("07:00")


@pytest.mark.parametrize("platform", ["aitroop"])
def test_missing_connects_fail_with_the_platforms_words(week: Week) -> None:
    app = {
        "name": "report",
        "title": "Report",
        "schedule": {"daily": "07:00"},
        "action": {"app": {"id": "app_123", "input": {"company": "Stripe"}}},
    }
    week.schedules(app, prompt_doc("digest", daily="09:00"))
    week.faults(missing_connects={"app_123": ["gmail"]})
    week.advance()
    report = week.audit()
    assert week.found(report) == [("failing", "report")]
    found = one(report, "failing", "report")
    assert found.details["last_error"].startswith("Missing required connections: gmail")
    assert slots(found) == week_of("05:00")


def test_skipped_ticks_make_late_and_missed_slots(week: Week) -> None:
    week.schedules(prompt_doc("digest", daily="09:00"), prompt_doc("poll", every="15m"))
    # Wednesday: no tick from 08:59 to 09:50 in Rome (06:59 to 07:50 UTC).
    week.faults(skip_ticks=[["2026-06-03T06:59:00Z", "2026-06-03T07:50:00Z"]])
    week.advance()
    report = week.audit()
    assert week.found(report) == [("late", "digest"), ("late", "poll"), ("missed", "poll")]
    assert slots(one(report, "late", "digest")) == ["06-03 07:00"]
    assert one(report, "late", "digest").runs[0].lateness == 50 * 60
    # The poll's run at 09:50 is its 09:45 slot's, late; the three before it have none.
    assert slots(one(report, "missed", "poll")) == ["06-03 07:00", "06-03 07:15", "06-03 07:30"]
    assert slots(one(report, "late", "poll")) == ["06-03 07:45"]


def test_a_duplicate_copy_firing_twice_is_unexpected(week: Week) -> None:
    week.schedules(prompt_doc("digest", daily="09:00"))
    base = week.sandbox.url + tasks_path(week.platform)
    (original,) = httpx.get(base).json()
    copy = writable(week.platform, original)
    assert httpx.post(base, json=copy).status_code == 201  # a second apply raced the first
    week.advance()
    report = week.audit()
    assert week.found(report) == [("unexpected", "digest")]
    found = one(report, "unexpected", "digest")
    assert len(found.runs) == 7 and {r.task_id for r in found.runs} != {original["id"]}
    assert found.details["reasons"] == ["extra copy"]
    assert report.targets[0].tasks[0].ran == 7


@pytest.mark.parametrize("platform", ["engine"])
def test_a_burst_past_max_concurrent_queues_late(week: Week) -> None:
    # Six tasks due at 09:00 on one instance: the 09:00 tick takes three, the next the rest.
    week.schedules(*(prompt_doc(f"burst-{i}", daily="09:00") for i in range(6)))
    week.advance()
    report = week.audit()
    found = week.found(report)
    assert [k for k, _ in found] == ["late"] * 3, found
    for _, key in found:
        late = one(report, "late", key)
        assert slots(late) == week_of("07:00")
        assert {r.lateness for r in late.runs} == {30.0}


def test_the_cli_audits_a_virtual_week(week: Week) -> None:
    week.schedules(prompt_doc("digest", daily="09:00"), prompt_doc("flaky", daily="10:00"))
    week.faults(always_fail=["flaky"])
    week.advance()
    until = (START + WEEK).isoformat()
    done = run_cli(
        ["audit", "--until", until, "--format", "github"], cwd=week.repo.root, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    kind = "auto-disabled" if week.platform == "engine" else "failing"
    (line,) = done.stdout.splitlines()
    assert line.startswith(
        f"::error file=schedules/flaky.yaml,line=3,title=schedctl audit%3A {kind}::flaky [t]"
    )
    clean = run_cli(["audit", "--until", until, "--select", "digest"], cwd=week.repo.root)
    assert clean.returncode == 0 and clean.stdout.splitlines()[-1].startswith("healthy")
    assert scope(week.platform) in ("acme", "")
