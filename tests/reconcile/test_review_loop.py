"""The loop from a reviewed plan to a merged apply, as a user runs it (real processes, the
sandbox as a real server): prune as a config setting, `apply plan.json` as the approval,
`show plan.json`, and the summary line an apply ends with."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.plan import Plan
from reconciler.render.plan import render_markdown
from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc, writes
from tests.reconcile.test_reconcile_sandbox import raw_list, raw_post
from tests.reliability.servers import Answer, Seen, serving

SUMMARY = re.compile(
    r"^Apply (complete|incomplete): (\d+) created, (\d+) updated, (\d+) deleted, (\d+) failed "
    r"in \d+\.\d s$"
)


def set_config(repo: Repo, **changes: Any) -> None:
    """Top-level config keys; `t_prune` sets the target's own `prune`."""
    config = yaml.safe_load(repo.config.read_text())
    if "t_prune" in changes:
        config["targets"]["t"]["prune"] = changes.pop("t_prune")
    config.update(changes)
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))


def cli(repo: Repo, *args: str) -> Any:
    return run_cli(list(args), cwd=repo.root, input="")


def summary(proc: Any) -> tuple[str, ...]:
    """(complete|incomplete, created, updated, deleted, failed) of the last line of an apply."""
    match = SUMMARY.match(proc.stdout.splitlines()[-1])
    assert match, proc.stdout + proc.stderr
    return match.groups()


def two_applied_then_one_removed(repo: Repo) -> None:
    repo.write("a", prompt_doc("alpha"))
    repo.write("b", prompt_doc("beta"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    repo.remove("b")


def live_count(repo: Repo, sandbox: RunningSandbox) -> int:
    return len(raw_list(sandbox, repo.platform))


# --- prune is a setting -----------------------------------------------------------------------


def test_prune_true_in_the_config_deletes_without_the_flag(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    two_applied_then_one_removed(repo)
    set_config(repo, prune=True)
    planned = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert planned["prune"] is True
    assert planned["targets"][0]["summary"]["delete"] == 1
    assert planned["targets"][0]["orphans"] == []

    applied = cli(repo, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert summary(applied) == ("complete", "0", "0", "1", "0")
    assert live_count(repo, sandbox) == 1


def test_no_prune_overrides_the_config_and_prune_overrides_false(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    two_applied_then_one_removed(repo)
    set_config(repo, prune=True)
    kept = json.loads(cli(repo, "plan", "--no-prune", "--format", "json").stdout)["targets"][0]
    assert kept["summary"]["delete"] == 0 and [o["key"] for o in kept["orphans"]] == ["beta"]
    mark = len(sandbox.request_log)
    assert cli(repo, "apply", "--auto-approve", "--no-prune").returncode == 0
    assert writes(sandbox.request_log[mark:]) == []
    assert live_count(repo, sandbox) == 2

    set_config(repo, prune=False)
    kept = json.loads(cli(repo, "plan", "--format", "json").stdout)["targets"][0]
    assert kept["summary"]["delete"] == 0 and [o["key"] for o in kept["orphans"]] == ["beta"]
    assert cli(repo, "apply", "--auto-approve", "--prune").returncode == 0
    assert live_count(repo, sandbox) == 1


@pytest.mark.parametrize(("config", "target", "deleted"), [(False, True, 1), (True, False, 0)])
def test_a_targets_own_prune_wins_over_the_configs(
    repo: Repo, sandbox: RunningSandbox, config: bool, target: bool, deleted: int
) -> None:
    two_applied_then_one_removed(repo)
    set_config(repo, prune=config, t_prune=target)
    assert cli(repo, "validate").returncode == 0
    applied = cli(repo, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert live_count(repo, sandbox) == 2 - deleted


def test_a_prune_setting_that_is_not_a_boolean_is_an_error_with_its_line(repo: Repo) -> None:
    repo.config.write_text(repo.config.read_text() + "prune: yes please\n")
    proc = cli(repo, "plan")
    assert proc.returncode == 1 and "schedctl.yaml:" in proc.stderr and "prune" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- apply plan.json is the approval ----------------------------------------------------------


def test_a_saved_plan_applies_without_a_terminal_or_auto_approve(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("a", prompt_doc("alpha"))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0
    # Without a terminal and without --auto-approve, the repository itself is not applied ...
    refused = cli(repo, "apply")
    assert refused.returncode == 1 and "--auto-approve" in refused.stderr
    assert writes(sandbox.request_log) == []
    # ... but the reviewed plan is: it is the approval.
    applied = cli(repo, "apply", "plan.json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply these changes?" not in applied.stdout
    assert len(writes(sandbox.request_log)) == 1
    assert summary(applied) == ("complete", "1", "0", "0", "0")


def test_a_saved_plan_the_platform_moved_past_is_still_refused(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("a", prompt_doc("alpha"))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0
    raw_post(sandbox, repo.platform, _hand_made(repo.platform))
    mark = len(sandbox.request_log)
    stale = cli(repo, "apply", "plan.json")
    assert stale.returncode == 1 and "changed since the plan was made" in stale.stderr
    assert writes(sandbox.request_log[mark:]) == []


def test_prune_flags_do_not_go_with_a_saved_plan(repo: Repo, sandbox: RunningSandbox) -> None:
    repo.write("a", prompt_doc("alpha"))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0
    proc = cli(repo, "apply", "plan.json", "--prune")
    assert proc.returncode == 1 and "as it was reviewed" in proc.stderr
    assert writes(sandbox.request_log) == []


def _hand_made(platform: str) -> dict[str, Any]:
    from tests.reconcile.test_reconcile_sandbox import raw_task

    return raw_task(platform, "Made by hand")


# --- show -------------------------------------------------------------------------------------


def test_show_renders_a_saved_plan_in_every_format(repo: Repo, sandbox: RunningSandbox) -> None:
    repo.write("a", prompt_doc("alpha"))
    repo.write("b", prompt_doc("beta", every="2h"))
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    repo.write("a", prompt_doc("alpha", prompt="Say it differently."))
    repo.remove("b")
    repo.write("c", prompt_doc("gamma"))
    saved = cli(repo, "plan", "--prune", "--out", "plan.json", "--format", "json")
    assert saved.returncode == 0, saved.stderr
    live_text = cli(repo, "plan", "--prune").stdout
    mark = len(sandbox.request_log)

    as_json = cli(repo, "show", "plan.json", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == json.loads((repo.root / "plan.json").read_text())

    as_text = cli(repo, "show", "plan.json")
    assert as_text.returncode == 0, as_text.stderr
    assert as_text.stdout == live_text
    for line in ("+ gamma", "~ alpha", "- beta"):
        assert line in as_text.stdout

    as_markdown = cli(repo, "show", "plan.json", "--format", "markdown")
    assert as_markdown.returncode == 0, as_markdown.stderr
    # The pull-request comment of the saved plan, its fire times counted from when it was made.
    saved_plan = Plan.from_dict(json.loads((repo.root / "plan.json").read_text()))
    made = datetime.fromisoformat(saved_plan.created_at)
    assert as_markdown.stdout == render_markdown(saved_plan, made) + "\n"
    assert all(key in as_markdown.stdout for key in ("alpha", "beta", "gamma"))
    assert sandbox.request_log[mark:] == []  # a saved plan is shown without asking the platform


def test_show_needs_no_config_and_refuses_what_is_not_a_plan(
    repo: Repo, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    repo.write("a", prompt_doc("alpha"))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = run_cli(["show", str(repo.root / "plan.json"), "--target", "t"], cwd=elsewhere)
    assert shown.returncode == 0 and "+ alpha" in shown.stdout, shown.stderr

    (elsewhere / "notes.json").write_text('{"hello": 1}')
    (elsewhere / "broken.json").write_text("{")
    for name, words in (("notes.json", "not a schedctl plan"), ("broken.json", "not a saved plan")):
        proc = run_cli(["show", name], cwd=elsewhere)
        assert proc.returncode == 1 and name in proc.stderr and words in proc.stderr
        assert "Traceback" not in proc.stderr
    missing = run_cli(["show", "plan.json", "--target", "nope"], cwd=repo.root)
    assert missing.returncode == 1 and "no target 'nope'" in missing.stderr


# --- the summary line -------------------------------------------------------------------------


def test_apply_ends_with_counts_by_kind_and_the_time_taken(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    for name in ("alpha", "beta", "gamma"):
        repo.write(name, prompt_doc(name))
    first = cli(repo, "apply", "--auto-approve")
    assert summary(first) == ("complete", "3", "0", "0", "0")
    repo.write("alpha", prompt_doc("alpha", prompt="Changed."))
    repo.remove("beta")
    repo.write("delta", prompt_doc("delta"))
    second = cli(repo, "apply", "--auto-approve", "--prune")
    assert second.returncode == 0, second.stdout + second.stderr
    assert summary(second) == ("complete", "1", "1", "1", "0")


def test_a_failed_change_is_counted_in_the_summary(tmp_path: Path) -> None:
    def respond(seen: Seen) -> Answer:
        if seen.method == "GET":
            return Answer(200, b"[]")
        return Answer(400, json.dumps({"message": "the platform says no"}).encode())

    with serving(respond) as server:
        repo = Repo(tmp_path, server.url, "aitroop")
        repo.write("a", prompt_doc("alpha"))
        repo.write("b", prompt_doc("beta"))
        proc = cli(repo, "apply", "--auto-approve")
    assert proc.returncode == 1
    assert "the platform says no" in proc.stdout
    assert summary(proc) == ("incomplete", "0", "0", "0", "2")
