"""Errors that teach, as a user meets them on the command line: did-you-mean for targets (in
files, in overrides, on --target), zones, platforms and keys; problems that are in no file
(a --target typo, a missing path, no config at all) without a made-up `file:1:1`; and a
summary that counts files right. Every command here runs as a real process."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_cli

CONFIG = """\
owner: teach
defaults: {timezone: Europe/Rome, targets: [local]}
targets:
  local: {platform: engine, sandbox: .schedctl/sandbox.db}
  staging: {platform: engine, sandbox: .schedctl/staging.db}
"""
GOOD = 'name: digest\nschedule: {cron: "0 9 * * *"}\naction: {prompt: Summarise the day.}\n'
# A made-up location: the first line and column of some file, for a problem in none.
FAKE_LOCATION = re.compile(r"\S+:1:1: error")


def repo(tmp_path: Path, files: dict[str, str], config: str = CONFIG) -> Path:
    (tmp_path / "schedules").mkdir(parents=True, exist_ok=True)
    if config:
        (tmp_path / "schedctl.yaml").write_text(config)
    for name, text in files.items():
        (tmp_path / "schedules" / name).write_text(textwrap.dedent(text))
    return tmp_path


def test_typos_in_files_get_a_did_you_mean(tmp_path: Path) -> None:
    root = repo(tmp_path, {"a.yaml": """\
        name: typos
        schedule:
          cron: "0 9 * * *"
          timezone: europe/rome
        action: {prompt: Summarise the day.}
        targets: [local, stagin]
        overrides:
          staging: {enabled: false}
          locl: {enabled: false}
        Title: Typos
        """, "b.yaml": """\
        name: zone
        schedule: {daily: "09:00", timezone: Europe/Roma}
        action: {prompt: Summarise the day.}
        """})  # fmt: skip
    result = run_cli(["validate"], cwd=root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "schedules/a.yaml:4:13: error: schedule.timezone: unknown time zone 'europe/rome' (did you mean 'Europe/Rome'?)",
        "schedules/a.yaml:10:1: error: unknown key 'Title' (did you mean 'title'?)",
        "schedules/b.yaml:2:38: error: schedule.timezone: unknown time zone 'Europe/Roma' (did you mean 'Europe/Rome'?)",
        "3 errors, 0 warnings in 2 files (3 files checked)",
    ]  # fmt: skip
    # With the schema errors fixed, the targets and overrides are judged.
    text = (root / "schedules" / "a.yaml").read_text()
    (root / "schedules" / "a.yaml").write_text(
        text.replace("europe/rome", "Europe/Rome").replace("Title", "title")
    )
    (root / "schedules" / "b.yaml").write_text(GOOD.replace("digest", "zone"))
    result = run_cli(["validate"], cwd=root)
    assert result.stdout.splitlines() == [
        "schedules/a.yaml:6:18: error: unknown target 'stagin' (did you mean 'staging'?)",
        "schedules/a.yaml:8:3: error: overrides.staging: typos is not deployed to target 'staging' (its targets: local, stagin): add it to `targets:` or drop the override",
        "schedules/a.yaml:9:3: error: overrides.locl: 'locl' is not a target of the config (did you mean 'local'?)",
        "3 errors, 0 warnings in 1 file (3 files checked)",
    ]  # fmt: skip


def test_a_platform_typo_in_the_config(tmp_path: Path) -> None:
    root = repo(tmp_path, {"a.yaml": GOOD}, CONFIG.replace("staging: {platform: engine", "staging: {platform: egnine"))  # fmt: skip
    result = run_cli(["validate", "--format", "github"], cwd=root)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::error file=schedctl.yaml,line=5,col=23::targets.staging.platform: unknown platform 'egnine' (did you mean 'engine'?)"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--target", "stagin"],
        ["--target", "stagin", "validate"],
        ["plan", "--target", "stagin"],
        ["next", "--target", "stagin"],
        ["trigger", "digest", "--target", "stagin"],
        ["runs", "digest", "--target", "stagin"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_target_typo_on_the_command_line(tmp_path: Path, args: list[str]) -> None:
    root = repo(tmp_path, {"a.yaml": GOOD})
    result = run_cli(args, cwd=root)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in out
    assert "--target 'stagin' is not a target of" in out
    assert "(did you mean 'staging'?)" in out
    assert not FAKE_LOCATION.search(out), out
    assert not (root / ".schedctl").exists()  # nothing was started for a typo


def test_a_target_typo_in_every_validate_format(tmp_path: Path) -> None:
    root = repo(tmp_path, {"a.yaml": GOOD})
    expected = "--target 'stagin' is not a target of schedctl.yaml (did you mean 'staging'?)"
    text = run_cli(["validate", "--target", "stagin"], cwd=root)
    assert text.stdout.splitlines() == [
        f"error: {expected}",
        "1 error, 0 warnings (2 files checked)",  # in no file: "in 0 files" is not said
    ]
    report = json.loads(run_cli(["validate", "--target", "stagin", "--format", "json"], cwd=root).stdout)  # fmt: skip
    assert report["errors"] == [{"file": None, "line": None, "column": None, "message": expected}]
    github = run_cli(["validate", "--target", "stagin", "--format", "github"], cwd=root)
    assert github.stdout.splitlines() == [f"::error::{expected}"]


def test_a_path_that_does_not_exist_and_a_missing_config(tmp_path: Path) -> None:
    root = repo(tmp_path, {"a.yaml": GOOD})
    missing = run_cli(["validate", "schedules/a.yaml", "schedules/nope.yaml"], cwd=root)
    assert missing.returncode == 1
    assert missing.stdout.splitlines() == [
        "error: schedules/nope.yaml: no such file or directory",
        "1 error, 0 warnings (2 files checked)",
    ]
    github = run_cli(["validate", "nope/", "--format", "github"], cwd=root)
    assert github.stdout.splitlines() == ["::error::nope/: no such file or directory"]
    config = run_cli(["--config", "other.yaml", "validate"], cwd=root)
    assert config.returncode == 1
    assert config.stdout.splitlines()[0] == "error: other.yaml: config file not found"
    assert not FAKE_LOCATION.search(config.stdout + missing.stdout)


def test_a_config_whose_default_glob_matches_nothing(tmp_path: Path) -> None:
    """About the config as a whole: its name, no line (there is no `schedules:` to point at)."""
    (tmp_path / "schedctl.yaml").write_text(CONFIG)
    text = run_cli(["validate"], cwd=tmp_path)
    message = (
        "the default schedule glob 'schedules/**/*.y*ml' matches no file (set `schedules:` to "
        "the globs of your files)"
    )
    assert text.stdout.splitlines() == [
        f"schedctl.yaml: error: {message}",
        "1 error, 0 warnings in 1 file (1 file checked)",
    ]
    github = run_cli(["validate", "--format", "github"], cwd=tmp_path)
    assert github.stdout.splitlines() == [f"::error file=schedctl.yaml::{message}"]


def test_no_config_at_all(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(["validate"], cwd=empty)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: no schedctl.yaml here, and the default schedule glob 'schedules/**/*.y*ml' "
        "matches no file: name the schedule files (schedctl validate FILE...), or start a "
        "repository with `schedctl init`",
        "1 error, 0 warnings (0 files checked)",
    ]
    (empty / "a.yaml").write_text(GOOD)
    plan = run_cli(["plan", "a.yaml", "--target", "prod"], cwd=empty)
    assert plan.returncode == 1 and "Traceback" not in plan.stderr
    assert plan.stderr.splitlines() == [
        "error: --target 'prod': there is no schedctl.yaml here, so the one target is 'local', "
        "the embedded sandbox (create a config with `schedctl init`)"
    ]
    assert "<default config>" not in plan.stderr and not (empty / ".schedctl").exists()


def test_the_summary_counts_the_files_with_problems_and_the_files_checked(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "good.yaml": GOOD,
        "broken.yaml": "name: broken\nschedule:\n  cron: * 9 * * *\n",  # unreadable YAML
        "two.yaml": "name: Two\nschedule: {every: 15}\naction: {prompt: hi}\n",
        "warn.yaml": 'name: warn\nschedule: {every: 30s}\naction: {prompt: hi}\n',
    })  # fmt: skip
    result = run_cli(["validate"], cwd=root)
    assert result.returncode == 1
    # An unreadable file is still a file checked, and it holds an error; the warning's file is
    # among the files with findings; the config is checked too.
    assert result.stdout.splitlines()[-1] == "3 errors, 1 warning in 3 files (5 files checked)"
    assert 'cron: "* 9 * * *"' in result.stdout  # the unquoted cron is explained
    (root / "schedules" / "broken.yaml").unlink()
    (root / "schedules" / "two.yaml").unlink()
    ok = run_cli(["validate"], cwd=root)
    assert ok.returncode == 0
    assert ok.stdout.splitlines()[-1] == "ok: 2 schedules in 2 files are valid, 1 warning"
