"""`schedctl import --out` writes only new, real files, and only files that `validate` accepts:
never through a symbolic link (dangling or not), never a file that would then fail validation.
Real processes against the sandbox, and a stub where the sandbox cannot hold the task.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo
from tests.reconcile.test_reconcile_sandbox import raw_post, raw_task
from tests.reliability.servers import Answer, Seen, serving


def import_into(repo: Repo, out: str = "schedules/imported") -> tuple[int, str]:
    proc = run_cli(["import", "--target", "t", "--out", out], cwd=repo.root, input="")
    out_text = proc.stdout + proc.stderr
    assert "Traceback" not in out_text, out_text
    return proc.returncode, out_text


@pytest.mark.parametrize("kind", ["dangling", "to-a-file-outside"])
def test_import_never_writes_through_a_symlink(
    repo: Repo, sandbox: RunningSandbox, kind: str
) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Linked task"))
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Plain task"))
    outside = repo.root / "outside"  # outside the output directory (and the schedule globs)
    outside.mkdir()
    victim = outside / "victim.yaml"
    if kind == "to-a-file-outside":
        victim.write_text("original: content\n")
    out = repo.root / "schedules" / "imported"
    out.mkdir(parents=True)
    link = out / "linked-task.yaml"
    link.symlink_to(victim)

    code, text = import_into(repo)
    assert code == 1, text
    shown = "schedules/imported/linked-task.yaml"  # as --out named it
    assert f"{shown} is a symbolic link (to {victim}): not written through" in text
    if kind == "dangling":
        assert not victim.exists()  # nothing was created at the far end
    else:
        assert victim.read_text() == "original: content\n"
    assert link.is_symlink() and sorted(p.name for p in out.iterdir()) == [
        "linked-task.yaml",
        "plain-task.yaml",
    ]  # the other task was written, as a regular file
    assert not (out / "plain-task.yaml").is_symlink()


@pytest.mark.parametrize("dangling", [True, False])
def test_import_refuses_an_output_directory_that_is_a_symlink(
    repo: Repo, sandbox: RunningSandbox, dangling: bool
) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Some task"))
    elsewhere = repo.root / "elsewhere"
    if not dangling:
        elsewhere.mkdir()
    out = repo.root / "schedules" / "imported"
    out.symlink_to(elsewhere, target_is_directory=True)
    code, text = import_into(repo)
    assert code == 1, text
    assert text.startswith("error: target")  # named with its target and config
    assert f"schedules/imported is a symbolic link (to {elsewhere})" in text
    assert "pass --out with the directory itself" in text
    assert not elsewhere.exists() if dangling else list(elsewhere.iterdir()) == []


def test_a_live_task_that_would_make_an_invalid_file_is_skipped_with_the_reason(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Fine task"))
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "T" * 250))  # titles: at most 200
    if repo.platform == "engine":  # the engine takes a cron that never fires; validate does not
        never = raw_task("engine", "Never")
        never["schedule"] = {"type": "cron", "expression": "0 0 30 2 *"}
        raw_post(sandbox, "engine", never)
    code, text = import_into(repo)
    assert code == 0, text
    out = repo.root / "schedules" / "imported"
    assert sorted(p.name for p in out.iterdir()) == ["fine-task.yaml"]
    lines = text.splitlines()
    [long_title] = [line for line in lines if line.startswith("skipped  ttttt")]
    # no schemas/ in this repository, so no $schema line: the title is on line 2
    assert "the file would not validate: line 2: title:" in long_title
    assert "1 to 200 characters" in long_title and "(250 characters)" in long_title
    if repo.platform == "engine":
        [never] = [line for line in lines if line.startswith("skipped  never")]
        assert "cron '0 0 30 2 *' can never fire (no such date)" in never
    validated = run_cli(["validate"], cwd=repo.root)  # what was written passes validate
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "1 schedule in 1 file is valid" in validated.stdout


def test_a_prompt_over_the_file_size_limit_is_skipped_not_written(tmp_path: Path) -> None:
    """A platform may hold a prompt larger than a schedule file may be; the sandbox limits
    request bodies, so a stub lists such a task."""
    tasks = [
        {"id": "st_1", "name": "Huge", "prompt": "x" * 1_100_000,
         "schedule": {"type": "cron", "expression": "0 9 * * *"}},
        {"id": "st_2", "name": "Small", "prompt": "hi",
         "schedule": {"type": "cron", "expression": "0 9 * * *"}},
    ]  # fmt: skip

    def respond(seen: Seen) -> Answer:
        return Answer(200, json.dumps(tasks).encode())

    with serving(respond) as server:
        repo = Repo(tmp_path, server.url, "engine")
        code, text = import_into(repo)
    assert code == 0, text
    out = tmp_path / "schedules" / "imported"
    assert sorted(p.name for p in out.iterdir()) == ["small.yaml"]
    [huge] = [line for line in text.splitlines() if line.startswith("skipped  huge")]
    assert "the file would not validate: line 1: file is" in huge and "byte limit" in huge
    assert yaml.safe_load((out / "small.yaml").read_text())["action"] == {"prompt": "hi"}
