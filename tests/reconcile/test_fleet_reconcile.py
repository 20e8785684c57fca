"""Fleets against the sandbox, as a user runs them: plan (text, JSON, markdown), apply, grow the
fleet, change its template; import --templates and plan again."""

from __future__ import annotations

import json
from typing import Any

import yaml

from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo
from tests.reconcile.test_reconcile_sandbox import raw_post


def digest_fleet(
    count: int, prompt: str = "Summarise yesterday for {{ item.name }}."
) -> dict[str, Any]:
    return {
        "fleet": "digest",
        "description": "customer digests",
        "for_each": [{"slug": f"c{i:02d}", "name": f"Customer {i}"} for i in range(count)],
        "template": {
            "name": "digest-{{ item.slug }}",
            "title": "{{ item.name }} digest",
            "schedule": {"daily": "09:H"},
            "action": {"prompt": prompt},
            "spread": True,
        },
    }


def plan_json(repo: Repo) -> dict[str, Any]:
    result = run_cli(["plan", "--format", "json"], cwd=repo.root)
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_fleet_plans_grouped_applies_and_grows(repo: Repo) -> None:
    repo.write("digest", digest_fleet(30))

    text = run_cli(["plan"], cwd=repo.root)
    assert text.returncode == 0, text.stderr
    assert "  + 30 × digest[*] (customer digests)  schedules/digest.yaml:" in text.stdout
    assert "      + digest-c07  'Customer 7 digest'" in text.stdout
    assert "Traceback" not in text.stderr

    data = plan_json(repo)
    (target,) = data["targets"]
    assert target["summary"]["create"] == 30
    change = next(c for c in target["changes"] if c["key"] == "digest-c07")
    assert change["template"] == {
        "name": "digest",
        "item": "c07",
        "description": "customer digests",
    }
    # The platform gets a plain time: the hashed one, never H.
    schedule = change["payload"].get("schedule") or change["payload"]["schedule_config"]
    assert "H" not in json.dumps(schedule)
    shown = {f["path"]: f["after"] for f in change["fields"]}
    when = shown.get("schedule.daily") or shown.get("schedule.cron")
    assert when is not None and "H" not in when

    markdown = run_cli(["plan", "--format", "markdown"], cwd=repo.root)
    assert "<b>30 × digest[*] (customer digests)</b>" in markdown.stdout
    assert markdown.stdout.count("<details>") == 1  # one block for the fleet
    assert "<b>digest-c29</b>" in markdown.stdout

    applied = run_cli(["apply", "--auto-approve"], cwd=repo.root, input="")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete: 30 created, 0 updated, 0 deleted, 0 failed" in applied.stdout
    clean = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    assert clean.returncode == 0, clean.stdout
    assert "No changes: 30 schedule(s) in sync" in clean.stdout

    # One more customer: one create, and spreading moves at most a few others.
    repo.write("digest", digest_fleet(31))
    (target,) = plan_json(repo)["targets"]
    assert target["summary"]["create"] == 1
    assert target["summary"]["update"] <= 3
    (created,) = [c for c in target["changes"] if c["action"] == "create"]
    assert created["key"] == "digest-c30"
    grown = run_cli(["plan"], cwd=repo.root)
    assert "  + digest-c30  'Customer 30 digest'" in grown.stdout  # one change: no group line
    assert run_cli(["apply", "--auto-approve"], cwd=repo.root, input="").returncode == 0

    # The template's prompt changes: one update per item, grouped.
    repo.write("digest", digest_fleet(31, "Summarise the week for {{ item.name }}."))
    edited = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    assert edited.returncode == 2
    assert "  ~ 31 × digest[*] (customer digests)" in edited.stdout
    assert '"Summarise the week for Customer 3."' in edited.stdout


def family_tasks(platform: str) -> list[dict[str, Any]]:
    names = ["Acme", "Globex", "Initech"]
    if platform == "engine":
        return [
            {"name": f"{n} digest", "prompt": f"Summarise {n}'s day.",
             "schedule": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/Rome"}}
            for n in names
        ] + [{"name": "Cleanup", "prompt": "Clean up.", "schedule": {"type": "interval", "everyMs": 3_600_000}}]  # fmt: skip
    return [
        {"name": f"{n} digest", "schedule_type": "daily", "schedule_config": {"time": "09:00"},
         "timezone": "Europe/Rome", "action_type": "send_message",
         "action_config": {"prompt": f"Summarise {n}'s day."}}
        for n in names
    ] + [{"name": "Cleanup", "schedule_type": "interval", "schedule_config": {"every": 1, "unit": "hours"},
          "action_type": "send_message", "action_config": {"prompt": "Clean up."}}]  # fmt: skip


def test_import_templates_then_plan_shows_no_change(repo: Repo, sandbox: RunningSandbox) -> None:
    for body in family_tasks(repo.platform):
        raw_post(sandbox, repo.platform, body)
    result = run_cli(
        ["import", "--target", "t", "--templates", "--adopt", "--out", "schedules/imported"],
        cwd=repo.root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "template digest: 3 tasks (acme-digest, globex-digest, initech-digest) in one file"
        in result.stdout
    )
    written = sorted(p.name for p in (repo.root / "schedules" / "imported").iterdir())
    assert written == ["cleanup.yaml", "digest.yaml"]
    document = yaml.safe_load((repo.root / "schedules" / "imported" / "digest.yaml").read_text())
    assert document["fleet"] == "digest"
    assert document["for_each"] == [
        {"key": "acme", "name": "Acme"},
        {"key": "globex", "name": "Globex"},
        {"key": "initech", "name": "Initech"},
    ]
    assert document["template"]["name"] == "{{ item.key }}-digest"
    assert document["template"]["title"] == "{{ item.name }} digest"
    assert document["template"]["action"] == {"prompt": "Summarise {{ item.name }}'s day."}

    assert run_cli(["validate"], cwd=repo.root).returncode == 0
    clean = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No changes: 4 schedule(s) in sync" in clean.stdout


def test_import_templates_says_when_there_is_no_family(repo: Repo, sandbox: RunningSandbox) -> None:
    tasks = family_tasks(repo.platform)
    tasks[1] = {**tasks[1], "enabled": False}  # Globex differs twice: name and enabled
    for body in (tasks[0], tasks[1], tasks[3]):
        raw_post(sandbox, repo.platform, body)
    result = run_cli(["import", "--target", "t", "--templates", "--out", "out"], cwd=repo.root)
    assert result.returncode == 0, result.stderr
    assert "templates: none found (no two tasks differ in one value only)" in result.stdout
    assert sorted(p.name for p in (repo.root / "out").iterdir()) == [
        "acme-digest.yaml",
        "cleanup.yaml",
        "globex-digest.yaml",
    ]
