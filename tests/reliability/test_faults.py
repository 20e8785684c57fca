"""Reliability against a faulty platform, for both platforms (DESIGN §3, §4, §6).

- 450 changes under 20 % transient faults and 10 % ambiguous creates converge within two
  applies: nothing duplicated, nothing lost, and 200 objects that are not ours untouched.
- A listing that fails midway stops its target: no write there, no delete anywhere.
- A saved plan made before another apply changed the target is refused.
- Two applies racing on one target: a third converges to exactly the desired set.

Builds on tests/reconcile (its Repo helper and sandbox fixtures). Already covered there, and
not repeated here: a listing failing on page 2 against a mock engine (test_reconcile_units),
the aitroop stale plan after a hand-made object (test_reconcile_cli), 20 unowned objects without
faults (test_reconcile_sandbox).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.plan import KINDS
from reconciler.reconcile import ApplyResult, apply_plan, make_plan
from reconciler.sandbox import RunningSandbox
from reconciler.targets import connect
from tests.conftest import run_cli
from tests.reconcile.conftest import FAST, OWNER, Repo, prompt_doc, tasks_path
from tests.reconcile.test_reconcile_sandbox import FORMS, raw_task
from tests.reliability.conftest import (
    listing,
    live,
    owned_keys,
    touched_ids,
    write_paths,
)
from tests.reliability.servers import Answer, Seen, forwarding


def docs(start: int, stop: int, prompt: str | None = None) -> list[dict[str, Any]]:
    return [
        prompt_doc(f"task-{i:03d}", prompt, **FORMS[i % len(FORMS)]) for i in range(start, stop)
    ]


def clash_docs(count: int) -> list[dict[str, Any]]:
    return [prompt_doc(f"clash-{i:03d}") for i in range(count)]


def summary(**counts: int) -> dict[str, int]:
    """A plan summary: these counts, zero for the other actions."""
    return {**dict.fromkeys(KINDS, 0), **counts}


def converged(result: ApplyResult) -> bool:
    """Nothing failed; conflicts (an unmarked object holds the title) are left as they are."""
    return not result.failed and not result.errors


# ---------------------------------------------------------------------------------------------
# 450 changes, faults, 200 unowned objects


CLASHES = 40
THEIRS = range(150, 180)  # keys another owner holds: conflicts, never a second copy


def unowned_objects(platform: str) -> list[tuple[str, dict[str, Any]]]:
    """200 objects schedctl must never write: (collection path, body)."""
    here = tasks_path(platform)
    out: list[tuple[str, dict[str, Any]]] = []

    def marked(title: str, text: str) -> dict[str, Any]:
        # `text` in the field that carries markers: the description (engine), the name (aitroop)
        if platform == "engine":
            return raw_task(platform, title, description=text)
        return raw_task(platform, text)

    # 40 unmarked, with the title of a desired schedule: conflicts, never duplicated
    out += [(here, raw_task(platform, f"Clash {i:03d}")) for i in range(CLASHES)]
    # 40 marked by another owner, on keys and titles we would create (30: conflicts) or update
    for i in [*THEIRS, *range(0, 10)]:
        title, key = f"Task {i:03d}", f"task-{i:03d}"
        theirs = f"[schedctl:team-b/{key}]" if platform == "engine" else f"{title} [[team-b/{key}]]"
        out.append((here, marked(title, theirs)))
    # 20 that name our owner and a key, but not as a marker (keys we update or prune)
    for n, i in enumerate([*range(0, 10), *range(100, 110)]):
        key = f"task-{i:03d}"
        if platform == "engine":
            text = [f"copied from [schedctl:{OWNER}/{key}] by hand", f"[schedctl:TEAM-A/{key}]",
                    f"[schedctl:{OWNER}/{key}", f"[schedctl: {OWNER}/{key}]"][n % 4]  # fmt: skip
        else:
            text = [f"[[{OWNER}/{key}]] Near miss {n}", f"Near miss {n} [[{OWNER}/{key}]] (copy)",
                    f"Near miss {n} [[TEAM-A/{key}]]", f"Near miss {n} [[{OWNER}/{key}]"][n % 4]  # fmt: skip
        out.append((here, marked(f"Near miss {n}", text)))
    # 20 unmarked with the titles of schedules the repository drops (prune deletes ours only)
    out += [(here, raw_task(platform, f"Task {i:03d}")) for i in range(110, 130)]
    # 80 unrelated; on engine, 20 of them in another instance and carrying our exact marker
    for i in range(80):
        if platform == "engine" and i < 20:
            path = "/api/instances/beta/scheduled-tasks"
            body = raw_task(
                platform, f"Task {i:03d}", description=f"[schedctl:{OWNER}/task-{i:03d}]"
            )
            out.append((path, body))
        else:
            body = raw_task(platform, f"Hand-made {i:03d}")
            if i % 3 == 0:
                body["enabled"] = False
            out.append((here, body))
    assert len(out) == 200
    return out


def snapshot(sandbox: RunningSandbox, platform: str, ids: set[str]) -> dict[str, str]:
    """The exact JSON of each object in `ids` (fields and their order), from raw listings."""
    paths = {tasks_path(platform)} | (
        {"/api/instances/beta/scheduled-tasks"} if platform == "engine" else set()
    )
    tasks = [t for path in sorted(paths) for t in listing(sandbox, path)]
    return {str(t["id"]): json.dumps(t) for t in tasks if str(t["id"]) in ids}


@pytest.mark.slow
def test_450_changes_under_faults_converge_and_200_unowned_objects_are_untouched(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    # Ours at start: 150 tasks (100 to update, 50 to prune), applied without faults.
    repo.write("old", *docs(0, 150))
    _, first = repo.apply()
    assert converged(first) and first.counts() == {"create:done": 150}
    # Then 200 objects that are not ours, before any change is planned.
    unowned = {
        str(raw_post_to(sandbox, path, body)["id"]) for path, body in unowned_objects(platform)
    }
    before = snapshot(sandbox, platform, unowned)
    assert len(before) == 200

    # Desired: the 100 updated, the 50 gone, 300 new, and 40 whose titles unmarked objects hold.
    repo.write("old", *docs(0, 100, "updated prompt"))
    repo.write("new", *docs(150, 450))
    repo.write("clash", *clash_docs(CLASHES))
    sandbox.set_faults(fail_rate=0.2, ambiguous_rate=0.1, retry_after=0)
    mark = len(sandbox.request_log)
    results = []
    for _ in range(2):
        plan, result = repo.apply(prune=True, concurrency=16)
        results.append(result)
        if len(results) == 1:
            assert plan.summary == summary(
                create=300 - len(THEIRS), update=100, delete=50, conflict=CLASHES + len(THEIRS)
            )
        if converged(result):
            break
    sandbox.set_faults(fail_rate=0.0, ambiguous_rate=0.0)
    assert converged(results[-1]), [r.message for r in results[-1].failed] + results[-1].errors
    log = sandbox.request_log[mark:]
    # The faults did happen: creates were settled by re-listing, requests were repeated.
    assert sum(r.status == "adopted" for r in results[0].results) > 0
    assert len(log) > 450 * 1.1

    # Converged: only the conflicts are left, and they stay until someone takes them over.
    final = repo.plan(prune=True)
    assert final.summary == summary(conflict=CLASHES + len(THEIRS))
    assert final.targets[0].in_sync == 400 - len(THEIRS)
    # Nothing lost, nothing duplicated: each desired key exactly once, no conflicted key created.
    keys = owned_keys(platform, live(sandbox, platform), OWNER)
    assert keys == Counter(f"task-{i:03d}" for i in [*range(100), *range(180, 450)])
    # The 200 objects that are not ours: byte for byte as they were, and never written to.
    assert snapshot(sandbox, platform, unowned) == before
    assert not touched_ids(log) & unowned
    assert not [p for p in write_paths(log) if "/instances/beta/" in p]


def raw_post_to(sandbox: RunningSandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(sandbox.url + path, json=body, timeout=30)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# ---------------------------------------------------------------------------------------------
# A listing that fails midway


def two_target_repo(root: Path, urls: dict[str, str]) -> None:
    """Targets `engine` and `aitroop`; every schedule goes to both."""
    targets: dict[str, Any] = {
        "engine": {"platform": "engine", "url": urls["engine"], "instance": "acme"},
        "aitroop": {"platform": "aitroop", "url": urls["aitroop"]},
    }
    config = {
        "owner": OWNER,
        "schedules": ["schedules/**/*.yaml"],
        "defaults": {"timezone": "Europe/Rome", "targets": list(targets)},
        "targets": targets,
    }
    (root / "schedules").mkdir(parents=True, exist_ok=True)
    (root / "schedctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def write_docs(root: Path, name: str, items: list[dict[str, Any]]) -> None:
    (root / "schedules" / f"{name}.yaml").write_text(yaml.safe_dump_all(items, sort_keys=False))


PLATFORMS = ("engine", "aitroop")  # the built-in ones, both served by the sandbox


@pytest.mark.parametrize("broken", PLATFORMS)
def test_a_listing_failing_midway_stops_that_target_with_no_write_and_no_delete_anywhere(
    tmp_path: Path, sandbox_factory: Any, broken: str
) -> None:
    sandboxes: dict[str, RunningSandbox] = {p: sandbox_factory(p, page_size=4) for p in PLATFORMS}
    failing = threading.Event()

    def page_two_onwards(seen: Seen) -> Answer | None:
        # The first page is served; every later one (a cursor) is refused, retries included.
        if failing.is_set() and seen.method == "GET" and "cursor=" in seen.path:
            return Answer(503, b'{"error": "upstream timeout"}', {"Retry-After": "0"})
        return None

    with forwarding(sandboxes[broken].url, page_two_onwards) as proxy:
        urls = {p: str(proxy.url if p == broken else s.url) for p, s in sandboxes.items()}
        two_target_repo(tmp_path, urls)
        write_docs(tmp_path, "a", docs(0, 10))
        first = run_cli(["apply", "--auto-approve"], cwd=tmp_path, input="")
        assert first.returncode == 0, first.stdout + first.stderr

        # 2 updates, 3 creates, 2 deletes on each target; then page 2 of `broken` fails.
        write_docs(tmp_path, "a", docs(0, 2, "changed") + docs(2, 8) + docs(10, 13))
        marks = {p: len(s.request_log) for p, s in sandboxes.items()}
        failing.set()
        proc = run_cli(["apply", "--prune", "--auto-approve"], cwd=tmp_path, input="")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        out = proc.stdout + proc.stderr
        assert f"target {broken!r}" in out and "listing failed after 1 page(s)" in out, out
        assert "503" in out and "Traceback" not in out

        log = {p: s.request_log[marks[p] :] for p, s in sandboxes.items()}
        assert write_paths(log[broken]) == []  # the partial view was never acted on
        assert [m for m, _ in log[broken]] == ["GET"]  # page 1; page 2 never got through
        healthy = next(p for p in PLATFORMS if p != broken)
        methods = Counter(m for m, _ in log[healthy] if m != "GET")
        update = "PATCH" if healthy == "engine" else "PUT"
        assert methods == {"POST": 3, update: 2}  # its writes went ahead, its deletes did not

        failing.clear()
        pending = run_cli(["plan", "--prune", "--format", "json"], cwd=tmp_path)
        assert pending.returncode == 0, pending.stderr
        left = {t["target"]: t["summary"] for t in json.loads(pending.stdout)["targets"]}
        assert left[broken] == summary(create=3, update=2, delete=2)
        assert left[healthy] == summary(delete=2)


# ---------------------------------------------------------------------------------------------
# Stale saved plans


def test_a_plan_saved_before_another_apply_is_refused_and_writes_nothing(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    repo.write("a", *docs(0, 3))
    assert run_cli(["apply", "--auto-approve"], cwd=repo.root, input="").returncode == 0

    # A pull request's plan: one update, one create. Then main moves on and is applied first.
    repo.write("a", *docs(0, 1, "from the pull request"), *docs(1, 4))
    saved = run_cli(["plan", "--out", "pr.json"], cwd=repo.root)
    assert saved.returncode == 0, saved.stderr
    repo.write("a", *docs(0, 3), *docs(4, 5))
    other = run_cli(["apply", "--auto-approve"], cwd=repo.root, input="")
    assert other.returncode == 0 and "1 created" in other.stdout, other.stdout + other.stderr

    mark = len(sandbox.request_log)
    stale = run_cli(["apply", "pr.json", "--auto-approve"], cwd=repo.root, input="")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "changed since the plan was made" in stale.stderr and "Traceback" not in stale.stderr
    assert write_paths(sandbox.request_log[mark:]) == []
    assert owned_keys(platform, live(sandbox, platform), OWNER) == Counter(
        ["task-000", "task-001", "task-002", "task-004"]
    )


def test_a_saved_plan_already_carried_out_is_refused_rather_than_creating_twice(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    repo.write("a", *docs(0, 4))
    saved = run_cli(["plan", "--out", "plan.json"], cwd=repo.root)
    assert saved.returncode == 0, saved.stderr
    applied = run_cli(["apply", "plan.json", "--auto-approve"], cwd=repo.root, input="")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    mark = len(sandbox.request_log)
    again = run_cli(["apply", "plan.json", "--auto-approve"], cwd=repo.root, input="")
    assert again.returncode == 1 and "changed since the plan was made" in again.stderr
    assert write_paths(sandbox.request_log[mark:]) == []
    assert owned_keys(platform, live(sandbox, platform), OWNER) == Counter(
        f"task-{i:03d}" for i in range(4)
    )


def test_a_task_firing_between_plan_and_apply_does_not_make_the_plan_stale(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    repo.write("a", *docs(0, 2))
    assert run_cli(["apply", "--auto-approve"], cwd=repo.root, input="").returncode == 0
    repo.write("a", *docs(0, 1, "edited"), *docs(1, 2))
    assert run_cli(["plan", "--out", "plan.json"], cwd=repo.root).returncode == 0
    for task in live(sandbox, platform):  # server-computed fields move: runs, last status
        run_now = f"{sandbox.url}{tasks_path(platform)}/{task['id']}/run"
        assert httpx.post(run_now, timeout=30).status_code < 300
    applied = run_cli(["apply", "plan.json", "--auto-approve"], cwd=repo.root, input="")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 updated" in applied.stdout


# ---------------------------------------------------------------------------------------------
# Racing applies


def desired_state(repo: Repo) -> Counter[str]:
    return Counter(f"task-{i:03d}" for i in [*range(0, 10), *range(20, 50)])


def race_setup(repo: Repo) -> None:
    """20 ours at start; desired: 10 of them updated, 10 pruned, 30 new."""
    repo.write("a", *docs(0, 20))
    _, first = repo.apply()
    assert first.ok
    repo.write("a", *docs(0, 10, "raced"), *docs(20, 50))


def check_third_apply_converges(repo: Repo, sandbox: RunningSandbox, platform: str) -> None:
    third = run_cli(["apply", "--prune", "--auto-approve"], cwd=repo.root, input="")
    assert third.returncode == 0, third.stdout + third.stderr
    final = run_cli(["plan", "--prune", "--detailed-exitcode"], cwd=repo.root)
    assert final.returncode == 0, final.stdout + final.stderr
    assert owned_keys(platform, live(sandbox, platform), OWNER) == desired_state(repo)


def test_two_applies_planned_on_the_same_view_race_then_a_third_converges(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    race_setup(repo)
    sandbox.set_faults(latency_ms=20)  # slow enough for the two applies' writes to interleave
    both_planned = threading.Barrier(2, timeout=120)
    results: list[ApplyResult] = []
    errors: list[BaseException] = []
    projects = [repo.project(), repo.project()]

    def one_apply(index: int) -> None:
        try:
            project = projects[index]
            with connect(project.config, project.root, ["t"], retry=FAST) as conns:
                plan = make_plan(project, conns, prune=True)
                both_planned.wait()  # the worst case: both decided on the same listing
                results.append(apply_plan(plan, conns, concurrency=4))
        except BaseException as exc:
            both_planned.abort()
            errors.append(exc)

    threads = [threading.Thread(target=one_apply, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(results) == 2 and all(r.ok for r in results), [r.counts() for r in results]
    sandbox.set_faults(latency_ms=0)

    # No lock on the platform: both created every new key. The marker makes the second copy a
    # visible duplicate (never a silent one) that the next `apply --prune` removes.
    keys = owned_keys(platform, live(sandbox, platform), OWNER)
    assert keys == desired_state(repo) + Counter(f"task-{i:03d}" for i in range(20, 50))
    check_third_apply_converges(repo, sandbox, platform)


@pytest.mark.slow
def test_two_apply_processes_started_together_then_a_third_converges(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    race_setup(repo)
    # Two real `schedctl apply` processes. Their first listings wait for each other at a proxy
    # (no sleeps), so both plan on the same view; latency makes their writes interleave.
    both_listed = threading.Barrier(2, timeout=120)
    waiting = [2]
    lock = threading.Lock()

    def first_listings_meet(seen: Seen) -> Answer | None:
        if seen.method == "GET":
            with lock:
                mine = waiting[0] > 0
                waiting[0] -= 1
            if mine:
                both_listed.wait()
        return None

    sandbox.set_faults(latency_ms=50)
    with forwarding(sandbox.url, first_listings_meet) as proxy:
        repo.config.write_text(repo.config.read_text().replace(sandbox.url, proxy.url))
        args = ["apply", "--prune", "--auto-approve", "--concurrency", "2"]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "reconciler", *args],
                cwd=repo.root,
                env={**os.environ, "NO_COLOR": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=240) for p in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out + err
            assert "Apply complete: 30 created, 10 updated" in out, out + err
        sandbox.set_faults(latency_ms=0)
        keys = owned_keys(platform, live(sandbox, platform), OWNER)
        assert keys == desired_state(repo) + Counter(f"task-{i:03d}" for i in range(20, 50))
        check_third_apply_converges(repo, sandbox, platform)
