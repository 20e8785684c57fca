"""`schedctl init` as a user runs it: scaffold a git repository, validate it, never clobber."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler.scaffold import render_files
from tests.conftest import run_cli

EXPECTED = {
    "schedctl.yaml",
    "schedules/morning-digest.yaml",
    "schemas/schedule.schema.json",
    "schemas/config.schema.json",
    ".github/workflows/schedctl-plan.yml",
    ".github/workflows/schedctl-apply.yml",
    ".github/workflows/schedctl-drift.yml",
    ".github/dependabot.yml",
    ".pre-commit-config.yaml",
    ".gitignore",
}


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, timeout=30)
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts[:1]
    }


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_init_then_validate_in_a_git_repository(tmp_path: Path, platform: str) -> None:
    repo = git_repo(tmp_path / "schedules-repo")
    result = run_cli(["init", "--platform", platform], cwd=repo)
    assert result.returncode == 0, result.stderr
    assert set(snapshot(repo)) == EXPECTED
    for rel in EXPECTED:
        assert f"wrote: {rel}" in result.stdout
    config = yaml.safe_load((repo / "schedctl.yaml").read_text(encoding="utf-8"))
    assert config["owner"] == "schedules-repo"  # from the directory's name
    assert config["targets"]["local"] == {"platform": platform, "sandbox": ".schedctl/sandbox.db"}

    # The example is warning-free on its platform, and `schedctl schema` agrees with the schemas.
    checked = run_cli(["validate", "--strict"], cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert run_cli(["schema", "--out", "schemas", "--check"], cwd=repo).returncode == 0


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_the_commented_real_target_validates_once_uncommented(
    tmp_path: Path, platform: str
) -> None:
    repo = git_repo(tmp_path / "r")
    assert run_cli(["init", "--platform", platform, "--owner", "acme"], cwd=repo).returncode == 0
    config = repo / "schedctl.yaml"
    text = config.read_text(encoding="utf-8").replace("  # prod:", "  prod:")
    config.write_text(text.replace("targets: [local]", "targets: [local, prod]"), encoding="utf-8")
    checked = run_cli(["validate", "--strict"], cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    prod = yaml.safe_load(text)["targets"]["prod"]
    assert prod["platform"] == platform and "token_env" in prod
    assert not any("token" in key and key != "token_env" for key in prod)


def test_files_point_editors_at_the_schemas(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "r")
    assert run_cli(["init"], cwd=repo).returncode == 0
    for rel in ("schedctl.yaml", "schedules/morning-digest.yaml"):
        first = (repo / rel).read_text(encoding="utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, rel
        assert ((repo / rel).parent / match.group(1)).resolve().is_file(), match.group(1)


def test_init_creates_the_directory_and_uses_its_name_as_owner(tmp_path: Path) -> None:
    result = run_cli(["init", "new/Team Schedules!", "--platform", "aitroop"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "new/Team Schedules!/schedctl.yaml").read_text())
    assert config["owner"] == "team-schedules"


def test_refuses_to_overwrite_without_force_and_writes_nothing(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "r")
    assert run_cli(["init"], cwd=repo).returncode == 0
    (repo / "schedctl.yaml").write_text("owner: mine\n", encoding="utf-8")
    (repo / "schedules" / "morning-digest.yaml").unlink()  # would be written: must not be
    before = snapshot(repo)

    result = run_cli(["init", "--platform", "aitroop"], cwd=repo)
    assert result.returncode == 1
    assert "schedctl.yaml" in result.stderr and "--force" in result.stderr
    assert ".github/workflows/schedctl-plan.yml" in result.stderr  # differs for aitroop
    assert "schemas/" not in result.stderr  # identical files are no conflict
    assert "Traceback" not in result.stderr
    assert snapshot(repo) == before


def test_force_overwrites(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "r")
    (repo / "schedctl.yaml").write_text("owner: mine\n", encoding="utf-8")
    assert run_cli(["init"], cwd=repo).returncode == 1
    assert (repo / "schedctl.yaml").read_text() == "owner: mine\n"
    assert set(snapshot(repo)) == {"schedctl.yaml"}

    result = run_cli(["init", "--force", "--owner", "acme-schedules"], cwd=repo)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((repo / "schedctl.yaml").read_text())["owner"] == "acme-schedules"
    assert set(snapshot(repo)) == EXPECTED


def test_running_init_twice_changes_nothing(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "r")
    assert run_cli(["init", "--owner", "acme"], cwd=repo).returncode == 0
    before = snapshot(repo)
    again = run_cli(["init", "--owner", "acme"], cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "wrote:" not in again.stdout and "unchanged" in again.stdout
    assert snapshot(repo) == before


def test_an_existing_gitignore_is_appended_to_never_a_conflict(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "r")
    (repo / ".gitignore").write_text("node_modules/", encoding="utf-8")
    assert run_cli(["init"], cwd=repo).returncode == 0
    lines = (repo / ".gitignore").read_text().splitlines()
    assert lines[0] == "node_modules/" and ".schedctl/" in lines
    # The sandbox databases stay out of git.
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".schedctl/sandbox.db"], cwd=repo, timeout=30
    )
    assert ignored.returncode == 0


def test_bad_owner_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    result = run_cli(["init", "r", "--owner", "Not Valid"], cwd=tmp_path)
    assert result.returncode == 1
    assert "--owner" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_no_placeholder_or_secret_value_is_left_in_any_file() -> None:
    for platform in ("engine", "aitroop"):
        for rel, text in render_files("acme", platform).items():
            assert not re.search(r"__[A-Z][A-Z_]*__", text), rel
            assert not re.search(r"(?im)^\s*-?\s*(token|password|api_key)\s*:", text), rel


def test_help_has_an_example() -> None:
    result = run_cli(["init", "--help"])
    assert result.returncode == 0
    assert "Example:" in result.stdout and "schedctl init" in result.stdout


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_scaffold_plans_applies_and_passes_the_workflow_checks(
    tmp_path: Path, platform: str
) -> None:
    """The issue's walk-through: init, validate, render the PR comment, apply, drift check."""
    from tests.cli.test_workflows import SCAFFOLDED, at_least, check_jsonschema, zizmor

    repo = git_repo(tmp_path / "schedules")
    assert run_cli(["init", "--platform", platform], cwd=repo).returncode == 0
    checked = run_cli(["validate", "--format", "github"], cwd=repo)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout + checked.stderr

    # What the pull-request job posts (here: rendered only), against the embedded sandbox.
    plan = run_cli(["plan", "--format", "markdown"], cwd=repo)
    assert plan.returncode == 0, plan.stderr
    assert "morning-digest" in plan.stdout and "<details>" in plan.stdout
    assert len(plan.stdout) < 65_000

    # What the push-to-main job runs, then the nightly drift check: in sync, then drifted.
    applied = run_cli(["apply", "--auto-approve"], cwd=repo)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert run_cli(["plan", "--detailed-exitcode"], cwd=repo).returncode == 0
    digest = repo / "schedules" / "morning-digest.yaml"
    digest.write_text(digest.read_text().replace('"09:00"', '"10:00"'), encoding="utf-8")
    assert (
        run_cli(["plan", "--detailed-exitcode", "--format", "markdown"], cwd=repo).returncode == 2
    )
    # The sandbox's databases are never committed.
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, timeout=30
    )
    assert ".schedctl" not in status.stdout

    workflows = [repo / rel for rel in SCAFFOLDED]
    check_jsonschema("vendor.github-workflows", *workflows)
    assert at_least(zizmor(*workflows), "Medium") == []


def test_init_writes_the_prune_setting_and_the_apply_workflow_leaves_it_to_the_config(
    tmp_path: Path,
) -> None:
    from tests.cli.test_workflows import load_workflow

    repo = git_repo(tmp_path / "r")
    assert run_cli(["init", "--owner", "acme"], cwd=repo).returncode == 0
    text = (repo / "schedctl.yaml").read_text(encoding="utf-8")
    assert re.search(r"(?m)^prune: false$", text)
    before = text.split("\nprune: false", 1)[0].splitlines()
    assert before[-1].startswith("#") and "prune" in " ".join(before[-4:]).lower()
    workflow = load_workflow(repo / ".github/workflows/schedctl-apply.yml")
    (apply_line,) = [
        s["run"] for s in workflow["jobs"]["apply"]["steps"] if "apply" in s.get("run", "")
    ]
    assert apply_line == "schedctl --no-color apply --auto-approve"  # no --prune: the config says

    # The merged pull request removed a schedule: kept while prune is off, deleted once on.
    extra = repo / "schedules" / "extra.yaml"
    extra.write_text("name: extra\nschedule: {daily: '07:00'}\naction: {prompt: Hi.}\n")
    assert run_cli(apply_line.split()[1:], cwd=repo).returncode == 0
    extra.unlink()
    kept = run_cli(apply_line.split()[1:], cwd=repo)
    assert kept.returncode == 0 and "0 deleted" in kept.stdout.splitlines()[-1]
    (repo / "schedctl.yaml").write_text(text.replace("\nprune: false", "\nprune: true"))
    pruned = run_cli(apply_line.split()[1:], cwd=repo)
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "1 deleted" in pruned.stdout.splitlines()[-1]
    assert run_cli(["plan", "--detailed-exitcode"], cwd=repo).returncode == 0


def test_init_install_prints_and_writes_the_spec(tmp_path: Path) -> None:
    spec = "git+https://github.com/acme/schedctl@v0.1.0"
    proc = run_cli(["init", "r", "--install", spec], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"CI and pre-commit install schedctl with: {spec}" in proc.stdout
    pre_commit = yaml.safe_load((tmp_path / "r" / ".pre-commit-config.yaml").read_text())
    assert pre_commit["repos"][0]["rev"] == "v0.1.0"
    # Another spec later is a change to three workflows and pre-commit: refused without --force.
    again = run_cli(["init", "r", "--install", "schedctl==0.1.0"], cwd=tmp_path)
    assert again.returncode == 1 and ".pre-commit-config.yaml" in again.stderr


def test_the_readme_lists_exactly_what_init_writes() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What `schedctl init` writes", 1)[1].split("\n#", 1)[0]
    listed = re.findall(r"(?m)^- `([^`]+)`", section)
    assert sorted(listed) == sorted(EXPECTED)
