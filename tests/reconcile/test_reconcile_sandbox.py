"""Plan and apply against the sandbox as a real server over loopback, for both platforms."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from reconciler.plan import KINDS
from reconciler.sandbox import RunningSandbox
from tests.reconcile.conftest import Repo, prompt_doc, tasks_path, writes

# Schedules every platform can take, in several forms.
FORMS: list[dict[str, Any]] = [
    {"daily": "09:00"},
    {"weekly": {"at": "08:30", "days": ["mon", "wed", "fri"]}},
    {"monthly": {"at": "07:00", "day": 3}},
    {"every": "2h"},
    {"cron": "15 6 * * MON-FRI"},
]


def seed(repo: Repo, count: int = len(FORMS)) -> None:
    for i in range(count):
        repo.write(f"s{i:03d}", prompt_doc(f"task-{i:03d}", **FORMS[i % len(FORMS)]))


def raw_post(sandbox: RunningSandbox, platform: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(sandbox.url + tasks_path(platform), json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def raw_list(sandbox: RunningSandbox, platform: str) -> list[dict[str, Any]]:
    response = httpx.get(sandbox.url + tasks_path(platform))
    body = response.json()
    return body if isinstance(body, list) else body["items"]  # type: ignore[no-any-return]


def raw_task(platform: str, name: str, *, description: str = "") -> dict[str, Any]:
    if platform == "engine":
        return {
            "name": name,
            "description": description,
            "prompt": "hand-made",
            "schedule": {"type": "cron", "expression": "0 8 * * *"},
        }
    return {
        "name": name,
        "schedule_type": "daily",
        "schedule_config": {"time": "08:00"},
        "action_type": "send_message",
        "action_config": {"prompt": "hand-made"},
    }


def test_apply_then_plan_changes_nothing_and_only_reads(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    seed(repo)
    plan, result = repo.apply()
    assert plan.summary["create"] == len(FORMS)
    assert result.ok and len(result.results) == len(FORMS)
    # one listing, then exactly one POST per create
    assert [m for m, _ in sandbox.request_log] == ["GET"] + ["POST"] * len(FORMS)

    mark = len(sandbox.request_log)
    again = repo.plan()
    assert not again.pending and again.targets[0].in_sync == len(FORMS)
    assert sandbox.request_log[mark:] == [("GET", tasks_path(repo.platform))]


def test_edited_prompt_is_one_update(repo: Repo, sandbox: RunningSandbox) -> None:
    seed(repo)
    repo.apply()
    repo.write("s002", prompt_doc("task-002", "A new prompt.", **FORMS[2]))
    mark = len(sandbox.request_log)
    plan, result = repo.apply()
    (change,) = plan.targets[0].changes
    assert change.action == "update" and [f.path for f in change.fields] == ["action.prompt"]
    assert change.fields[0].after == "A new prompt."
    method = "PATCH" if repo.platform == "engine" else "PUT"
    assert writes(sandbox.request_log[mark:]) == [
        (method, f"{tasks_path(repo.platform)}/{change.remote_id}")
    ]
    assert result.ok


def test_removed_file_with_prune_is_one_delete(repo: Repo, sandbox: RunningSandbox) -> None:
    seed(repo)
    repo.apply()
    repo.remove("s001")
    assert not repo.plan().pending  # without prune: only noted
    assert [c.key for c in repo.plan().targets[0].orphans] == ["task-001"]
    mark = len(sandbox.request_log)
    plan, result = repo.apply(prune=True)
    (change,) = plan.targets[0].changes
    assert change.action == "delete" and change.key == "task-001"
    assert writes(sandbox.request_log[mark:]) == [
        ("DELETE", f"{tasks_path(repo.platform)}/{change.remote_id}")
    ]
    # the plan's listing, then the fresh one that re-checks the delete
    assert [m for m, _ in sandbox.request_log[mark:]].count("GET") == 2
    assert result.ok and not repo.plan(prune=True).pending


def test_unowned_objects_are_never_written(repo: Repo, sandbox: RunningSandbox) -> None:
    seed(repo, 10)
    platform = repo.platform
    foreign = []
    for i in range(20):
        if i < 6:  # unmarked, with the title of a desired schedule: a conflict
            body = raw_task(platform, f"Task {i:03d}")
        elif i < 12:  # another owner's marker on one of our keys
            if platform == "engine":
                body = raw_task(
                    platform, f"Task {i:03d}", description=f"x\n\n[schedctl:team-b/task-{i:03d}]"
                )
            else:
                body = raw_task(platform, f"Task {i:03d} [[team-b/task-{i:03d}]]")
        else:  # unrelated and unmarked
            body = raw_task(platform, f"Hand-made {i}")
        foreign.append(raw_post(sandbox, platform, body))
    ids = {t["id"] for t in foreign}
    before = {t["id"]: t for t in raw_list(sandbox, platform)}

    mark = len(sandbox.request_log)
    plan, result = repo.apply(prune=True)
    summary = plan.targets[0].summary
    # 6 unmarked with our titles, 4 of another owner's on our keys: all conflicts, none created
    assert summary == {**dict.fromkeys(KINDS, 0), "conflict": 10}
    assert {c.remote_id for c in plan.targets[0].changes if c.action == "conflict"} <= ids
    theirs = [c for c in plan.targets[0].changes if "'team-b'" in c.reason]
    assert sorted(c.key for c in theirs) == [f"task-{i:03d}" for i in range(6, 10)]
    assert not result.ok  # conflicts are not the desired state: exit 1, reported per change
    touched = {p.rsplit("/", 1)[-1] for _, p in writes(sandbox.request_log[mark:])}
    assert not touched & ids
    after = {t["id"]: t for t in raw_list(sandbox, platform)}
    for task_id in ids:
        assert after[task_id] == before[task_id]
    assert not repo.plan(prune=True).targets[0].summary["create"]


def test_plan_reads_exactly_the_pages_and_apply_one_request_per_change(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    seed(repo, 30)
    repo.apply()
    sandbox.set_faults(page_size=7)
    mark = len(sandbox.request_log)
    plan = repo.plan()
    assert not plan.pending and plan.targets[0].pages == math.ceil(30 / 7)
    assert sandbox.request_log[mark:] == [("GET", tasks_path(repo.platform))] * math.ceil(30 / 7)

    for i in range(3):  # 3 updates
        repo.write(f"s{i:03d}", prompt_doc(f"task-{i:03d}", "changed", **FORMS[i % len(FORMS)]))
    for i in range(30, 34):  # 4 creates
        repo.write(f"s{i:03d}", prompt_doc(f"task-{i:03d}", **FORMS[i % len(FORMS)]))
    repo.remove("s029")  # 1 delete
    mark = len(sandbox.request_log)
    plan, result = repo.apply(prune=True)
    assert result.ok and len(result.results) == 8
    pages = math.ceil(30 / 7)
    # the listing's pages, one request per change, and a fresh listing before the delete
    assert len(sandbox.request_log[mark:]) == pages + 8 + pages
    assert len(writes(sandbox.request_log[mark:])) == 8


def test_duplicates_are_deleted_without_prune_and_the_oldest_is_kept(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    seed(repo, 2)
    repo.apply()
    project = repo.project()
    from reconciler.targets import connect

    with connect(project.config, project.root, ["t"]) as conns:
        desired = conns["t"].provider.desired(project.for_target("t")[0])
    first = next(
        t["id"] for t in raw_list(sandbox, repo.platform) if t["name"] == desired.payload["name"]
    )
    second = raw_post(sandbox, repo.platform, desired.payload)["id"]  # a copy with the same key
    plan = repo.plan()
    (dup,) = plan.targets[0].changes
    assert dup.action == "duplicate" and dup.delete and dup.remote_id == second
    assert first in dup.reason
    _, result = repo.apply()  # no prune: the extra copy is schedctl's own mistake
    assert result.ok
    (done,) = result.results
    assert done.status == "done" and done.message == f"deleted id {second}; kept id {first}"
    assert not repo.plan().pending
    ids = [t["id"] for t in raw_list(sandbox, repo.platform)]
    assert len(ids) == 2 and first in ids and second not in ids


def test_ambiguous_creates_are_adopted_not_duplicated(repo: Repo, sandbox: RunningSandbox) -> None:
    seed(repo, 6)
    sandbox.set_faults(ambiguous_rate=1.0)  # every write commits, then the connection drops
    _, result = repo.apply()
    sandbox.set_faults(ambiguous_rate=0.0)
    statuses = sorted({r.status for r in result.results})
    assert statuses == ["adopted"] and result.ok
    posts = [m for m, _ in sandbox.request_log].count("POST")
    assert posts == 6  # never re-sent: the re-listing showed each was created
    assert len(raw_list(sandbox, repo.platform)) == 6
    assert not repo.plan().pending


def test_empty_desired_set_is_not_pruned_without_allow_empty(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    seed(repo, 2)
    repo.apply()
    from reconciler.errors import UsageError

    for i in range(2):
        repo.remove(f"s{i:03d}")
    repo.write("other", {**prompt_doc("elsewhere"), "targets": ["u"]})
    text = repo.config.read_text().replace(
        "targets:\n  t:", "targets:\n  u: {platform: engine, url: 'http://127.0.0.1:9'}\n  t:"
    )
    repo.config.write_text(text)
    project = repo.project()
    from reconciler.reconcile import make_plan
    from reconciler.targets import connect

    with connect(project.config, project.root, ["t"]) as conns:
        with pytest.raises(UsageError, match="--allow-empty"):
            make_plan(project, conns, prune=True)
        plan = make_plan(project, conns, prune=True, allow_empty=True)
    assert plan.targets[0].summary["delete"] == 2
