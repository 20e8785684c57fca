"""Bad input to `plan` and `apply` writes nothing to the platform.

A repository is applied once to an embedded engine sandbox (one task). Then a broken file from
the invalid-case corpus is added, the good schedule is edited and a new one is added (so there
would be an update and a create to make), and `apply --auto-approve` runs as a real process: it
must exit 1 with the corpus's file:line:column message, print no traceback, and leave the
sandbox's tasks exactly as they were.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.conftest import run_cli
from tests.loader.test_invalid_cases import BY_STEM, CASES_DIR

GOOD = """\
name: good-digest
schedule:
  cron: "0 9 * * *"
action:
  prompt: Summarise the last day.
"""
NEW = 'name: new-one\nschedule: {daily: "07:00"}\naction: {prompt: Brand new.}\n'
# Corpus cases whose messages do not depend on the corpus's shared config (this repository
# has one engine target named `local` too, and the same default zone). The first ones also run
# on their own, one apply each; all of them together in one apply.
ALONE = [
    "syntax-tab-indent",
    "syntax-binary",
    "unknown-key-typo",
    "cron-six-fields",
    "engine-app-action",
    "engine-one-shot-past",
]
TOGETHER = [
    *ALONE,
    "syntax-billion-laughs",
    "syntax-duplicate-key",
    "doc-list",
    "schedule-two-forms",
    "cron-feb-31",
    "timezone-typo",
    "every-zero",
    "delete-after-run-without-at",
]


def config_text(db: Path) -> str:
    return (
        "owner: bad-input\n"
        "defaults: {timezone: Europe/Rome}\n"
        f"targets:\n  local: {{platform: engine, sandbox: {db}}}\n"
    )


def live_tasks(db: Path) -> list[dict[str, Any]]:
    """The engine sandbox's tasks, read through its own API (not through schedctl)."""
    with running_sandbox(SandboxOptions(platform="engine", db=db)) as sandbox:
        response = httpx.get(f"{sandbox.url}/api/instances/local/scheduled-tasks", timeout=10)
    response.raise_for_status()
    body = response.json()
    if isinstance(body, dict):
        body = next(body[k] for k in ("items", "data", "tasks", "scheduled_tasks") if k in body)
    assert isinstance(body, list)
    return body


def summary(tasks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((t["name"], t["prompt"], t["id"]) for t in tasks)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, str]]]:
    """A sandbox database holding what one successful apply of GOOD wrote, and its tasks."""
    base = tmp_path_factory.mktemp("seed")
    db = base / "sb.db"
    (base / "schedctl.yaml").write_text(config_text(db))
    (base / "schedules").mkdir()
    (base / "schedules" / "good.yaml").write_text(GOOD)
    result = run_cli(["apply", ".", "--auto-approve"], cwd=base, input="")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = summary(live_tasks(db))
    assert [name for name, _, _ in tasks] == ["good-digest"]
    return db, tasks


@pytest.fixture
def repo(seeded: tuple[Path, Any], tmp_path: Path) -> Iterator[Path]:
    """A copy of the seeded sandbox, and a repository with a pending update and create."""
    db = seeded[0]
    for part in db.parent.glob(f"{db.name}*"):
        shutil.copy(part, tmp_path / part.name)
    (tmp_path / "schedctl.yaml").write_text(config_text(tmp_path / db.name))
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "good.yaml").write_text(GOOD.replace("the last day", "the last week"))
    (schedules / "new.yaml").write_text(NEW)
    yield tmp_path


def assert_refused(result: Any, lines: list[str]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for line in lines:
        assert line in result.stderr.splitlines(), f"{line!r} not in:\n{result.stderr}"


def expected_lines(stem: str) -> list[str]:
    """The corpus's lines for a case; the corpus names the file alone, here it is in schedules/."""
    return [f"schedules/{e.text()}" for e in BY_STEM[stem].errors]


def test_apply_with_broken_files_writes_nothing(repo: Path, seeded: tuple[Path, Any]) -> None:
    for stem in ALONE:
        broken = repo / "schedules" / f"{stem}.yaml"
        shutil.copy(CASES_DIR / f"{stem}.yaml", broken)
        assert_refused(
            run_cli(["apply", ".", "--auto-approve"], cwd=repo, input=""), expected_lines(stem)
        )
        broken.unlink()
    for stem in TOGETHER:
        shutil.copy(CASES_DIR / f"{stem}.yaml", repo / "schedules")
    result = run_cli(["apply", ".", "--auto-approve", "--prune"], cwd=repo, input="")
    assert_refused(result, [line for stem in TOGETHER for line in expected_lines(stem)])
    plan = run_cli(["plan", ".", "--detailed-exitcode", "--format", "json"], cwd=repo)
    assert_refused(plan, expected_lines("cron-six-fields"))
    assert summary(live_tasks(repo / seeded[0].name)) == seeded[1]

    # The control: without the broken files the same apply does write (an update, a create).
    for stem in TOGETHER:
        (repo / "schedules" / f"{stem}.yaml").unlink()
    applied = run_cli(["apply", ".", "--auto-approve"], cwd=repo, input="")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = {name: prompt for name, prompt, _ in summary(live_tasks(repo / seeded[0].name))}
    assert after == {"good-digest": "Summarise the last week.", "new-one": "Brand new."}


def test_duplicate_keys_or_a_broken_config_write_nothing(
    repo: Path, seeded: tuple[Path, Any]
) -> None:
    """The same key in two files; then a misspelt config key with --prune and the good file
    gone (good-digest would be deleted): nothing is applied, nothing deleted."""
    (repo / "schedules" / "zz-copy.yaml").write_text(GOOD)
    duplicate = run_cli(["apply", ".", "--auto-approve", "--prune"], cwd=repo, input="")
    assert_refused(
        duplicate,
        [
            "schedules/zz-copy.yaml:1:7: error: duplicate schedule 'good-digest' for target "
            "'local' (first defined at schedules/good.yaml:1)"
        ],
    )
    (repo / "schedules" / "zz-copy.yaml").unlink()
    (repo / "schedules" / "good.yaml").unlink()
    config = repo / "schedctl.yaml"
    config.write_text(config.read_text().replace("defaults:", "default:"))
    result = run_cli(["apply", ".", "--auto-approve", "--prune"], cwd=repo, input="")
    assert_refused(
        result, ["schedctl.yaml:2:1: error: unknown key 'default' (did you mean 'defaults'?)"]
    )
    assert summary(live_tasks(repo / seeded[0].name)) == seeded[1]
