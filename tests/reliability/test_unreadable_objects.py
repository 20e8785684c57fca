"""Malformed live objects are read tolerantly (DESIGN §2, §3): each is shown as unreadable, with
its id and why, and never written; the rest of the target goes on. For both platforms, through
`plan`, `apply`, `status`, `import`, `trigger` as real processes.

The sandbox validates what it stores, so it cannot hold these objects: a proxy in front of it
adds them to every listing, and records every request, so "never written" is checked at the
wire while the healthy tasks are really created in the sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import OWNER, Repo, prompt_doc, tasks_path
from tests.reliability.conftest import live
from tests.reliability.servers import Answer, Seen, Server, forwarding

Task = dict[str, Any]


def engine_bad() -> list[tuple[Task, str]]:
    """(object, what the reason says) for engine; all but the last two carry no marker of ours."""
    cron = {"type": "cron", "expression": "0 9 * * *"}
    base: Task = {"name": "Bad", "description": "", "prompt": "p", "schedule": cron}
    cases: list[tuple[Task, str]] = [
        ({"schedule": {"type": "interval", "everyMs": "zz"}}, '`schedule.everyMs` is "zz"'),
        ({"schedule": {"type": "one-shot", "runAt": "garbage"}}, '`schedule.runAt` is "garbage"'),
        ({"schedule": [1, 2]}, "`schedule` is [1, 2], not an object"),
        ({"schedule": "0 9 * * *"}, '`schedule` is "0 9 * * *", not an object'),
        ({"schedule": {"type": "lunar"}}, '`schedule.type` is "lunar", none of cron'),
        ({"schedule": {"type": "cron", "expression": 5}}, "`schedule.expression` is 5, not text"),
        ({"name": {"x": 1}}, '`name` is {"x": 1}, not text'),
        ({"description": ["x"]}, '`description` is ["x"], not text'),
        ({"enabled": "yes"}, '`enabled` is "yes", not true or false'),
        ({"id": {"x": 1}}, '`id` is {"x": 1}, not text or a whole number'),
        # another owner's, then ours: one for a desired key, one the repository no longer has
        ({"description": "[schedctl:team-b/alpha]", "enabled": 1}, "`enabled` is 1"),
        ({"description": f"[schedctl:{OWNER}/alpha]", "schedule": {"type": "interval", "everyMs": -5}},
         "`schedule.everyMs` is -5"),
        ({"description": f"[schedctl:{OWNER}/old-one]", "schedule": {"type": "one-shot", "runAt": 7}},
         "`schedule.runAt` is 7"),
    ]  # fmt: skip
    return [({**base, "id": f"bad-{n}", **patch}, why) for n, (patch, why) in enumerate(cases)]


def aitroop_bad() -> list[tuple[Task, str]]:
    base: Task = {
        "name": "Bad",
        "schedule_type": "daily",
        "schedule_config": {"time": "09:00"},
        "action_type": "send_message",
        "action_config": {"prompt": "p"},
    }
    weekly = {"schedule_type": "weekly"}
    cases: list[tuple[Task, str]] = [
        ({"schedule_type": "interval", "schedule_config": {"every": "x", "unit": "minutes"}},
         '`schedule_config.every` is "x"'),
        ({**weekly, "schedule_config": {"time": "09:00", "days": ["mon"]}}, '`schedule_config.days` is ["mon"]'),
        ({"schedule_config": [1]}, "`schedule_config` is [1], not an object"),
        ({"action_config": "x"}, '`action_config` is "x", not an object'),
        ({"action_type": "run_app", "action_config": {"app_id": "a", "app_input": [1]}},
         "`action_config.app_input` is [1], not an object"),
        ({"schedule_config": {"time": "25:99"}}, '`schedule_config.time` is "25:99", not a time HH:MM'),
        ({"schedule_type": "hourly"}, '`schedule_type` is "hourly", none of interval'),
        ({"name": {"x": 1}}, '`name` is {"x": 1}, not text'),
        ({"enabled": "yes"}, '`enabled` is "yes", not true or false'),
        ({"id": {"x": 1}}, '`id` is {"x": 1}, not text or a whole number'),
        ({"name": "Theirs [[team-b/alpha]]", "enabled": 1}, "`enabled` is 1"),
        ({"name": f"Alpha [[{OWNER}/alpha]]", **weekly, "schedule_config": {"time": "09:00", "days": [9]}},
         "`schedule_config.days` is [9]"),
        ({"name": f"Old one [[{OWNER}/old-one]]", "timezone": ["UTC"]}, '`timezone` is ["UTC"], not text'),
    ]  # fmt: skip
    return [({**base, "id": f"bad-{n}", **patch}, why) for n, (patch, why) in enumerate(cases)]


def bad_objects(platform: str) -> list[tuple[Task, str]]:
    return engine_bad() if platform == "engine" else aitroop_bad()


def shown_id(task: Task) -> str:
    return task["id"] if isinstance(task["id"], str) else json.dumps(task["id"])


@pytest.fixture
def injecting(sandbox: RunningSandbox, platform: str) -> Iterator[Server]:
    """A proxy to the sandbox that adds the malformed objects to every listing of the tasks."""
    extra = [task for task, _ in bad_objects(platform)]
    path = tasks_path(platform)

    def fail(seen: Seen) -> Answer | None:
        if seen.method != "GET" or urlsplit(seen.path).path != path:
            return None
        body = httpx.get(sandbox.url + seen.path, timeout=30).json()
        if isinstance(body, list):
            return Answer(200, json.dumps(body + extra).encode())
        return Answer(200, json.dumps({**body, "items": body["items"] + extra}).encode())

    with forwarding(sandbox.url, fail) as proxy:
        yield proxy


def writes_to(proxy: Server) -> list[tuple[str, str]]:
    return [(s.method, s.path) for s in proxy.seen if s.method != "GET"]


def test_unreadable_objects_are_shown_never_written_and_the_rest_goes_on(
    tmp_path: Path, sandbox: RunningSandbox, platform: str, injecting: Server
) -> None:
    repo = Repo(tmp_path, injecting.url, platform)
    repo.write("a", prompt_doc("gamma"))
    first = run_cli(["apply", "--auto-approve"], cwd=repo.root, input="")
    assert first.returncode == 0, first.stdout + first.stderr  # only ours can block: none yet
    assert "Apply complete: 1 created" in first.stdout
    repo.write("a", prompt_doc("alpha"), prompt_doc("beta"), prompt_doc("gamma"))
    mark = len(injecting.seen)

    plan = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    applied = run_cli(["apply", "--auto-approve", "--prune"], cwd=repo.root, input="")
    status = run_cli(["status"], cwd=repo.root)
    imported = run_cli(["import", "--target", "t", "--out", "imported"], cwd=repo.root)
    for proc, code in ((plan, 2), (applied, 1), (status, 0), (imported, 0)):
        out = proc.stdout + proc.stderr
        assert proc.returncode == code, (proc.args, out)
        assert "Traceback" not in out
    for task, why in bad_objects(platform):
        for proc in (plan, applied, status):
            named = re.compile(f"unreadable live object id {re.escape(shown_id(task))}[ :]")
            line = next((x for x in proc.stdout.splitlines() if named.search(x)), "")
            assert why in line, (proc.args[-3:], shown_id(task), proc.stdout)
        theirs = "team-b" in str(task.get("description", task["name"]))
        assert ("owned by 'team-b'" if theirs else why) in imported.stdout, imported.stdout

    # plan: the healthy tasks are planned; the key an unreadable object of ours carries is a
    # conflict; the unreadable orphan is not deleted, even with --prune.
    assert "+ beta" in plan.stdout and "1 to create, 0 to update, 0 to delete" in plan.stdout
    assert "1 conflict(s)" in plan.stdout and "1 in sync" in plan.stdout
    blocked = next(x for x in plan.stdout.splitlines() if x.startswith("  ! alpha"))
    assert "(id bad-11)" in blocked
    assert "carries this schedule's marker but is unreadable" in plan.stdout
    assert "nothing is updated or created for this key" in plan.stdout
    # apply: beta created (really, in the sandbox), nothing else written; exit 1 for the conflict
    assert (
        "+ t/beta create: ok" in applied.stdout and "! t/alpha conflict: skipped" in applied.stdout
    )
    assert [s.method for s in injecting.seen[mark:] if s.method != "GET"] == ["POST"]
    assert not [s for s in injecting.seen if s.method != "GET" and "/bad-" in s.path]
    keys = sorted(t.get("description", t.get("name")) for t in live(sandbox, platform))
    assert len(keys) == 2 and all("/alpha" not in k for k in keys)
    # status: a row per object; the unreadable ones say so, ours named by key
    rows = [x.split() for x in status.stdout.splitlines()]
    assert sum(1 for r in rows if r and r[-1] == "unreadable") == len(bad_objects(platform))
    assert not [r for r in rows if r and r[-1] == "missing"]  # alpha is there, if unreadable
    # import: each skipped with its reason; nothing written for them, nothing adopted
    assert imported.stdout.count("skipped") >= len(bad_objects(platform))
    assert not (repo.root / "imported").exists() or all(
        "Bad" not in p.read_text() for p in (repo.root / "imported").iterdir()
    )
    assert len(writes_to(injecting)) == 2  # the first apply's create and beta's: no more


def test_trigger_refuses_an_unreadable_object_and_sends_nothing(
    tmp_path: Path, sandbox: RunningSandbox, platform: str, injecting: Server
) -> None:
    repo = Repo(tmp_path, injecting.url, platform)
    proc = run_cli(["trigger", "bad-0", "--target", "t"], cwd=repo.root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "'bad-0' is live object id bad-0, which schedctl cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr and not writes_to(injecting)
