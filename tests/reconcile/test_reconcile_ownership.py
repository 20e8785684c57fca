"""What is still wanted is never deleted, and nothing is left doubled (DESIGN §3), both platforms.

- explicit PATHS with --prune judge deletes against the whole repository
- a renamed owner: other owners' objects are conflicts; `previous_owners` takes them over
- duplicates are removed by apply without --prune, the oldest kept
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import yaml

from reconciler.forms import DesiredTask, FieldChange, Listing, LiveTask, Marker, normalize
from reconciler.plan import diff_target, oldest
from reconciler.reconcile import apply_plan, make_plan
from reconciler.sandbox import RunningSandbox
from reconciler.targets import connect
from tests.conftest import run_cli
from tests.reconcile.conftest import FAST, OWNER, Repo, prompt_doc, tasks_path, writes
from tests.reconcile.test_reconcile_sandbox import raw_list, raw_post
from tests.reliability.conftest import marker_of, owned_keys


def by_key(repo: Repo, sandbox: RunningSandbox, owner: str = OWNER) -> dict[str, str]:
    """key -> live id of every object marked by `owner` (one each expected)."""
    out: dict[str, str] = {}
    for task in raw_list(sandbox, repo.platform):
        marker = marker_of(repo.platform, task)
        if marker is not None and marker.split("/")[0] == owner:
            out[marker.split("/", 1)[1]] = task["id"]
    return out


def set_config(repo: Repo, **changes: Any) -> None:
    config = yaml.safe_load(repo.config.read_text())
    config.update(changes)
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))


def cli(repo: Repo, *args: str) -> Any:
    proc = run_cli(list(args), cwd=repo.root, input="")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


# ---------------------------------------------------------------------------------------------
# Explicit PATHS with --prune


def two_files(repo: Repo) -> None:
    repo.write("one", prompt_doc("alpha"), prompt_doc("beta"))
    repo.write("two", prompt_doc("gamma"), prompt_doc("delta"))


def test_apply_one_file_with_prune_deletes_nothing_the_repository_still_has(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    two_files(repo)
    first = cli(repo, "apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    ids = by_key(repo, sandbox)
    assert sorted(ids) == ["alpha", "beta", "delta", "gamma"]

    # The file's own change goes out; the other file's tasks are neither deleted nor orphans.
    repo.write("one", prompt_doc("alpha", "A new prompt."), prompt_doc("beta"))
    planned = cli(repo, "plan", "schedules/one.yaml", "--prune", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    data = json.loads(planned.stdout)
    (target,) = data["targets"]
    assert [(c["action"], c["key"]) for c in target["changes"]] == [("update", "alpha")]
    assert target["orphans"] == []
    assert data["paths"] == ["schedules/one.yaml"]  # the plan says PATHS narrowed it

    mark = len(sandbox.request_log)
    narrowed = cli(repo, "apply", "schedules/one.yaml", "--prune", "--auto-approve")
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    assert "0 deleted" in narrowed.stdout
    method = "PATCH" if repo.platform == "engine" else "PUT"
    assert writes(sandbox.request_log[mark:]) == [
        (method, f"{tasks_path(repo.platform)}/{ids['alpha']}")
    ]
    assert by_key(repo, sandbox) == ids

    # A schedule removed from the repository (not from PATHS): only that one goes.
    repo.write("two", prompt_doc("delta"))
    mark = len(sandbox.request_log)
    pruned = cli(repo, "apply", "schedules/one.yaml", "--prune", "--auto-approve")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert writes(sandbox.request_log[mark:]) == [
        ("DELETE", f"{tasks_path(repo.platform)}/{ids['gamma']}")
    ]
    assert sorted(by_key(repo, sandbox)) == ["alpha", "beta", "delta"]
    clean = cli(repo, "plan", "--prune", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_prune_with_paths_is_refused_while_another_repository_file_does_not_load(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    two_files(repo)
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    before = raw_list(sandbox, repo.platform)
    bad = prompt_doc("gamma", daily="25:00")  # still in the repository, but invalid
    repo.write("two", bad, prompt_doc("delta"))
    mark = len(sandbox.request_log)
    proc = cli(repo, "apply", "schedules/one.yaml", "--prune", "--auto-approve")
    assert proc.returncode == 1
    assert "whole repository" in proc.stderr and "schedules/two.yaml:" in proc.stderr
    assert sandbox.request_log[mark:] == []  # refused before connecting
    assert raw_list(sandbox, repo.platform) == before
    # Without --prune the file's own changes still go; nothing is deleted either way.
    plain = cli(repo, "plan", "schedules/one.yaml", "--detailed-exitcode")
    # gamma's file does not load, so gamma is shown as an orphan (kept) and the plan differs.
    assert plain.returncode == 2, plain.stdout + plain.stderr
    assert "! orphan (kept: prune is off) gamma" in plain.stdout
    assert "schedules/two.yaml:" in plain.stderr


def test_the_narrowed_plan_keeps_keys_of_the_repository_that_are_not_in_paths() -> None:
    me = "acme"
    live_tasks = Listing([live("1", "A", Marker(me, "a")), live("2", "C", Marker(me, "c")),
                          live("3", "C", Marker(me, "c")), live("4", "G", Marker(me, "gone"))],
                         1, "fp")  # fmt: skip
    plan = diff_target(
        "t", "engine", [desired("a", "A")], live_tasks, owner=me, prune=True, elsewhere={"a", "c"}
    )
    # `c` lives in another file: kept (one copy), `gone` is in no file: deleted
    assert [(c.action, c.remote_id) for c in plan.changes] == [
        ("duplicate", "3"),
        ("delete", "4"),
    ]
    # PATHS with no schedule for a target the repository does have: not an empty target
    quiet = diff_target("t", "engine", [], live_tasks, owner=me, prune=True, elsewhere={"a", "c"})
    assert [(c.action, c.remote_id) for c in quiet.changes] == [("duplicate", "3"), ("delete", "4")]


# ---------------------------------------------------------------------------------------------
# A renamed owner


def test_a_renamed_owner_is_a_conflict_never_a_second_copy(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("s", prompt_doc("alpha"), prompt_doc("beta"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    before = raw_list(sandbox, repo.platform)
    set_config(repo, owner="team-z")

    planned = cli(repo, "plan", "--format", "json", "--detailed-exitcode")
    assert planned.returncode == 2
    (target,) = json.loads(planned.stdout)["targets"]
    assert target["summary"]["create"] == 0 and target["summary"]["conflict"] == 2
    for change in target["changes"]:
        assert f"{OWNER!r}" in change["reason"] and "previous_owners" in change["reason"]

    mark = len(sandbox.request_log)
    applied = cli(repo, "apply", "--prune", "--auto-approve")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "2 conflict(s) left alone" in applied.stdout
    assert writes(sandbox.request_log[mark:]) == []
    assert raw_list(sandbox, repo.platform) == before


def test_previous_owners_takes_the_tasks_over_in_place(repo: Repo, sandbox: RunningSandbox) -> None:
    repo.write("s", prompt_doc("alpha"), prompt_doc("beta"), prompt_doc("gamma"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    ids = by_key(repo, sandbox)
    set_config(repo, owner="team-z", previous_owners=[OWNER])
    # beta changes its prompt as well; gamma leaves the repository (a previous owner's orphan)
    repo.write("s", prompt_doc("alpha"), prompt_doc("beta", "A new prompt."))

    planned = cli(repo, "plan")
    assert planned.returncode == 0, planned.stderr
    assert f'marker: "{OWNER}/alpha" -> "team-z/alpha"' in planned.stdout
    assert "gamma" in planned.stdout and "--prune deletes them" in planned.stdout

    mark = len(sandbox.request_log)
    applied = cli(repo, "apply", "--prune", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete: 0 created, 2 updated, 1 deleted, 0 failed in " in applied.stdout
    assert [m for m, _ in writes(sandbox.request_log[mark:])].count("POST") == 0
    assert by_key(repo, sandbox, "team-z") == {"alpha": ids["alpha"], "beta": ids["beta"]}
    assert by_key(repo, sandbox, OWNER) == {}
    (beta,) = [t for t in raw_list(sandbox, repo.platform) if t["id"] == ids["beta"]]
    prompt = beta["prompt"] if repo.platform == "engine" else beta["action_config"]["prompt"]
    assert prompt == "A new prompt."

    clean = cli(repo, "plan", "--prune", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_another_owners_title_is_a_conflict_and_a_previous_owners_copy_is_a_duplicate() -> None:
    me, old, other = "acme", "acme-old", "team-b"
    listing = Listing([live("1", "Report", Marker(other, "their-report")),
                       live("2", "Digest", Marker(old, "digest")),
                       live("3", "Digest", Marker(me, "digest"))], 1, "fp")  # fmt: skip
    want = [desired("report", "Report"), desired("digest", "Digest")]
    plan = diff_target("t", "engine", want, listing, owner=me, previous_owners=[old])
    by = {c.action: c for c in plan.changes}
    assert sorted(by) == ["conflict", "duplicate", "update"]
    assert by["conflict"].remote_id == "1" and "'team-b'" in by["conflict"].reason
    assert "this title" in by["conflict"].reason
    # the previous owner's copy is the older: it is kept and re-marked, ours is the extra one
    assert by["update"].remote_id == "2"
    assert by["update"].fields == (FieldChange("marker", "acme-old/digest", "acme/digest"),)
    assert by["duplicate"].remote_id == "3" and by["duplicate"].delete
    # without previous_owners the old copy is another owner's: ours stays, nothing is re-marked
    plain = diff_target("t", "engine", want, listing, owner=me)
    assert [c.action for c in plain.changes] == ["conflict"] and plain.in_sync == 1


# ---------------------------------------------------------------------------------------------
# Duplicates


def test_a_copy_made_through_the_api_is_deleted_by_apply_without_prune(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("s", prompt_doc("alpha"), prompt_doc("beta"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    ids = by_key(repo, sandbox)
    project = repo.project()
    with connect(project.config, project.root, ["t"]) as conns:
        payload = conns["t"].provider.desired(project.for_target("t")[0]).payload
    copies = [raw_post(sandbox, repo.platform, payload)["id"] for _ in range(2)]

    planned = cli(repo, "plan", "--detailed-exitcode")
    assert planned.returncode == 2
    assert planned.stdout.count("  - alpha") == 2 and "0 to delete" in planned.stdout

    applied = cli(repo, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for copy in copies:
        assert f"deleted id {copy}; kept id {ids['alpha']}" in applied.stdout
    assert "2 duplicate(s) deleted" in applied.stdout
    assert by_key(repo, sandbox) == ids
    assert owned_keys(repo.platform, raw_list(sandbox, repo.platform), OWNER) == Counter(list(ids))
    clean = cli(repo, "plan", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_two_racing_applies_leave_copies_that_the_next_apply_removes_keeping_the_oldest(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("s", *[prompt_doc(f"task-{i}") for i in range(4)])
    projects = [repo.project(), repo.project()]
    planned = threading.Barrier(2, timeout=60)
    failures: list[BaseException] = []

    def one_apply(index: int) -> None:
        try:
            project = projects[index]
            with connect(project.config, project.root, ["t"], retry=FAST) as conns:
                plan = make_plan(project, conns)
                planned.wait()  # both decided on the same (empty) listing
                apply_plan(plan, conns, concurrency=2)
        except BaseException as exc:
            planned.abort()
            failures.append(exc)

    threads = [threading.Thread(target=one_apply, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    tasks = raw_list(sandbox, repo.platform)
    assert owned_keys(repo.platform, tasks, OWNER) == Counter({f"task-{i}": 2 for i in range(4)})
    first_made = {}  # key -> the id created first (the sandbox lists in creation order)
    for task in tasks:
        first_made.setdefault(marker_of(repo.platform, task), task["id"])

    applied = cli(repo, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "4 duplicate(s) deleted" in applied.stdout
    assert by_key(repo, sandbox) == {k.split("/")[1]: v for k, v in first_made.items() if k}
    clean = cli(repo, "plan", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_a_duplicate_whose_kept_copy_vanished_is_not_deleted_and_apply_fails(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("s", prompt_doc("alpha"))
    repo.apply()
    (kept,) = by_key(repo, sandbox).values()
    project = repo.project()
    with connect(project.config, project.root, ["t"], retry=FAST) as conns:
        payload = conns["t"].provider.desired(project.for_target("t")[0]).payload
        copy = raw_post(sandbox, repo.platform, payload)["id"]
        plan = make_plan(project, conns)
        assert [(c.action, c.remote_id) for c in plan.targets[0].changes] == [("duplicate", copy)]
        conns["t"].provider.delete(kept)  # someone removes the copy the plan keeps
        result = apply_plan(plan, conns)
    (outcome,) = result.results
    assert outcome.status == "failed" and "kept in its place is gone" in outcome.message
    assert not result.ok  # never exit 0 on this: the next apply plans again
    assert [t["id"] for t in raw_list(sandbox, repo.platform)] == [copy]
    assert not repo.plan().pending


def test_an_orphan_with_copies_keeps_one_without_prune_and_loses_all_with_it() -> None:
    me = "acme"
    listing = Listing([live("1", "Old", Marker(me, "old")), live("2", "Old", Marker(me, "old")),
                       live("3", "Old", Marker(me, "old"))], 1, "fp")  # fmt: skip
    kept = diff_target("t", "engine", [desired("a", "A")], listing, owner=me)
    assert [(c.action, c.remote_id, c.delete) for c in kept.changes] == [
        ("create", None, False),
        ("duplicate", "2", True),
        ("duplicate", "3", True),
    ]
    assert [c.remote_id for c in kept.orphans] == ["1"]
    pruned = diff_target("t", "engine", [desired("a", "A")], listing, owner=me, prune=True)
    assert [(c.action, c.remote_id) for c in pruned.changes] == [
        ("create", None),
        ("delete", "1"),
        ("delete", "2"),
        ("delete", "3"),
    ]
    assert not pruned.orphans


def test_the_oldest_copy_is_chosen_by_created_at_else_by_listing_order() -> None:
    def at(task_id: str, created: str | None) -> LiveTask:
        return LiveTask(task_id, "T", Marker("acme", "k"), {}, {}, created_at=created)

    newer, older = at("1", "2026-03-02T10:00:00.000Z"), at("2", "2026-03-01T23:00:00+02:00")
    assert oldest([newer, older]) is older
    assert oldest([at("1", "1700000300"), at("2", "1700000100")]).id == "2"  # epoch seconds
    assert oldest([at("1", "2026-03-02T10:00:00Z"), at("2", None)]).id == "1"  # one unknown
    assert oldest([at("1", "garbage"), at("2", "2026-01-01T00:00:00Z")]).id == "1"
    assert oldest([at("1", "2026-01-01T00:00:00Z"), at("2", "2026-01-01T00:00:00Z")]).id == "1"
    plan = diff_target(
        "t", "engine", [], Listing([newer, older], 1, "fp"), owner="acme", elsewhere={"k"}
    )
    (dup,) = plan.changes
    assert dup.remote_id == "1" and "(id 2) is kept" in dup.reason


# ---------------------------------------------------------------------------------------------


def live(task_id: str, title: str, marker: Marker | None) -> LiveTask:
    document = {"title": title, "schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
    return LiveTask(task_id, title, marker, document, normalize(document, {}))


def desired(key: str, title: str) -> DesiredTask:
    document = {"title": title, "schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
    return DesiredTask(key, title, {"body": key}, document, normalize(document, {}))
