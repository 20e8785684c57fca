"""The foundation: model, loader, resolution, `validate` and `schema` as a user runs them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reconciler.loader import load_project
from reconciler.model import Config, Schedule
from reconciler.schemas import build_schemas, render
from reconciler.validate import validate_project
from tests.conftest import EXAMPLES, ROOT, run_cli


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


CONFIG = """
owner: acme
defaults: {timezone: Europe/Rome, targets: [prod]}
targets:
  prod: {platform: engine, url: "https://engine.example.com", instance: acme, token_env: ENGINE_TOKEN}
  reports: {platform: aitroop, url: "https://app.aitroop.example", token_env: AT_USER_TOKEN}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "schedctl.yaml", CONFIG)
    return tmp_path


def test_committed_schemas_match_the_models() -> None:
    for name, schema in build_schemas().items():
        committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert committed == render(schema), f"schemas/{name} is stale: run `schedctl schema`"


def test_schema_command_check_mode_reports_drift(tmp_path: Path) -> None:
    result = run_cli(["schema", "--out", str(tmp_path), "--check"])
    assert result.returncode == 1
    assert "differs" in result.stdout
    assert run_cli(["schema", "--out", str(tmp_path)]).returncode == 0
    assert run_cli(["schema", "--out", str(tmp_path), "--check"]).returncode == 0
    schema = json.loads((tmp_path / "schedule.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert "description" in schema["properties"]["name"]
    assert schema["properties"]["name"]["examples"] == ["morning-digest"]


def test_examples_validate_cleanly() -> None:
    result = run_cli(["validate", str(EXAMPLES)])
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    project = load_project([str(EXAMPLES)])
    forms = {s.schedule.schedule.form for s in project.schedules}
    assert forms == {"cron", "every", "at", "daily", "weekly", "monthly"}
    actions = {"app" if s.schedule.action.app else "prompt" for s in project.schedules}
    assert actions == {"app", "prompt"}
    assert len({s.key for s in project.schedules}) >= 10
    for path in (EXAMPLES / "schedules").rglob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema="), path


def test_validate_json_and_github_formats(repo: Path) -> None:
    write(
        repo / "schedules" / "bad.yaml",
        """
        name: Bad_Name
        schedule: {cron: "0 9 * * *"}
        action: {prompt: hi}
        """,
    )
    result = run_cli(["validate", "--format", "json"], cwd=repo)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    [error] = report["errors"]
    assert error["file"] == "schedules/bad.yaml"
    assert (error["line"], error["column"]) == (1, 7)
    assert "name" in error["message"]
    result = run_cli(["validate", "--format", "github"], cwd=repo)
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=schedules/bad.yaml,line=1,col=7::")


def test_text_errors_name_file_and_line_without_traceback(repo: Path) -> None:
    write(
        repo / "schedules" / "a.yaml",
        """
        name: a
        schedule:
          cron: "0 9 * * *"
          cron: "0 10 * * *"
        action: {prompt: hi}
        """,
    )
    result = run_cli(["validate"], cwd=repo)
    assert result.returncode == 1
    assert "schedules/a.yaml:4:3: error: duplicate key 'cron' (first at line 3)" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_warnings_pass_unless_strict(repo: Path) -> None:
    write(
        repo / "schedules" / "r.yaml",
        """
        name: report
        schedule: {daily: "09:00"}
        action: {app: {id: app_1, input: {since: "{{yesterday}}"}}}
        targets: [reports]
        """,
    )
    ok = run_cli(["validate"], cwd=repo)
    assert ok.returncode == 0, ok.stderr
    assert "does not expand '{{yesterday}}'" in ok.stdout
    assert run_cli(["validate", "--strict"], cwd=repo).returncode == 1


def test_overrides_deep_merge_and_replace_the_schedule_form(repo: Path) -> None:
    write(
        repo / "schedules" / "d.yaml",
        """
        name: digest
        description: base
        schedule: {cron: "0 9 * * *", timezone: Europe/Rome}
        action: {prompt: hi}
        targets: [prod, reports]
        overrides:
          reports:
            enabled: false
            schedule: {daily: "10:00"}
        """,
    )
    project = load_project([], str(repo / "schedctl.yaml"))
    by_target = {s.target: s for s in project.schedules}
    assert by_target["prod"].schedule.enabled is True
    assert by_target["prod"].schedule.schedule.cron == "0 9 * * *"
    reports = by_target["reports"].schedule
    assert reports.enabled is False
    assert reports.schedule.cron is None and reports.schedule.daily == "10:00"
    # the zone survives the form swap; positions follow the override's lines
    assert reports.schedule.timezone == "Europe/Rome"
    assert by_target["reports"].where(("enabled",)).line == 8


def test_override_errors_point_at_the_override(repo: Path) -> None:
    write(
        repo / "schedules" / "d.yaml",
        """
        name: digest
        schedule: {cron: "0 9 * * *"}
        action: {prompt: hi}
        targets: [prod]
        overrides:
          prod:
            max_retries: -1
          staging: {enabled: false}
        """,
    )
    project = load_project([], str(repo / "schedctl.yaml"))
    messages = {(d.line, d.message.split(":")[0]) for d in project.errors}
    assert (7, "with overrides.prod") in messages
    assert any(
        d.line == 8 and "'staging' is not a target of the config" in d.message
        for d in project.errors
    )


def test_same_key_same_target_across_files(repo: Path) -> None:
    body = "name: same\nschedule: {every: 1h}\naction: {prompt: hi}\n"
    write(repo / "schedules" / "a.yaml", body)
    write(repo / "schedules" / "b.yml", body)
    project = load_project([], str(repo / "schedctl.yaml"))
    [error] = project.errors
    assert error.file.endswith("b.yml") and error.line == 1
    assert "first defined at " + str(repo / "schedules" / "a.yaml") + ":1" in error.message


def test_globs_and_paths_that_match_nothing_are_errors(repo: Path, tmp_path: Path) -> None:
    result = run_cli(["validate"], cwd=repo)
    assert result.returncode == 1
    assert "matches no file" in result.stdout
    result = run_cli(["validate", "missing-dir"], cwd=repo)
    assert result.returncode == 1
    assert "missing-dir: no such file or directory" in result.stdout


def test_globs_cannot_leave_the_repository(tmp_path: Path) -> None:
    outside = write(
        tmp_path / "outside" / "x.yaml", "name: x\nschedule: {every: 1h}\naction: {prompt: hi}\n"
    )
    repo = tmp_path / "repo"
    write(
        repo / "schedctl.yaml", 'schedules: ["../outside/*.yaml", "/etc/*.yaml", "link/*.yaml"]\n'
    )
    (repo / "link").symlink_to(outside.parent)
    project = load_project([], str(repo / "schedctl.yaml"))
    assert not project.schedules
    text = " | ".join(d.message for d in project.errors)
    assert "'../outside/*.yaml' points outside the repository" in text
    assert "'/etc/*.yaml' points outside the repository" in text
    assert "resolves outside the repository" in text


def test_yaml_is_read_as_yaml_1_2(repo: Path) -> None:
    write(
        repo / "schedules" / "a.yaml",
        """
        name: a
        title: no
        schedule: {daily: 10:30}
        action: {prompt: yes}
        """,
    )
    project = load_project([], str(repo / "schedctl.yaml"))
    assert not project.errors, project.errors
    [s] = project.schedules
    assert s.schedule.title == "no" and s.schedule.action.prompt == "yes"
    assert s.schedule.schedule.daily == "10:30"


def test_model_normalises_weekdays_and_rejects_wrong_types() -> None:
    s = Schedule.model_validate(
        {"name": "w", "schedule": {"weekly": {"at": "08:30", "days": ["fri", 1, "wednesday", 7]}},
         "action": {"prompt": "p"}}
    )  # fmt: skip
    assert s.schedule.weekly is not None and s.schedule.weekly.day_numbers() == [0, 1, 3, 5]
    with pytest.raises(ValueError, match="valid boolean"):
        Schedule.model_validate(
            {"name": "w", "enabled": "yes", "schedule": {"every": "1h"}, "action": {"prompt": "p"}}
        )
    with pytest.raises(ValueError, match="unknown time zone"):
        Schedule.model_validate(
            {
                "name": "w",
                "schedule": {"every": "1h", "timezone": "Mars/Olympus"},
                "action": {"prompt": "p"},
            }
        )


def test_default_config_is_the_local_sandbox() -> None:
    config = Config()
    assert list(config.targets) == ["local"]
    assert config.targets["local"].platform == "engine"
    assert config.targets["local"].sandbox == ".schedctl/sandbox.db"
    assert config.default_targets() == ["local"]


def test_no_config_validates_paths_against_the_default(tmp_path: Path) -> None:
    write(tmp_path / "s" / "a.yaml", "name: a\nschedule: {every: 1h}\naction: {prompt: hi}\n")
    result = run_cli(["validate", "s"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok: 1 schedule in 1 file is valid" in result.stdout


def test_platform_checks_run_per_target(repo: Path) -> None:
    write(
        repo / "schedules" / "a.yaml",
        """
        name: odd
        schedule: {cron: "*/30 9-17 * * MON-FRI"}
        action: {prompt: hi}
        targets: [prod, reports]
        """,
    )
    project = load_project([], str(repo / "schedctl.yaml"))
    found = validate_project(project)
    errors = [d for d in found if d.severity == "error"]
    assert len(errors) == 1
    assert "aitroop has no raw cron" in errors[0].message
    assert "guard" in errors[0].message
    assert (errors[0].line, errors[0].column) == (2, 18)


def test_python_dash_m_and_help() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    assert "Usage:" in result.stdout and "validate" in result.stdout
    result = run_cli(["no-such-command"])
    assert result.returncode == 1
    assert "No such command" in result.stderr


def _crowd_repo(repo: Path, bodies: list[str]) -> list[str]:
    for i, body in enumerate(bodies):
        write(repo / "schedules" / f"s{i}.yaml", f"name: task-{i}\n{body}action: {{prompt: hi}}\n")
    project = load_project([], str(repo / "schedctl.yaml"))
    return [d.message for d in validate_project(project) if "tasks are due" in d.message]


def test_more_than_three_tasks_in_one_minute_warn_on_engine(repo: Path) -> None:
    same = 'schedule: {cron: "0 9 * * *"}\n'
    warnings = _crowd_repo(repo, [same] * 3 + ['schedule: {daily: "09:00"}\n'])
    assert len(warnings) == 4  # one per task, naming all four
    assert "4 tasks are due at" in warnings[0] and "task-0, task-1, task-2, task-3" in warnings[0]
    assert "at most 3 at once" in warnings[0]


def test_three_tasks_or_one_busy_task_do_not_crowd(repo: Path) -> None:
    assert _crowd_repo(repo, ['schedule: {cron: "0 9 * * *"}\n'] * 3) == []
    # a task due every second is one task in each minute, not sixty
    assert _crowd_repo(repo, ["schedule: {every: 1s}\n"] * 2) == []
