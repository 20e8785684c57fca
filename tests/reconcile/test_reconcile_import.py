"""import, then plan: no change, for every form each platform offers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import yaml

from reconciler.forms import utc_iso
from reconciler.importer import import_target, slugify, unique_key
from reconciler.sandbox import RunningSandbox
from reconciler.schemas import write_schemas
from reconciler.targets import connect
from tests.reconcile.conftest import Repo
from tests.reconcile.test_reconcile_sandbox import raw_list, raw_post


def engine_tasks() -> list[dict[str, Any]]:
    base = {"prompt": "Do the thing."}
    return [
        {**base, "name": "Weekday digest", "schedule": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/Rome"}},
        {**base, "name": "Office hours poll", "schedule": {"type": "cron", "expression": "*/30 9-17 * * *"}},
        {**base, "name": "Every 15 minutes", "schedule": {"type": "interval", "everyMs": 900_000}},
        {**base, "name": "Anchored 90m", "schedule": {"type": "interval", "everyMs": 5_400_000, "anchorAt": "2026-01-01T00:00:00Z"}},
        {**base, "name": "One reminder", "schedule": {"type": "one-shot", "runAt": "2031-03-01T10:00:00Z"}, "deleteAfterRun": True},
        {
            **base, "name": "Everything set", "description": "Free text.\nTwo lines.",
            "schedule": {"type": "cron", "expression": "5 4 1 * *", "timezone": "Asia/Tokyo"},
            "enabled": False, "outboundChannel": "slack", "outboundTarget": "C123",
            "keepHistory": False, "maxRetries": 5,
        },
        {**base, "name": "Daily report", "schedule": {"type": "cron", "expression": "0 7 * * *", "timezone": "UTC"}},
        {**base, "name": "Daily Report!", "schedule": {"type": "cron", "expression": "0 8 * * *"}},
    ]  # fmt: skip


def aitroop_tasks() -> list[dict[str, Any]]:
    send = {"action_type": "send_message", "action_config": {"prompt": "Do the thing."}}
    return [
        {**send, "name": "Every 15 min", "schedule_type": "interval", "schedule_config": {"every": 15, "unit": "minutes"}},
        {**send, "name": "Every 2 hours", "schedule_type": "interval", "schedule_config": {"every": 2, "unit": "hours"}},
        {**send, "name": "Daily", "schedule_type": "daily", "schedule_config": {"time": "09:00"}, "timezone": "America/Los_Angeles"},
        {**send, "name": "Weekends", "schedule_type": "weekly", "schedule_config": {"time": "10:15", "days": [0, 6]}},
        {**send, "name": "Month end", "schedule_type": "monthly", "schedule_config": {"time": "23:00", "day": 28}, "enabled": False},
        {
            "name": "Company report", "schedule_type": "weekly", "schedule_config": {"time": "08:30", "days": [1, 3, 5]},
            "action_type": "run_app", "action_config": {"app_id": "app_1", "app_input": {"company_name": "Stripe", "n": 3}},
            "timezone": "Europe/Rome",
        },
        {
            "name": "Expenses", "schedule_type": "monthly", "schedule_config": {"time": "09:00", "day": 1},
            "action_type": "run_app", "action_config": {"app_id": "app_2"},
        },
    ]  # fmt: skip


def test_import_adopt_then_plan_shows_no_change(repo: Repo, sandbox: RunningSandbox) -> None:
    tasks = engine_tasks() if repo.platform == "engine" else aitroop_tasks()
    for body in tasks:
        raw_post(sandbox, repo.platform, body)
    before = {t["id"]: t for t in raw_list(sandbox, repo.platform)}
    write_schemas(repo.root / "schemas")
    project = repo.project_unvalidated()
    out = repo.root / "schedules" / "imported"
    with connect(project.config, project.root, ["t"]) as conns:
        results = import_target(
            conns["t"], out, schema_root=repo.root, now=datetime.now(timezone.utc), adopt=True
        )
    assert [r.status for r in results] == ["adopted"] * len(tasks)
    assert len({r.key for r in results}) == len(tasks)  # "Daily report" / "Daily Report!" differ
    first = (out / f"{results[0].key}.yaml").read_text()
    assert first.startswith("# yaml-language-server: $schema=../../schemas/schedule.schema.json\n")

    plan = repo.plan(prune=True)
    assert not plan.pending, [(c.key, c.fields) for c in plan.targets[0].changes]
    assert plan.targets[0].in_sync == len(tasks)

    # Adopting changed the marker and nothing else, but for the anchor of an engine interval
    # that had none: the creation time it counted from, now written out.
    after = {t["id"]: t for t in raw_list(sandbox, repo.platform)}
    field = "description" if repo.platform == "engine" else "name"
    for task_id, old in before.items():
        new = after[task_id]
        assert new[field].startswith(old.get(field) or "") and "team-a/" in new[field]
        for key in old:
            if key not in (field, "updatedAt", "updated_at", "nextRunAt", "next_run_at"):
                expected = old[key]
                if key == "schedule" and expected.get("type") == "interval":
                    expected = {"anchorAt": utc_iso(old["createdAt"]), **expected}
                assert new[key] == expected, key
        assert new.get("nextRunAt") == old.get("nextRunAt")  # the same next run as before


def test_keys_are_slugs_of_titles_and_unique() -> None:
    assert slugify("Daily Report!") == "daily-report" and slugify("***") == "task"
    taken: set[str] = set()
    assert [unique_key("a", taken) for _ in range(3)] == ["a", "a-2", "a-3"]


def test_import_without_adopt_gives_conflicts(repo: Repo, sandbox: RunningSandbox) -> None:
    tasks = (engine_tasks() if repo.platform == "engine" else aitroop_tasks())[:3]
    for body in tasks:
        raw_post(sandbox, repo.platform, body)
    project = repo.project_unvalidated()
    out = repo.root / "schedules"
    with connect(project.config, project.root, ["t"]) as conns:
        results = import_target(
            conns["t"], out, schema_root=repo.root, now=datetime.now(timezone.utc)
        )
    assert [r.status for r in results] == ["written"] * 3
    docs = [yaml.safe_load((out / f"{r.key}.yaml").read_text()) for r in results]
    assert all(d["targets"] == ["t"] for d in docs)
    if repo.platform == "aitroop":
        assert docs[0]["schedule"] == {"every": "15m", "timezone": "UTC"}
        assert docs[2]["schedule"] == {"daily": "09:00", "timezone": "America/Los_Angeles"}
    else:
        assert docs[0]["schedule"] == {"cron": "0 9 * * 1-5", "timezone": "Europe/Rome"}
        created = raw_list(sandbox, "engine")[2]["createdAt"]
        assert docs[2]["schedule"] == {"every": "15m", "anchor": utc_iso(created)}
    plan = repo.plan()
    assert plan.targets[0].summary["conflict"] == 3 and plan.targets[0].summary["create"] == 0
