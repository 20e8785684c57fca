"""The local runner (`--semantics`) and the sandbox's scheduler fire the same slots by the same
rules: the same schedules, applied to a sandbox on a virtual clock and simulated by the runner,
over the same week (DST included)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler import timing
from reconciler.model import Schedule
from reconciler.runner import simulate
from reconciler.runner.executors import Outcome, RunContext
from reconciler.runner.scheduler import RunnerOptions
from reconciler.sandbox import SandboxOptions, running_sandbox
from reconciler.sandbox.clock import parse_iso
from reconciler.sandbox.options import RunFaults
from reconciler.sandbox.server import RunningSandbox
from tests.conftest import run_cli
from tests.runner.conftest import FakeExecutor, Item

ZONE = "Europe/Rome"


def _dst_week() -> datetime:
    """The Monday (00:00 UTC) of the next week in which Rome changes its clocks: one-shots in
    it are still in the future, as validation wants, and the week crosses a DST change."""
    rome = timing.get_zone(ZONE)
    day = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    day += timedelta(days=7)
    while (day + timedelta(days=1)).astimezone(rome).utcoffset() == day.astimezone(
        rome
    ).utcoffset():
        day += timedelta(days=1)
    sunday = day + timedelta(days=1)  # changes overnight into a Sunday
    return (sunday - timedelta(days=6)).replace(hour=0)


START = _dst_week()
END = START + timedelta(days=7)

COMMON: list[dict[str, Any]] = [
    {"name": "digest", "schedule": {"daily": "09:00"}},
    {"name": "mwf", "schedule": {"weekly": {"at": "08:30", "days": ["mon", "wed", "fri"]}}},
    {"name": "night", "schedule": {"cron": "30 2 * * *"}},  # the night the clocks change too
    {"name": "flaky", "schedule": {"cron": "0 6 * * *"}, "max_retries": 2},
    {
        "name": "monthly",
        "schedule": {"monthly": {"at": "07:00", "day": (START + timedelta(days=2)).day}},
    },
]
ENGINE_ONLY: list[dict[str, Any]] = [
    {"name": "every-2h", "schedule": {"every": "2h", "anchor": "2026-01-01T00:30:00Z"}},
    {
        "name": "reminder",
        "schedule": {"at": (START + timedelta(days=2, hours=15)).isoformat()},
        "delete_after_run": True,
    },
]
AITROOP_ONLY: list[dict[str, Any]] = [
    {"name": "every-6h", "schedule": {"every": "6h"}},  # counts from the task's creation
]


def documents(platform: str) -> list[dict[str, Any]]:
    extra = ENGINE_ONLY if platform == "engine" else AITROOP_ONLY
    out = []
    for doc in COMMON + extra:
        if platform == "aitroop":
            doc = {k: v for k, v in doc.items() if k != "max_retries"}  # never disables anyway
        out.append({**doc, "action": {"prompt": f"do {doc['name']}"}})
    return out


@pytest.fixture(params=["engine", "aitroop"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox(platform: str, tmp_path: Path) -> Iterator[RunningSandbox]:
    opts = SandboxOptions(
        platform=platform,
        db=tmp_path / "sandbox.db",
        seed=5,
        retry_after=0,
        clock_kind="virtual",
        start=START,
        runs=RunFaults(always_fail=("flaky",)),  # by its schedctl key
    )
    with running_sandbox(opts) as running:
        yield running


def sandbox_slots(sandbox: RunningSandbox, platform: str, root: Path) -> dict[str, list[str]]:
    """Apply the repository to the sandbox, advance it over the week, map runs to slots."""
    target: dict[str, Any] = {"platform": platform, "url": sandbox.url}
    if platform == "engine":
        target["instance"] = "acme"
    config = {
        "owner": "agree",
        "defaults": {"timezone": ZONE, "targets": ["t"]},
        "targets": {"t": target},
    }
    (root / "schedctl.yaml").write_text(yaml.safe_dump(config))
    (root / "schedules").mkdir()
    (root / "schedules" / "all.yaml").write_text(yaml.safe_dump_all(documents(platform)))
    applied = run_cli(["apply", "--auto-approve"], cwd=root)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    base = "/api/instances/acme/scheduled-tasks" if platform == "engine" else "/api/scheduled-tasks"
    with httpx.Client(base_url=sandbox.url, timeout=10) as c:
        tasks = c.get(base).json()
        to = (END - timedelta(seconds=1)).isoformat()  # the runner's window ends before END
        assert c.post("/__sandbox/clock", json={"to": to}).status_code == 200
        still = {t["id"] for t in c.get(base).json()}
        slots: dict[str, list[str]] = {}
        for task in tasks:
            key = task["name"].split(" [[")[0]  # aitroop's marker rides on the name
            model = Schedule.model_validate(
                next(d for d in documents(platform) if d["name"] == key)
            )
            trigger = timing.trigger_for(model.schedule, ZONE, created_at=START)
            if task["id"] not in still:
                # A one-shot deletes itself, runs and all, after its success: that one fire.
                slots[key] = [trigger.fires(START, 1)[0].astimezone(timezone.utc).isoformat()]
                continue
            started = "startedAt" if platform == "engine" else "started_at"
            # A run belongs to the latest slot at or before its start (a tick lags a little).
            slots[key] = sorted(
                _utc(trigger.prev_before(parse_iso(r[started]) + timedelta(microseconds=1)))
                for r in c.get(f"{base}/{task['id']}/runs").json()
            )
    return slots


def _utc(at: datetime | None) -> str:
    assert at is not None
    return at.astimezone(timezone.utc).isoformat()


def runner_slots(platform: str) -> dict[str, list[str]]:
    items = [Item(d["name"], Schedule.model_validate(d), ZONE) for d in documents(platform)]

    def result(ctx: RunContext) -> Outcome:
        return Outcome(ctx.key != "flaky", "", None if ctx.key != "flaky" else "boom")

    records = simulate(
        items, START, END, RunnerOptions(semantics=platform), executor=FakeExecutor(result)
    )
    slots: dict[str, list[str]] = {d["name"]: [] for d in documents(platform)}
    for record in records:
        if record.status in ("ok", "error") and record.scheduled_for is not None:
            slots[record.schedule].append(record.scheduled_for.astimezone(timezone.utc).isoformat())
    return {k: sorted(v) for k, v in slots.items()}


def test_runner_and_sandbox_fire_the_same_slots(
    sandbox: RunningSandbox, platform: str, tmp_path: Path
) -> None:
    expected = runner_slots(platform)
    got = sandbox_slots(sandbox, platform, tmp_path)
    assert got == expected
    # The rules showed: engine disables the failing task after 2 errors, aitroop never does.
    assert len(expected["flaky"]) == (2 if platform == "engine" else 7)
    # 09:00 Rome moves by an hour in UTC across the week's clock change.
    assert len({slot[11:16] for slot in expected["digest"]}) == 2
    assert len(expected["night"]) == 7 and len(expected["monthly"]) == 1
