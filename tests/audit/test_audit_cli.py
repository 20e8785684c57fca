"""`schedctl audit` as a user runs it, against the sandbox on loopback (both platforms).

The sandbox's clock is set a week back while the tasks are applied, so they were created
then; their scheduler runs are rows in its store, read back through the run-log endpoints
(engine's instance log, aitroop's per task). Manual runs go through POST .../run.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox import RunningSandbox
from tests.audit.conftest import UTC, Clock, daily_slots, record, run_body, task_ids
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc, tasks_path
from tests.reliability.servers import Answer, Seen, forwarding

ZONE = "Europe/Rome"  # the repo's default zone


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def applied(repo: Repo, *docs: dict[str, object]) -> None:
    for doc in docs:
        repo.write(str(doc["name"]), doc)
    done = run_cli(["apply", "--auto-approve"], cwd=repo.root)
    assert done.returncode == 0, done.stdout + done.stderr


def seed_daily(
    sandbox: RunningSandbox, platform: str, key: str, *, skip: tuple[int, ...] = (), **kw: object
) -> list[datetime]:
    """A scheduler run 12 s after each of the last 9 daily 09:00 slots but those in `skip`
    (indexes from the oldest); returns the slots."""
    slots = daily_slots(9, 0, ZONE, 9)
    tid = task_ids(sandbox, platform)[key]
    bodies = [
        run_body(platform, f"run-{key}-{i}", tid, s + timedelta(seconds=12), **kw)  # type: ignore[arg-type]
        for i, s in enumerate(slots)
        if i not in skip
    ]
    record(sandbox, platform, tid, bodies)
    return slots


def audit_json(repo: Repo, *args: str) -> tuple[int, dict[str, object], str]:
    done = run_cli(["audit", "--format", "json", *args], cwd=repo.root)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_a_clean_week_is_healthy_and_manual_runs_show_as_manual(
    repo: Repo, sandbox: RunningSandbox, platform: str, clock: Clock
) -> None:
    applied(repo, prompt_doc("digest", daily="09:00"))
    seed_daily(sandbox, platform, "digest")
    clock.now = datetime.now(UTC) - timedelta(hours=1)
    assert run_cli(["trigger", "digest", "--target", "t"], cwd=repo.root).returncode == 0
    code, data, _ = audit_json(repo)
    assert code == 0, data
    (target,) = data["targets"]  # type: ignore[index]
    assert target["findings"] == [] and set(data["summary"].values()) == {0}  # type: ignore[attr-defined]
    (task,) = target["tasks"]
    assert task["health"] == "ok" and task["manual"] == 1 and task["ran"] == task["expected"] >= 6
    assert task["tokens"] == 900 * task["ran"]
    text = run_cli(["audit"], cwd=repo.root, env={"COLUMNS": "100"})
    assert text.returncode == 0 and text.stdout.splitlines()[-1].startswith("healthy: 1 task(s)")
    assert all(len(line) <= 100 for line in text.stdout.splitlines()), text.stdout


def test_missed_slots_exit_2_with_the_slots_in_every_format(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    applied(repo, prompt_doc("digest", daily="09:00"), prompt_doc("report", daily="09:00"))
    slots = seed_daily(sandbox, platform, "digest", skip=(5, 6))
    seed_daily(sandbox, platform, "report")
    code, data, _ = audit_json(repo)
    assert code == 2
    (target,) = data["targets"]  # type: ignore[index]
    (finding,) = target["findings"]
    assert finding["kind"] == "missed" and finding["key"] == "digest"
    assert finding["slots"] == [iso(slots[5]), iso(slots[6])]
    assert finding["source"] == {"file": "schedules/digest.yaml", "line": 3}
    assert {t["key"]: t["health"] for t in target["tasks"]} == {"digest": "missed", "report": "ok"}

    text = run_cli(["audit"], cwd=repo.root, env={"COLUMNS": "100"})
    assert text.returncode == 2
    assert all(len(line) <= 100 for line in text.stdout.splitlines()), text.stdout
    row = next(line for line in text.stdout.splitlines() if line.startswith("missed"))
    local = slots[5].astimezone(__import__("zoneinfo").ZoneInfo(ZONE))
    assert "digest" in row and local.strftime("%m-%d 09:00") in row and "+1" in row

    github = run_cli(["audit", "--format", "github"], cwd=repo.root)
    assert github.returncode == 2
    (line,) = github.stdout.splitlines()
    assert line.startswith(
        "::error file=schedules/digest.yaml,line=3,title=schedctl audit%3A missed::"
    )
    markdown = run_cli(["audit", "--format", "markdown"], cwd=repo.root)
    assert markdown.stdout.startswith("### schedctl schedule health")
    assert (
        "**missed** <code>digest</code>" in markdown.stdout and "| `t` | 2 | 1 |" in markdown.stdout
    )
    # Not a --fail-on kind: reported, exit 0.
    assert run_cli(["audit", "--fail-on", "late"], cwd=repo.root).returncode == 0
    assert run_cli(["audit", "--exclude", "digest"], cwd=repo.root).returncode == 0


@pytest.mark.parametrize("platform", ["engine"])
def test_an_auto_disabled_task_is_found_with_its_last_error(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    doc = prompt_doc("digest", daily="09:00")
    doc["max_retries"] = 2
    applied(repo, doc)
    slots = seed_daily(sandbox, platform, "digest", skip=(6, 7, 8))
    tid = task_ids(sandbox, platform)["digest"]
    bodies = [
        run_body(platform, f"err-{i}", tid, slots[i] + timedelta(seconds=9), status="error",
                 error="model timeout")
        for i in (6, 7)
    ]  # fmt: skip
    record(sandbox, platform, tid, bodies)
    # What the platform did after the second error in a row.
    patch = {"enabled": False}
    base = sandbox.url + tasks_path(platform)
    assert httpx.patch(f"{base}/{tid}", json=patch).status_code == 200
    store, body = sandbox.ctx.store, json.loads(sandbox.ctx.store.get_task("acme", tid) or "{}")
    body["consecutiveErrors"] = 2
    store.put_task("acme", tid, json.dumps(body), None)
    code, data, _ = audit_json(repo)
    assert code == 2
    (finding,) = data["targets"][0]["findings"]  # type: ignore[index]
    assert (
        finding["kind"] == "auto-disabled" and finding["details"]["last_error"] == "model timeout"
    )
    assert finding["slots"] == [iso(slots[8])]  # the slot it did not run since


def test_unreadable_runs_are_notes_never_a_crash(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    applied(repo, prompt_doc("digest", daily="09:00"))
    seed_daily(sandbox, platform, "digest")
    tid = task_ids(sandbox, platform)["digest"]
    bad = run_body(platform, "bad-1", tid, datetime.now(UTC) - timedelta(hours=2))
    bad["startedAt" if platform == "engine" else "started_at"] = "yesterday\x1b[2J"
    record(sandbox, platform, tid, [bad])
    code, data, _ = audit_json(repo)
    assert code == 0
    (note,) = data["targets"][0]["notes"]  # type: ignore[index]
    assert "a run cannot be read" in note and "not an ISO 8601 date and time" in note
    text = run_cli(["audit"], cwd=repo.root)
    assert "note: GET " in text.stdout and "\x1b" not in text.stdout


def test_a_run_log_that_fails_is_the_targets_error_exit_1(
    repo: Repo, sandbox: RunningSandbox, platform: str, tmp_path: Path
) -> None:
    applied(repo, prompt_doc("digest", daily="09:00"))

    def fail(seen: Seen) -> Answer | None:
        if "/runs" in seen.path:
            return Answer(500, b'{"error": "run log unavailable"}')
        return None

    with forwarding(sandbox.url, fail) as proxy:
        config = repo.config.read_text().replace(sandbox.url, proxy.url)
        repo.config.write_text(config)
        done = run_cli(["audit"], cwd=repo.root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(
        r"error: target 't' .*run log: .*GET .*/runs.* 500.*run log unavailable", done.stderr
    )
    assert "ERROR:" in done.stdout


@pytest.mark.parametrize("platform", ["engine"])
def test_bad_options_are_clear_errors(repo: Repo, platform: str) -> None:
    bad = run_cli(["audit", "--fail-on", "mised"], cwd=repo.root)
    assert bad.returncode == 1 and "--fail-on 'mised'" in bad.stderr and "missed" in bad.stderr
    bad = run_cli(["audit", "--since", "a week"], cwd=repo.root)
    assert bad.returncode == 1 and "e.g. 7d" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_status_shows_each_tasks_health_in_one_word(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    applied(repo, prompt_doc("digest", daily="09:00"), prompt_doc("report", daily="09:00"))
    seed_daily(sandbox, platform, "digest", skip=(7,))
    seed_daily(sandbox, platform, "report")
    status = run_cli(["status"], cwd=repo.root, env={"COLUMNS": "100"})
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0])[-2:] == ["health", "state"]
    by_key = {line.split()[1]: line for line in lines[1:]}
    assert re.search(r"\smissed\s+in sync$", by_key["digest"])
    assert re.search(r"\sok\s+in sync$", by_key["report"])
