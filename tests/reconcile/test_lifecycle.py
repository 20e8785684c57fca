"""Lifecycle in the repository and the marker: rename, protect, ignore_changes, --select."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest
import yaml

from reconciler.forms import DesiredTask, Listing, LiveTask, Marker, normalize
from reconciler.plan import diff_target
from reconciler.sandbox import RunningSandbox
from reconciler.targets import connect
from tests.reconcile.conftest import OWNER, Repo, prompt_doc, tasks_path, writes
from tests.reconcile.test_reconcile_ownership import by_key, cli, set_config
from tests.reconcile.test_reconcile_sandbox import raw_list, raw_post
from tests.reliability.conftest import owned_keys


def task_of(sandbox: RunningSandbox, platform: str, task_id: str) -> dict[str, Any]:
    (task,) = [t for t in raw_list(sandbox, platform) if t["id"] == task_id]
    return task


def runs_of(sandbox: RunningSandbox, platform: str, task_id: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{sandbox.url}{tasks_path(platform)}/{task_id}/runs", timeout=30).json()
    return body if isinstance(body, list) else body["items"]  # type: ignore[no-any-return]


def conversation(task: dict[str, Any]) -> str | None:
    value = task.get("conversationId", task.get("session_id"))
    return None if value is None else str(value)


def edit_live(sandbox: RunningSandbox, platform: str, task_id: str, **fields: Any) -> None:
    """Change a task on the platform, as someone in its UI would."""
    url = f"{sandbox.url}{tasks_path(platform)}/{task_id}"
    if platform == "engine":
        response = httpx.patch(url, json=fields, timeout=30)
    else:
        task = task_of(sandbox, platform, task_id)
        keep = ("name", "schedule_type", "schedule_config", "action_type", "action_config")
        body = {k: task[k] for k in (*keep, "enabled", "timezone") if k in task}
        response = httpx.put(url, json={**body, **fields}, timeout=30)
    assert response.status_code < 300, response.text


def duplicate(repo: Repo, sandbox: RunningSandbox, key: str) -> str:
    """A second live copy of a schedule, marker and all (as two racing applies make)."""
    project = repo.project()
    (schedule,) = [s for s in project.for_target("t") if s.key == key]
    with connect(project.config, project.root, ["t"]) as conns:
        payload = conns["t"].provider.desired(schedule).payload
    return str(raw_post(sandbox, repo.platform, payload)["id"])


# ---------------------------------------------------------------------------------------------
# rename


@pytest.mark.slow
def test_a_rename_keeps_the_id_runs_and_conversation_under_faults(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    docs = [prompt_doc(f"task-{i:02d}") for i in range(20)]
    repo.write("s", *docs)
    assert repo.apply()[1].ok
    before = by_key(repo, sandbox)
    for task_id in before.values():  # a run each, so each has history and a conversation
        run_now = f"{sandbox.url}{tasks_path(repo.platform)}/{task_id}/run"
        assert httpx.post(run_now, timeout=30).status_code < 300
    history = {k: len(runs_of(sandbox, repo.platform, i)) for k, i in before.items()}
    talks = {k: conversation(task_of(sandbox, repo.platform, i)) for k, i in before.items()}
    assert all(history.values()) and all(talks.values())

    renamed = [
        {**d, "name": f"renamed-{i:02d}", "renamed_from": [d["name"]], "title": f"New {i}"}
        for i, d in enumerate(docs)
    ]
    repo.write("s", *renamed)
    first = repo.plan(prune=True)
    assert first.summary["rename"] == 20 and first.summary["create"] == 0
    assert first.summary["delete"] == 0
    sandbox.set_faults(fail_rate=0.2, ambiguous_rate=0.1, retry_after=0)
    mark = len(sandbox.request_log)
    for _ in range(2):  # two applies at most, prune on: nothing may be recreated nor lost
        _, result = repo.apply(prune=True)
        if result.ok:
            break
    sandbox.set_faults(fail_rate=0.0, ambiguous_rate=0.0)
    assert result.ok, [r.message for r in result.failed]
    assert len(writes(sandbox.request_log[mark:])) > 20  # the faults did repeat writes

    after = by_key(repo, sandbox)
    assert sorted(after) == [f"renamed-{i:02d}" for i in range(20)]
    assert owned_keys(repo.platform, raw_list(sandbox, repo.platform), OWNER) == Counter(
        list(after)
    )
    assert len(raw_list(sandbox, repo.platform)) == 20  # no duplicate, no orphan
    for i, old in enumerate(d["name"] for d in docs):
        task_id = after[f"renamed-{i:02d}"]
        assert task_id == before[old]
        assert len(runs_of(sandbox, repo.platform, task_id)) == history[old]
        assert conversation(task_of(sandbox, repo.platform, task_id)) == talks[old]
    assert not repo.plan(prune=True).pending


def test_the_plan_shows_a_rename_with_its_field_changes_and_apply_rewrites_the_marker(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("s", prompt_doc("old-name"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    (task_id,) = by_key(repo, sandbox).values()
    repo.write("s", {**prompt_doc("new-name", "Now this."), "renamed_from": ["old-name"]})

    planned = cli(repo, "plan", "--prune", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert f"~ rename old-name → new-name  'New Name'  (id {task_id})" in planned.stdout
    assert '"Do old-name." -> "Now this."' in planned.stdout
    assert "0 to create" in planned.stdout and "0 to delete" in planned.stdout
    data = json.loads(cli(repo, "plan", "--format", "json").stdout)
    (change,) = data["targets"][0]["changes"]
    assert change["action"] == "rename" and change["renamed_from"] == "old-name"
    assert change["remote_id"] == task_id
    markdown = cli(repo, "plan", "--format", "markdown").stdout
    assert "rename <b>old-name → new-name</b>" in markdown

    mark = len(sandbox.request_log)
    applied = cli(repo, "apply", "--prune", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 renamed" in applied.stdout
    method = "PATCH" if repo.platform == "engine" else "PUT"
    assert writes(sandbox.request_log[mark:]) == [
        (method, f"{tasks_path(repo.platform)}/{task_id}")
    ]
    assert by_key(repo, sandbox) == {"new-name": task_id}
    # Once renamed, the entry can stay: nothing more to do.
    assert cli(repo, "plan", "--prune", "--detailed-exitcode").returncode == 0


def test_a_rename_whose_old_key_is_not_live_is_a_note_and_a_create(repo: Repo) -> None:
    repo.write("s", {**prompt_doc("fresh"), "renamed_from": ["never-was"]})
    planned = cli(repo, "plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "note: rename never-was → fresh: no live task has the old key" in planned.stdout
    assert "1 to create" in planned.stdout


def test_a_saved_rename_is_checked_against_the_live_marker(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("s", prompt_doc("first"), prompt_doc("second"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    ids = by_key(repo, sandbox)
    repo.write("s", {**prompt_doc("third"), "renamed_from": ["first"]}, prompt_doc("second"))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0
    saved = json.loads((repo.root / "plan.json").read_text())
    (change,) = saved["targets"][0]["changes"]
    mark = len(sandbox.request_log)
    for edit in ({"renamed_from": "second"}, {"remote_id": ids["second"]}):
        # The edit points the rename at another key, or at another live object.
        (repo.root / "edited.json").write_text(
            json.dumps(
                {**saved, "targets": [{**saved["targets"][0], "changes": [{**change, **edit}]}]}
            )
        )
        refused = cli(repo, "apply", "edited.json", "--auto-approve")
        assert refused.returncode == 1, refused.stdout
        assert "saved plan was edited" in refused.stderr
        assert writes(sandbox.request_log[mark:]) == []

    edit_live(sandbox, repo.platform, ids["first"], enabled=False)  # the listing moves
    mark = len(sandbox.request_log)
    stale = cli(repo, "apply", "plan.json", "--auto-approve")
    assert stale.returncode == 1 and "changed since the plan was made" in stale.stderr
    assert writes(sandbox.request_log[mark:]) == []
    assert by_key(repo, sandbox) == ids


# ---------------------------------------------------------------------------------------------
# protect


def test_protect_blocks_prune_and_duplicates_until_allow_delete_names_the_key(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("keep", {**prompt_doc("precious"), "protect": True})
    repo.write("gone", prompt_doc("billing-report"), prompt_doc("scratch"))
    set_config(repo, protect=["billing-*"])
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    ids = by_key(repo, sandbox)
    copy = duplicate(repo, sandbox, "precious")  # a second `precious`
    repo.remove("gone")  # billing-report (protected by the glob) and scratch leave the repo

    planned = cli(repo, "plan", "--prune", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert f"x billing-report  'Billing Report'  (id {ids['billing-report']})" in planned.stdout
    assert f"x precious  'Precious'  (id {copy})" in planned.stdout
    assert "`apply --allow-delete billing-report` deletes it" in planned.stdout
    assert "1 to delete" in planned.stdout and "2 delete(s) blocked" in planned.stdout
    data = json.loads(cli(repo, "plan", "--prune", "--format", "json").stdout)
    kinds = sorted(c["action"] for c in data["targets"][0]["changes"])
    assert kinds == ["blocked-delete", "blocked-delete", "delete"]

    applied = cli(repo, "apply", "--prune", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    left = {t["id"] for t in raw_list(sandbox, repo.platform)}
    assert left == {ids["precious"], ids["billing-report"], copy}
    # Only the blocked deletes remain: nothing is pending.
    assert cli(repo, "plan", "--prune", "--detailed-exitcode").returncode == 0

    # A saved plan with its blocked deletes: --allow-delete lets the named one through.
    assert cli(repo, "plan", "--prune", "--out", "plan.json").returncode == 0
    through = cli(repo, "apply", "plan.json", "--allow-delete", "precious", "--auto-approve")
    assert through.returncode == 0, through.stdout + through.stderr
    assert {t["id"] for t in raw_list(sandbox, repo.platform)} == {
        ids["precious"],
        ids["billing-report"],
    }
    last = cli(repo, "apply", "--prune", "--allow-delete", "billing-report", "--auto-approve")
    assert last.returncode == 0, last.stdout + last.stderr
    assert by_key(repo, sandbox) == {"precious": ids["precious"]}


def test_a_protected_schedule_removed_with_its_protect_is_an_ordinary_orphan(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    # `protect: true` lives in the schedule: once the file is gone, only a config glob remembers.
    repo.write("s", {**prompt_doc("once"), "protect": True})
    repo.write("other", prompt_doc("other"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    repo.remove("s")
    planned = cli(repo, "plan", "--prune")
    assert "1 to delete" in planned.stdout, planned.stdout + planned.stderr


# ---------------------------------------------------------------------------------------------
# ignore_changes


def test_ignored_fields_are_drift_never_reverted_and_creates_still_send_them(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    doc = {**prompt_doc("watched", "Original."), "enabled": False}
    repo.write("s", {**doc, "ignore_changes": ["enabled", "prompt"]})
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    (task_id,) = by_key(repo, sandbox).values()
    created = task_of(sandbox, repo.platform, task_id)
    assert created["enabled"] is False  # the create sent the desired value

    prompt_field = "prompt" if repo.platform == "engine" else "action_config"
    prompt_value: Any = (
        "Changed by hand." if repo.platform == "engine" else {"prompt": "Changed by hand."}
    )
    edit_live(sandbox, repo.platform, task_id, enabled=True, **{prompt_field: prompt_value})
    planned = cli(repo, "plan", "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert ". watched" in planned.stdout and "ignore_changes (enabled, prompt)" in planned.stdout
    assert '"Original." -> "Changed by hand."' not in planned.stdout
    assert "1 with ignored drift" in planned.stdout

    # Another field changes: the update sends the live values of the ignored ones.
    repo.write("s", {**doc, "title": "Watched Closely", "ignore_changes": ["enabled", "prompt"]})
    applied = cli(repo, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 updated" in applied.stdout
    live = task_of(sandbox, repo.platform, task_id)
    assert live["enabled"] is True
    assert "Changed by hand." in json.dumps(live)
    assert "Watched Closely" in json.dumps(live)
    assert cli(repo, "plan", "--detailed-exitcode").returncode == 0


def test_a_target_default_ignore_applies_to_its_schedules(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    config = yaml.safe_load(repo.config.read_text())
    config["targets"]["t"]["ignore_changes"] = ["enabled"]
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))
    repo.write("s", prompt_doc("one"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    (task_id,) = by_key(repo, sandbox).values()
    edit_live(sandbox, repo.platform, task_id, enabled=False)
    assert cli(repo, "plan", "--detailed-exitcode").returncode == 0
    shown = cli(repo, "status")
    assert "in sync" in shown.stdout and "drifted" not in shown.stdout, shown.stdout
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    assert task_of(sandbox, repo.platform, task_id)["enabled"] is False


def test_ignore_changes_names_a_known_field(repo: Repo) -> None:
    repo.write("s", {**prompt_doc("one"), "ignore_changes": ["colour"]})
    result = cli(repo, "validate")
    assert result.returncode == 1
    assert "s.yaml" in result.stdout + result.stderr and "ignore_changes" in (
        result.stdout + result.stderr
    )


# ---------------------------------------------------------------------------------------------
# --select / --exclude


def test_a_selection_never_prunes_outside_itself(repo: Repo, sandbox: RunningSandbox) -> None:
    repo.write("s", prompt_doc("web-a"), prompt_doc("web-b"), prompt_doc("db-a"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    ids = by_key(repo, sandbox)
    repo.write("s", prompt_doc("web-b", "Edited."), prompt_doc("db-a", "Edited."))  # web-a gone

    planned = cli(repo, "plan", "--prune", "--select", "db-*")
    assert planned.returncode == 0, planned.stderr
    assert "partial plan (--select db-*)" in planned.stdout
    assert "0 to create, 1 to update, 0 to delete" in planned.stdout
    data = json.loads(cli(repo, "plan", "--prune", "--select", "db-*", "--format", "json").stdout)
    assert data["select"] == ["db-*"] and data["exclude"] == []
    markdown = cli(repo, "plan", "--prune", "--exclude", "web-*", "--format", "markdown").stdout
    assert "partial plan (--exclude web-*)" in markdown

    mark = len(sandbox.request_log)
    applied = cli(repo, "apply", "--prune", "--select", "db-*", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert writes(sandbox.request_log[mark:]) == [
        (
            "PATCH" if repo.platform == "engine" else "PUT",
            f"{tasks_path(repo.platform)}/{ids['db-a']}",
        )
    ]
    status = cli(repo, "status", "--select", "web-*")
    assert "web-a" in status.stdout and "web-b" in status.stdout and "db-a" not in status.stdout
    excluded = cli(repo, "apply", "--prune", "--exclude", "web-a", "--auto-approve")
    assert excluded.returncode == 0, excluded.stdout + excluded.stderr
    assert by_key(repo, sandbox) == ids  # web-a is outside the selection: not pruned
    whole = cli(repo, "apply", "--prune", "--auto-approve")
    assert whole.returncode == 0
    assert sorted(by_key(repo, sandbox)) == ["db-a", "web-b"]


# ---------------------------------------------------------------------------------------------
# the planner alone


def _live(task_id: str, key: str) -> LiveTask:
    document = {"title": key, "schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
    return LiveTask(task_id, key, Marker("acme", key), document, normalize(document, {}))


def _desired(key: str, **extra: Any) -> DesiredTask:
    document = {"title": key, "schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
    return DesiredTask(key, key, {"body": key}, document, normalize(document, {}), **extra)


def test_a_renamed_keys_other_copies_are_its_orphans_and_protect_covers_duplicates() -> None:
    tasks = Listing([_live("1", "old"), _live("2", "old"), _live("3", "keep"), _live("4", "keep")],
                    1, "fp")  # fmt: skip
    wanted = [_desired("new", renamed_from=("old",)), _desired("keep", protect=True)]
    plan = diff_target("t", "engine", wanted, tasks, owner="acme")
    kinds = [(c.action, c.key, c.remote_id) for c in plan.changes]
    assert ("rename", "new", "1") in kinds
    assert ("blocked-delete", "keep", "4") in kinds
    assert [(c.key, c.remote_id) for c in plan.orphans] == [("old", "2")]
    pruned = diff_target("t", "engine", wanted, tasks, owner="acme", prune=True)
    assert ("delete", "old", "2") in [(c.action, c.key, c.remote_id) for c in pruned.changes]
    allowed = diff_target("t", "engine", wanted, tasks, owner="acme", allow_delete={"keep"})
    assert ("duplicate", "keep", "4") in [(c.action, c.key, c.remote_id) for c in allowed.changes]
