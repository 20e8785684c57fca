"""Cost in plans against the sandbox: tasks fire on its virtual clock with token usage and
durations drawn per task from the seed; the plan's figures are held against a hand
computation from the same run log, read over HTTP; a change that crosses a token budget
fails plan (exit 1) and apply (nothing written), unless a budget_exception lets it through."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.cost import ChangeCost
from reconciler.plan import Change, Plan
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from reconciler.sandbox.options import RunFaults
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc

START = datetime(2026, 6, 1, tzinfo=timezone.utc)
FAULTS = RunFaults.parse({"tokens": [2000, 9000], "duration": ["5s", "40s"]}, "test")
PRICE = 0.01  # per 1,000 tokens


@pytest.fixture(params=["engine", "aitroop"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox(platform: str) -> Iterator[RunningSandbox]:
    opts = SandboxOptions(
        platform=platform, seed=11, retry_after=0, clock_kind="virtual", start=START, runs=FAULTS
    )
    with running_sandbox(opts) as running:
        yield running


def costed_repo(root: Path, sandbox: RunningSandbox, platform: str, **extra: Any) -> Repo:
    repo = Repo(root, sandbox.url, platform)
    config = yaml.safe_load(repo.config.read_text())
    config["cost"] = {"last_runs": 20}
    config["pricing"] = {"per_1k_tokens": PRICE, "currency": "USD"}
    config.update(extra)
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


def advance(sandbox: RunningSandbox, span: str) -> None:
    done = httpx.post(f"{sandbox.url}/__sandbox/clock", json={"advance": span}, timeout=120)
    assert done.status_code == 200, done.text


def runs_path(platform: str, task_id: str) -> str:
    if platform == "engine":
        return f"/api/instances/acme/scheduled-tasks/{task_id}/runs"
    return f"/api/scheduled-tasks/{task_id}/runs"


def hand_medians(
    sandbox: RunningSandbox, platform: str, task_id: str, last: int = 20
) -> tuple[float | None, float]:
    """Median tokens and duration of the newest `last` runs, from the raw run log."""
    got = httpx.get(f"{sandbox.url}{runs_path(platform, task_id)}", params={"limit": "100"})
    assert got.status_code == 200, got.text
    rows = got.json()
    rows = rows if isinstance(rows, list) else rows["items"]
    start = "startedAt" if platform == "engine" else "started_at"
    rows = sorted(rows, key=lambda r: r[start], reverse=True)[:last]
    assert len(rows) == last  # the day made more runs than the plan reads
    if platform == "engine":
        tokens: float | None = statistics.median(r["tokenUsage"]["totalTokens"] for r in rows)
        durations = [r["durationMs"] for r in rows if r["durationMs"] is not None]
    else:
        assert all("token_usage" not in r for r in rows)  # aitroop records none
        tokens = None
        durations = [r["duration_ms"] for r in rows if r["duration_ms"] is not None]
    return tokens, statistics.median(durations)


def one(plan: Plan, key: str) -> tuple[Change, ChangeCost]:
    (change,) = [c for t in plan.targets for c in t.changes if c.key == key]
    assert change.cost is not None
    return change, change.cost


def test_the_plan_figures_match_the_run_log(
    tmp_path: Path, sandbox: RunningSandbox, platform: str
) -> None:
    repo = costed_repo(tmp_path, sandbox, platform)
    repo.write("digest", prompt_doc("digest", every="1h"))
    repo.write("report", prompt_doc("report", daily="09:00"))
    _, result = repo.apply()
    assert result.ok
    advance(sandbox, "1d")
    repo.write("digest", prompt_doc("digest", every="30m"))
    plan = repo.plan()
    change, cost = one(plan, "digest")
    assert change.remote_id is not None
    tokens, duration = hand_medians(sandbox, platform, change.remote_id)
    assert (cost.runs_before, cost.runs_after) == (24, 48)
    assert cost.duration_ms == duration
    (target,) = plan.targets
    assert target.cost is not None
    assert (target.cost.runs_before, target.cost.runs_after) == (25, 49)  # report: 1 a day
    if tokens is None:  # aitroop: its runs hold no token usage, so the cost is unknown
        assert cost.tokens_per_run is None and cost.source == "unknown"
        assert cost.tokens_after is None and target.cost.unknown == 1
        assert plan.cost is not None
        assert plan.cost.line() == "+24 runs/day, 1 change(s) of unknown tokens"
        return
    assert (cost.tokens_per_run, cost.source, cost.sampled) == (tokens, "observed", 20)
    assert cost.tokens_before == 24 * tokens and cost.tokens_after == 48 * tokens
    assert target.cost.tokens_before == 24 * tokens and target.cost.unknown == 0
    money = 24 * tokens / 1000 * PRICE
    assert plan.cost is not None and plan.cost.money == pytest.approx(money)
    from reconciler.cost import money_text, tokens_text

    line = f"+24 runs/day, ≈ +{tokens_text(24 * tokens)} tokens/day, ≈ {money_text(money, 'USD', sign=True)}/day"
    assert plan.cost.line() == line
    # The pull-request comment: the total at the top, a cost column, a cost line per change.
    done = run_cli(["plan", "--format", "markdown"], cwd=repo.root)
    assert done.returncode == 0, done.stderr
    assert f"**Cost:** {line}" in done.stdout.split("| target |")[0]
    assert "| cost |" in done.stdout and f"| {line} |" in done.stdout
    assert (
        f"**Cost:** 24 → 48 runs/day; ≈ {tokens_text(tokens)} tokens/run (the median of its last 20 run(s))"
        in done.stdout
    )
    # JSON: plan data, versioned.
    data = run_cli(["plan", "--format", "json"], cwd=repo.root)
    import json

    body = json.loads(data.stdout)
    assert body["format_version"] == "3"
    assert body["cost"]["runs_per_day_delta"] == 24
    assert body["targets"][0]["changes"][0]["cost"]["tokens_per_run"] == tokens


@pytest.mark.parametrize("platform", ["engine"])  # aitroop records no tokens
def test_a_new_item_is_estimated_from_its_siblings(tmp_path: Path, sandbox: RunningSandbox) -> None:
    repo = costed_repo(tmp_path, sandbox, "engine")

    def fleet(*items: str) -> dict[str, Any]:
        return {
            "fleet": "poll",
            "for_each": list(items),
            "template": {
                "name": "poll-{{ item }}",
                "schedule": {"every": "1h"},
                "action": {"prompt": "Poll {{ item }}."},
            },
        }

    repo.write("poll", fleet("acme", "globex"))
    plan, result = repo.apply()
    assert result.ok
    ids = {
        c.key: r.remote_id
        for c, r in zip((r.change for r in result.results), result.results, strict=True)
    }
    advance(sandbox, "1d")
    repo.write("poll", fleet("acme", "globex", "initech"))
    plan = repo.plan()
    _, cost = one(plan, "poll-initech")
    medians = [
        hand_medians(sandbox, "engine", str(ids[k]))[0] for k in ("poll-acme", "poll-globex")
    ]
    assert (cost.source, cost.sampled) == ("siblings", 2)
    assert cost.tokens_per_run == statistics.median(m for m in medians if m is not None)
    assert (cost.runs_before, cost.runs_after) == (0, 24)
    # An estimate on the schedule wins over the siblings.
    doc = fleet("acme", "globex", "initech")
    doc["template"]["estimate"] = {"tokens": 777}
    repo.write("poll", doc)
    _, cost = one(repo.plan(), "poll-initech")
    assert (cost.source, cost.tokens_per_run) == ("estimate", 777)


@pytest.mark.parametrize("platform", ["engine"])  # aitroop records no tokens
def test_crossing_a_token_budget_fails_plan_unless_excepted(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    repo = costed_repo(tmp_path, sandbox, "engine")
    repo.write("digest", prompt_doc("digest", every="1h"))
    _, result = repo.apply()
    assert result.ok
    (task_id,) = [r.remote_id for r in result.results]
    advance(sandbox, "1d")
    tokens, _ = hand_medians(sandbox, "engine", str(task_id))
    assert tokens is not None
    limit = int(30 * tokens)  # today's 24 runs fit; 48 would not
    config = yaml.safe_load(repo.config.read_text())
    config["targets"]["t"]["budget"] = {"max_tokens_per_day": limit}
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))
    budget_line = (
        repo.config.read_text().splitlines().index(f"      max_tokens_per_day: {limit}") + 1
    )
    assert run_cli(["plan"], cwd=repo.root).returncode == 0  # in sync, within
    repo.write("digest", prompt_doc("digest", every="30m"))
    assert run_cli(["validate"], cwd=repo.root).returncode == 0  # no estimate
    done = run_cli(["plan"], cwd=repo.root)
    assert done.returncode == 1
    from reconciler.cost import tokens_text

    message = (
        f"schedules/digest.yaml:4:10: error: digest: target t allows at most {tokens_text(limit)} "
        f"tokens/day (budget at schedctl.yaml:{budget_line}); this schedule makes ≈ "
        f"{tokens_text(48 * tokens)} tokens/day (48 runs/day × {tokens_text(tokens)} tokens per "
        "run, the median of its last 20 run(s); every 30m); e.g. every: "
    )
    assert message in done.stderr, done.stderr
    assert "OVER BUDGET: " + message in done.stdout  # the plan is shown, the excess in it
    assert "Traceback" not in done.stderr
    applied = run_cli(["apply", "--auto-approve"], cwd=repo.root)
    assert applied.returncode == 1 and "nothing was applied" in applied.stderr
    listed = httpx.get(f"{sandbox.url}/api/instances/acme/scheduled-tasks").json()
    (live,) = [t for t in (listed if isinstance(listed, list) else listed["items"])]
    assert live["id"] == task_id and live["schedule"]["everyMs"] == 3_600_000  # unchanged
    # A reviewed exception lets it through, and the comment shows it.
    doc = prompt_doc("digest", every="30m")
    doc["budget_exception"] = "launch week: approved by finance"
    repo.write("digest", doc)
    done = run_cli(["plan", "--format", "markdown"], cwd=repo.root)
    assert done.returncode == 0, done.stderr
    assert "**Budget exception:** launch week: approved by finance" in done.stdout
    assert (
        "**over budget, allowed:** schedules/digest.yaml:7:19: warning: digest: target t allows"
        in done.stdout
    )
    assert (
        "allowed by budget_exception: &#x27;launch week: approved by finance&#x27;" in done.stdout
    )


@pytest.mark.parametrize("platform", ["engine"])
def test_audit_reports_spend_against_the_budgets(tmp_path: Path, sandbox: RunningSandbox) -> None:
    from datetime import timedelta

    from reconciler.runlog import audit_project
    from reconciler.targets import connect
    from tests.reconcile.conftest import FAST

    repo = costed_repo(
        tmp_path, sandbox, "engine", budgets={"digest*": {"max_tokens_per_day": 1000}}
    )
    repo.write("digest", prompt_doc("digest", every="1h"))
    repo.write("report", prompt_doc("report", daily="09:00"))
    _, result = repo.apply()
    assert result.ok
    advance(sandbox, "2d")
    project = repo.project()
    with connect(project.config, project.root, ["t"], retry=FAST) as conns:
        report = audit_project(project, conns, since=START, until=START + timedelta(days=2))
    (target,) = report.targets
    over = [f for f in target.findings if f.kind == "over-budget"]
    assert [f.key for f in over] == ["digest"]  # report is not covered by the glob
    (task,) = [t for t in target.tasks if t.key == "digest"]
    assert task.tokens_per_day is not None and task.tokens_per_day > 1000
    from reconciler.cost import number_text, tokens_text

    line = repo.config.read_text().splitlines().index("    max_tokens_per_day: 1000") + 1
    assert over[0].message == (
        f"made {tokens_text(round(task.tokens_per_day, 2))} tokens/day over "
        f'{number_text(round(task.days, 2))} day(s) of its run log; budget "digest*" allows at '
        f"most 1,000 tokens/day (budget at {project.config_file}:{line})"
    )
    assert over[0].file.endswith("digest.yaml") and over[0].line > 0
    assert report.to_dict()["summary"]["over-budget"] == 1
