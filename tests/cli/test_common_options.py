"""Commands behave alike: the common options before or after the command, the config found the
same way by every command, errors naming the config and the target, and reading that never
leaves a sandbox database behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc

CONFIG_READERS = ("validate", "next", "plan", "apply", "show", "import", "status", "trigger",
                  "runs", "run", "pause", "resume")  # fmt: skip
COMMON = ("--config FILE", "--target NAME", "-v, --verbose", "--no-color")


@pytest.fixture
def applied(tmp_path: Path) -> Iterator[Repo]:
    """A repository (in tmp/repo) applied to an engine sandbox, with one schedule `alpha`."""
    with running_sandbox(SandboxOptions(platform="engine", retry_after=0)) as sandbox:
        repo = Repo(tmp_path / "repo", sandbox.url, "engine")
        repo.write("a", prompt_doc("alpha"))
        assert run_cli(["apply", "--auto-approve"], cwd=repo.root).returncode == 0
        yield repo


@pytest.mark.parametrize("command", CONFIG_READERS)
def test_each_command_help_lists_the_common_options(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    for option in COMMON:
        assert option in result.output, f"`schedctl {command} --help` lacks {option}"


def test_common_options_before_and_after_the_command_do_the_same(
    applied: Repo, tmp_path: Path
) -> None:
    common = ["--config", str(applied.config), "--target", "t", "-v", "--no-color"]
    before = run_cli([*common, "plan", "--detailed-exitcode"], cwd=tmp_path)
    after = run_cli(["plan", "--detailed-exitcode", *common], cwd=tmp_path)
    split = run_cli(["-v", "plan", "--config", str(applied.config), "--target", "t"], cwd=tmp_path)
    for proc in (before, after, split):
        assert proc.returncode == 0, proc.stderr  # found the config: nothing pending
        assert proc.stdout == before.stdout
        assert " -> 200 (" in proc.stderr  # -v logs each request
    assert "GET" not in run_cli(["plan", "--config", str(applied.config)], cwd=tmp_path).stderr


def test_a_target_named_after_the_command_is_checked_like_one_before(applied: Repo) -> None:
    before = run_cli(["--target", "nope", "status"], cwd=applied.root)
    after = run_cli(["status", "--target", "nope"], cwd=applied.root)
    assert before.returncode == after.returncode == 1
    assert "'nope'" in before.stderr and after.stderr == before.stderr


def test_trigger_runs_status_and_import_find_the_config_from_paths(
    applied: Repo, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo = str(applied.root)
    status = run_cli(["status", repo], cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert "alpha" in status.stdout and "in sync" in status.stdout
    fired = run_cli(["trigger", "alpha", repo], cwd=elsewhere)
    assert fired.returncode == 0, fired.stderr
    assert "triggered 'Alpha'" in fired.stdout and "on t" in fired.stdout
    history = run_cli(["runs", "alpha", repo, "--format", "json"], cwd=elsewhere)
    assert history.returncode == 0, history.stderr
    assert len(json.loads(history.stdout)) == 1
    imported = run_cli(["import", repo, "--out", str(tmp_path / "out")], cwd=elsewhere)
    assert imported.returncode == 0, imported.stderr
    assert "alpha" in imported.stdout and (tmp_path / "out" / "alpha.yaml").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing was written where the command ran


def test_errors_name_the_config_and_the_target(applied: Repo, tmp_path: Path) -> None:
    config = str(applied.config)
    shown = "target 't' (config repo/schedctl.yaml)"  # as seen from the working directory
    for args in (["trigger", "nope", str(applied.root)], ["runs", "nope", "--config", config]):
        proc = run_cli(args, cwd=tmp_path)
        assert proc.returncode == 1, args
        assert shown in proc.stderr and "no task 'nope'" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr

    text = applied.config.read_text().replace(
        "instance: acme", "instance: acme\n    token_env: SCHEDCTL_T_NONE"
    )
    applied.config.write_text(text)  # fmt: skip
    for args in (["import", str(applied.root)], ["trigger", "alpha", str(applied.root)]):
        proc = run_cli(args, cwd=tmp_path, env={"SCHEDCTL_T_NONE": ""})
        assert proc.returncode == 1, args
        assert f"{shown}: the environment variable SCHEDCTL_T_NONE is not set" in proc.stderr


def test_one_target_must_be_named_among_several_and_the_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "schedctl.yaml").write_text(
        "targets:\n  a: {platform: engine, sandbox: a.db}\n  b: {platform: engine, sandbox: b.db}\n"
    )
    proc = run_cli(["trigger", "x"], cwd=tmp_path)
    assert proc.returncode == 1
    assert "name one target with --target (config schedctl.yaml has: a, b)" in proc.stderr


@pytest.mark.parametrize("with_config", [True, False])
def test_reading_a_sandbox_never_applied_to_creates_nothing(
    tmp_path: Path, with_config: bool
) -> None:
    if with_config:
        assert run_cli(["init", "--owner", "acme"], cwd=tmp_path).returncode == 0
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    status = run_cli(["status"], cwd=tmp_path)
    if with_config:
        assert status.returncode == 0, status.stderr
        assert "morning-digest" in status.stdout and "missing" in status.stdout
    else:  # no schedule files either: that is what it says
        assert status.returncode == 1 and "matches no file" in status.stderr
    for args in (["trigger", "morning-digest"], ["runs", "morning-digest"]):
        proc = run_cli(args, cwd=tmp_path)
        assert proc.returncode == 1, args
        assert "nothing there yet: its sandbox database .schedctl/sandbox.db does not exist" in (
            proc.stderr
        )
        assert "target 'local'" in proc.stderr
    imported = run_cli(["import"], cwd=tmp_path)
    assert imported.returncode == 0 and imported.stdout.startswith("nothing to import")
    plan = run_cli(["plan"], cwd=tmp_path)
    assert plan.returncode == (0 if with_config else 1)  # without a config: no schedule files

    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / ".schedctl").exists()


def test_apply_still_creates_the_sandbox_it_writes_to(tmp_path: Path) -> None:
    assert run_cli(["init", "--owner", "acme"], cwd=tmp_path).returncode == 0
    assert run_cli(["apply", "--auto-approve"], cwd=tmp_path).returncode == 0
    assert (tmp_path / ".schedctl" / "sandbox.db").is_file()
    status = run_cli(["status"], cwd=tmp_path)
    assert status.returncode == 0 and "in sync" in status.stdout
