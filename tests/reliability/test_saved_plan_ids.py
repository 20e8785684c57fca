"""A saved plan is data anyone can edit: every id it would write is re-checked (DESIGN §3).

`apply plan.json` refuses, before any write, a plan whose update, delete or duplicate names an
object that is not this owner's with that change's key, whose payload would write another
marker, or whose owner is not the config's. Real processes against the sandbox, both platforms.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import yaml

from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import OWNER, Repo, prompt_doc, writes
from tests.reconcile.test_reconcile_sandbox import raw_list, raw_post, raw_task
from tests.reliability.conftest import marker_of

Plan = dict[str, Any]


def cli(repo: Repo, *args: str) -> Any:
    proc = run_cli(list(args), cwd=repo.root, input="")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def marked(platform: str, title: str, marker: str) -> dict[str, Any]:
    if platform == "engine":
        return raw_task(platform, title, description=f"by hand\n\n[schedctl:{marker}]")
    return raw_task(platform, f"{title} [[{marker}]]")


def ids_by_marker(sandbox: RunningSandbox, platform: str) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    for task in raw_list(sandbox, platform):
        out.setdefault(marker_of(platform, task), []).append(task["id"])
    return out


def change(plan: Plan, action: str, key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in plan["targets"][0]["changes"] if c["action"] == action and c["key"] == key
    )
    return found


def remark(payload: dict[str, Any], old: str, new: str) -> None:
    for name in ("description", "name"):  # where each platform keeps the marker
        if isinstance(payload.get(name), str):
            payload[name] = payload[name].replace(old, new)


def test_a_saved_plan_pointing_at_what_is_not_ours_is_refused_and_writes_nothing(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    repo.write("s", prompt_doc("alpha"), prompt_doc("beta"), prompt_doc("gone"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    unmarked = raw_post(sandbox, platform, raw_task(platform, "Hand-made"))["id"]
    theirs = raw_post(sandbox, platform, marked(platform, "Theirs", "team-b/alpha"))["id"]
    ours = ids_by_marker(sandbox, platform)
    beta = ours[f"{OWNER}/beta"][0]
    project = repo.project()
    from reconciler.targets import connect

    with connect(project.config, project.root, ["t"]) as conns:
        beta_payload = conns["t"].provider.desired(project.for_target("t")[1]).payload
    raw_post(sandbox, platform, beta_payload)  # a second copy of beta: a duplicate

    repo.write("s", prompt_doc("alpha", "A new prompt."), prompt_doc("beta"))
    saved = cli(repo, "plan", "--prune", "--out", "plan.json")
    assert saved.returncode == 0, saved.stderr
    plan: Plan = json.loads((repo.root / "plan.json").read_text())
    assert sorted((c["action"], c["key"]) for c in plan["targets"][0]["changes"]) == [
        ("delete", "gone"),
        ("duplicate", "beta"),
        ("update", "alpha"),
    ]

    def update_id(to: str) -> Callable[[Plan], None]:
        return lambda p: change(p, "update", "alpha").update(remote_id=to)

    def delete_id(to: str) -> Callable[[Plan], None]:
        return lambda p: change(p, "delete", "gone").update(remote_id=to)

    def delete_every_copy(p: Plan) -> None:
        keep = copy.deepcopy(change(p, "duplicate", "beta"))
        p["targets"][0]["changes"].append({**keep, "remote_id": beta})

    tampers: dict[str, tuple[Callable[[Plan], None], str]] = {
        "update -> unmarked": (update_id(unmarked), "has no schedctl marker"),
        "update -> another owner": (update_id(theirs), "belongs to owner 'team-b'"),
        "update -> our other key": (update_id(beta), "has key 'beta'"),
        "update -> unknown id": (update_id("no-such-id"), "no live object has this id"),
        "delete -> another owner": (delete_id(theirs), "belongs to owner 'team-b'"),
        "delete -> unmarked": (delete_id(unmarked), "has no schedctl marker"),
        "duplicate -> every copy": (delete_every_copy, "deletes every copy"),
        "payload marker": (
            lambda p: remark(change(p, "update", "alpha")["payload"], OWNER, "team-b"),
            "would write the marker team-b/alpha",
        ),
        "plan owner": (lambda p: p.update(owner="team-b"), "made for owner 'team-b'"),
        "plan previous owners": (
            lambda p: p.update(previous_owners=["team-b"]),
            "previous_owners does not name",
        ),
    }
    before = json.dumps(raw_list(sandbox, platform), sort_keys=True)
    mark = len(sandbox.request_log)
    for name, (tamper, expected) in tampers.items():
        edited = copy.deepcopy(plan)
        tamper(edited)
        path = repo.root / "edited.json"
        path.write_text(json.dumps(edited))
        proc = cli(repo, "apply", "edited.json", "--auto-approve")
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        assert expected in proc.stderr, (name, proc.stderr)
        assert proc.stdout == "", name  # refused before the plan is even shown
    assert writes(sandbox.request_log[mark:]) == []
    assert json.dumps(raw_list(sandbox, platform), sort_keys=True) == before

    # The plan as written still applies.
    applied = cli(repo, "apply", "plan.json", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert cli(repo, "plan", "--prune", "--detailed-exitcode").returncode == 0


def test_a_saved_migration_plan_applies_and_is_refused_once_the_config_drops_the_old_owner(
    repo: Repo, sandbox: RunningSandbox, platform: str
) -> None:
    repo.write("s", prompt_doc("alpha"), prompt_doc("beta"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    ids = sorted(i for k, v in ids_by_marker(sandbox, platform).items() if k for i in v)
    config = yaml.safe_load(repo.config.read_text())
    migrating = {**config, "owner": "team-z", "previous_owners": [OWNER]}
    repo.config.write_text(yaml.safe_dump(migrating, sort_keys=False))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0

    # The config loses previous_owners after the plan was made: the plan is refused.
    repo.config.write_text(yaml.safe_dump({**config, "owner": "team-z"}, sort_keys=False))
    refused = cli(repo, "apply", "plan.json", "--auto-approve")
    assert refused.returncode == 1 and "previous_owners does not name" in refused.stderr

    repo.config.write_text(yaml.safe_dump(migrating, sort_keys=False))
    applied = cli(repo, "apply", "plan.json", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = ids_by_marker(sandbox, platform)
    assert sorted(after) == ["team-z/alpha", "team-z/beta"]
    assert sorted(i for v in after.values() for i in v) == ids  # same objects, re-marked
    assert cli(repo, "plan", "--detailed-exitcode").returncode == 0
