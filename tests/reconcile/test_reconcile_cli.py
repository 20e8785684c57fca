"""The reconcile commands as a user runs them: real `python -m reconciler` processes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc, tasks_path, writes
from tests.reconcile.test_reconcile_import import aitroop_tasks, engine_tasks
from tests.reconcile.test_reconcile_sandbox import raw_post

TOKEN = "tok-Zq81-very-secret"


def no_traceback(proc: Any) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def invoke(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """In-process (click's runner) for the cheaper checks: same parsing, same exit codes."""
    from click.testing import CliRunner

    from reconciler.cli import cli

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NO_COLOR", "1")
    return CliRunner().invoke(cli, args)


def test_examples_apply_plan_edit_status_trigger_runs(
    examples_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = examples_copy.parent
    first = run_cli(["apply", "examples/", "--auto-approve"], cwd=cwd, input="")
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(
        r"Apply complete: 13 created, 0 updated, 0 deleted, 0 failed in \d+\.\d s",
        first.stdout.splitlines()[-1],
    )

    clean = run_cli(["plan", "examples/", "--detailed-exitcode"], cwd=cwd)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No changes: 13 schedule(s) in sync on 2 target(s)." in clean.stdout

    digest = examples_copy / "schedules" / "morning-digest.yaml"
    digest.write_text(digest.read_text().replace("Be terse.", "Be brief."))
    pending = run_cli(["plan", "examples/", "--detailed-exitcode", "--format", "json"], cwd=cwd)
    assert pending.returncode == 2, pending.stderr
    data = json.loads(pending.stdout)
    assert data["format_version"] == "3"
    local = next(t for t in data["targets"] if t["target"] == "local")
    assert local["summary"] == {
        "create": 0,
        "update": 1,
        "delete": 0,
        "conflict": 0,
        "duplicate": 0,
        "rename": 0,
        "blocked-delete": 0,
        "ignored-drift": 0,
        "orphan": 0,
    }
    (change,) = local["changes"]
    assert change["fields"] == [{"path": "action.prompt", "before": change["fields"][0]["before"],
                                 "after": change["fields"][0]["after"]}]  # fmt: skip
    assert change["fields"][0]["after"].endswith("Be brief.")

    status = invoke(["status", "--config", "examples/schedctl.yaml"], cwd, monkeypatch)
    assert status.exit_code == 0, status.output
    rows = [line.split() for line in status.stdout.splitlines()]
    assert rows[0][:3] == ["target", "key", "title"]
    assert any(
        "drifted" in line and "morning-digest" in line for line in status.stdout.splitlines()
    )
    assert status.stdout.count("in sync") == 12

    fired = invoke(
        ["trigger", "morning-digest", "--config", "examples/schedctl.yaml", "--target", "local"],
        cwd,
        monkeypatch,
    )
    assert fired.exit_code == 0, fired.output
    assert "triggered 'Morning digest'" in fired.stdout
    history = invoke(["runs", "morning-digest", "--config", "examples/schedctl.yaml", "--target", "local",
                      "--format", "json"], cwd, monkeypatch)  # fmt: skip
    assert history.exit_code == 0, history.output
    assert len(json.loads(history.stdout)) == 1

    unknown = run_cli(
        ["trigger", "nope", "--config", "examples/schedctl.yaml", "--target", "local"], cwd=cwd
    )
    assert unknown.returncode == 1 and "no task 'nope'" in unknown.stderr
    no_traceback(unknown)


def test_apply_without_a_terminal_or_with_invalid_files_writes_nothing(examples_copy: Path) -> None:
    cwd = examples_copy.parent
    refused = run_cli(["apply", "examples/"], cwd=cwd, input="")
    assert refused.returncode == 1 and "--auto-approve" in refused.stderr
    no_traceback(refused)

    (examples_copy / "schedules" / "broken.yaml").write_text(
        "name: Bad Name\nschedule: {cron: '0 9 * * *'}\n"
    )
    invalid = run_cli(["apply", "examples/", "--auto-approve"], cwd=cwd, input="")
    assert invalid.returncode == 1
    assert "broken.yaml:1:" in invalid.stderr
    no_traceback(invalid)
    # No sandbox was started, so no database: not one request went out.
    assert not (examples_copy / ".schedctl").exists()


@pytest.fixture
def secured(tmp_path: Path) -> Any:
    with running_sandbox(SandboxOptions(platform="engine", token=TOKEN, retry_after=0)) as sandbox:
        repo = Repo(tmp_path, sandbox.url, "engine")
        text = repo.config.read_text().replace(
            "instance: acme", "instance: acme\n    token_env: SCHEDCTL_T_TOKEN"
        )
        repo.config.write_text(text)
        repo.write("a", prompt_doc("alpha"))
        yield repo, sandbox


def test_a_missing_token_variable_is_named_and_nothing_is_sent(secured: Any) -> None:
    repo, sandbox = secured
    proc = run_cli(["plan"], cwd=repo.root, env={"SCHEDCTL_T_TOKEN": ""})
    assert proc.returncode == 1
    assert "SCHEDCTL_T_TOKEN" in proc.stderr and "not set" in proc.stderr
    no_traceback(proc)
    assert sandbox.request_log == []


def test_the_token_never_shows_even_verbose_and_a_wrong_one_is_a_clear_error(secured: Any) -> None:
    repo, sandbox = secured
    env = {"SCHEDCTL_T_TOKEN": TOKEN}
    applied = run_cli(["-vv", "apply", "--auto-approve"], cwd=repo.root, env=env, input="")
    assert applied.returncode == 0, applied.stderr
    assert f"GET {sandbox.url}{tasks_path('engine')} -> 200" in applied.stderr
    assert f"POST {sandbox.url}{tasks_path('engine')} -> 201" in applied.stderr
    assert TOKEN not in applied.stdout + applied.stderr
    wrong = run_cli(["-v", "plan"], cwd=repo.root, env={"SCHEDCTL_T_TOKEN": "not-" + TOKEN})
    assert wrong.returncode == 1 and "401" in wrong.stderr and f"GET {sandbox.url}" in wrong.stderr
    assert TOKEN not in wrong.stdout + wrong.stderr
    no_traceback(wrong)


def test_a_saved_plan_is_applied_and_a_stale_one_refused(tmp_path: Path) -> None:
    with running_sandbox(SandboxOptions(platform="aitroop", retry_after=0)) as sandbox:
        repo = Repo(tmp_path, sandbox.url, "aitroop")
        repo.write("a", prompt_doc("alpha"))
        saved = run_cli(["plan", "--out", "plan.json", "--detailed-exitcode"], cwd=repo.root)
        assert saved.returncode == 2, saved.stderr
        assert TOKEN not in (repo.root / "plan.json").read_text()
        mark = len(sandbox.request_log)
        applied = run_cli(["apply", "plan.json", "--auto-approve"], cwd=repo.root, input="")
        assert applied.returncode == 0, applied.stderr
        assert writes(sandbox.request_log[mark:]) == [("POST", tasks_path("aitroop"))]

        repo.write("b", prompt_doc("beta"))
        assert run_cli(["plan", "--out", "plan.json"], cwd=repo.root).returncode == 0
        raw_post(sandbox, "aitroop", {"name": "Meanwhile", "schedule_type": "daily", "schedule_config": {"time": "01:00"},
                                      "action_type": "send_message", "action_config": {"prompt": "x"}})  # fmt: skip
        mark = len(sandbox.request_log)
        stale = run_cli(["apply", "plan.json", "--auto-approve"], cwd=repo.root, input="")
        assert stale.returncode == 1 and "changed since the plan was made" in stale.stderr
        assert writes(sandbox.request_log[mark:]) == []
        no_traceback(stale)


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_import_adopt_then_plan_exits_zero(tmp_path: Path, platform: str) -> None:
    with running_sandbox(SandboxOptions(platform=platform)) as sandbox:  # type: ignore[arg-type]
        repo = Repo(tmp_path, sandbox.url, platform)
        for body in engine_tasks() if platform == "engine" else aitroop_tasks():
            raw_post(sandbox, platform, body)
        assert run_cli(["schema", "--out", "schemas"], cwd=repo.root).returncode == 0
        imported = run_cli(
            ["import", "--target", "t", "--out", "schedules/live", "--adopt"], cwd=repo.root
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.count("adopted") == len(
            engine_tasks() if platform == "engine" else aitroop_tasks()
        )
        files = sorted((repo.root / "schedules" / "live").glob("*.yaml"))
        prefix = "# yaml-language-server: $schema=../../schemas/schedule.schema.json\n"
        assert all(f.read_text().startswith(prefix) for f in files)
        assert all(yaml.safe_load(f.read_text())["targets"] == ["t"] for f in files)
        plan = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
        assert plan.returncode == 0, plan.stdout + plan.stderr


def test_plan_markdown_for_a_pull_request(examples_copy: Path) -> None:
    proc = run_cli(
        ["plan", "examples/", "--format", "markdown", "--target", "local"], cwd=examples_copy.parent
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("### schedctl plan")
    assert "| `local` | 8 |\n" in proc.stdout
    assert proc.stdout.count("<details>") == 8 and "Estimated runs per day" in proc.stdout
    assert "local-aitroop" not in proc.stdout
