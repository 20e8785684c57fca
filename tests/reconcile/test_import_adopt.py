"""`schedctl import` over a repository that has files already, as a user runs it: existing
files are adopted and kept, keys never collide, the editor hint leads to a schema that exists,
and an imported engine interval fires when the platform says it will."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from reconciler.forms import utc_iso
from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc
from tests.reconcile.test_reconcile_import import aitroop_tasks, engine_tasks
from tests.reconcile.test_reconcile_sandbox import raw_list, raw_post, raw_task

OUT = "schedules/live"


def cli(repo: Repo, *args: str) -> Any:
    return run_cli(list(args), cwd=repo.root)


def files(repo: Repo) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((repo.root / OUT).glob("*.yaml"))}


def seed(repo: Repo, sandbox: RunningSandbox) -> int:
    tasks = engine_tasks() if repo.platform == "engine" else aitroop_tasks()
    for body in tasks:
        raw_post(sandbox, repo.platform, body)
    return len(tasks)


def test_adopting_over_files_that_exist_keeps_them_and_plan_is_clean(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    count = seed(repo, sandbox)
    first = cli(repo, "import", "--out", OUT)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("written") == count
    # A reviewer's touch before the files are committed: it must survive the adoption.
    (name, text), *_ = files(repo).items()
    (repo.root / OUT / name).write_bytes(text + b"# reviewed\n")
    before = files(repo)
    conflicts = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert conflicts["targets"][0]["summary"]["conflict"] == count

    adopted = cli(repo, "import", "--out", OUT, "--adopt")
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    assert adopted.stdout.count("adopted") == count and "written" not in adopted.stdout
    assert files(repo) == before  # nothing rewritten
    clean = cli(repo, "plan", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert all("team-a/" in json.dumps(t) for t in raw_list(sandbox, repo.platform))

    again = cli(repo, "import", "--out", OUT, "--adopt")  # once adopted, nothing left to do
    assert again.returncode == 0 and "adopted" not in again.stdout
    assert again.stdout.count("already this owner's") == count


def test_force_rewrites_the_files_that_exist(repo: Repo, sandbox: RunningSandbox) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Morning digest"))
    assert cli(repo, "import", "--out", OUT).returncode == 0
    path = repo.root / OUT / "morning-digest.yaml"
    written = path.read_text()
    path.write_text(written + "# local edit\n")
    kept = cli(repo, "import", "--out", OUT)
    assert "--force rewrites it" in kept.stdout and path.read_text().endswith("# local edit\n")
    forced = cli(repo, "import", "--out", OUT, "--force", "--adopt")
    assert forced.returncode == 0 and "adopted" in forced.stdout
    assert path.read_text() == written


def test_keys_from_titles_never_take_a_key_the_repository_has(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    # The repository has `daily-report` already, for another schedule not applied yet.
    repo.write("mine", {**prompt_doc("daily-report"), "title": "Something else"})
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Daily report"))
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Daily Report!"))
    # And a file in the output directory describes a third task, not on the platform.
    (repo.root / OUT).mkdir(parents=True)
    stranger = repo.root / OUT / "daily-report-2.yaml"
    stranger.write_text(yaml.safe_dump({**prompt_doc("daily-report-2"), "title": "A stranger"}))
    stranger_text = stranger.read_text()

    imported = cli(repo, "import", "--out", OUT, "--adopt")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    keys = sorted(yaml.safe_load(p.read_text())["name"] for p in (repo.root / OUT).glob("*.yaml"))
    assert keys == ["daily-report-2", "daily-report-3", "daily-report-4"]
    assert stranger.read_text() == stranger_text
    stranger.unlink()  # not a live task: it would be created
    assert cli(repo, "validate").returncode == 0  # no key twice
    plan = json.loads(cli(repo, "plan", "--format", "json").stdout)["targets"][0]
    assert plan["summary"]["create"] == 1 and plan["in_sync"] == 2
    assert [c["key"] for c in plan["changes"]] == ["daily-report"]


def test_the_schema_line_leads_to_a_file_that_exists_or_is_left_out(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Morning digest"))
    assert cli(repo, "import", "--out", "schedules/a/b").returncode == 0
    bare = (repo.root / "schedules/a/b/morning-digest.yaml").read_text()
    assert "$schema" not in bare and yaml.safe_load(bare)["name"] == "morning-digest"

    (repo.root / "schedules/a/b/morning-digest.yaml").unlink()  # else its key is taken
    assert cli(repo, "schema", "--out", "schemas").returncode == 0
    assert cli(repo, "import", "--out", "schedules/c/d").returncode == 0
    path = repo.root / "schedules/c/d/morning-digest.yaml"
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../../schemas/schedule.schema.json"
    assert (path.parent / first.split("=", 1)[1]).resolve().is_file()


def test_an_imported_engine_interval_keeps_its_anchor_and_next_agrees(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    if repo.platform != "engine":
        return  # aitroop has no anchor to keep: it always counts from creation
    base = {"prompt": "Poll.", "name": "Hourly poll"}
    raw_post(sandbox, "engine", {**base, "schedule": {"type": "interval", "everyMs": 3_600_000}})
    anchored = {"type": "interval", "everyMs": 5_400_000, "anchorAt": "2026-01-01T00:20:00Z"}
    raw_post(sandbox, "engine", {**base, "name": "Anchored", "schedule": anchored})
    live = {t["name"]: t for t in raw_list(sandbox, "engine")}

    imported = cli(repo, "import", "--out", OUT, "--adopt")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    doc = yaml.safe_load((repo.root / OUT / "hourly-poll.yaml").read_text())
    assert doc["schedule"] == {"every": "1h", "anchor": utc_iso(live["Hourly poll"]["createdAt"])}
    assert yaml.safe_load((repo.root / OUT / "anchored.yaml").read_text())["schedule"] == {
        "every": "1h30m",
        "anchor": "2026-01-01T00:20:00Z",
    }
    assert cli(repo, "plan", "--detailed-exitcode").returncode == 0

    for key, title in (("hourly-poll", "Hourly poll"), ("anchored", "Anchored")):
        platform_next = datetime.fromisoformat(live[title]["nextRunAt"].replace("Z", "+00:00"))
        start = (platform_next - timedelta(seconds=1)).isoformat()
        shown = cli(repo, "next", key, "--from", start, "-n", "1", "--format", "json")
        assert shown.returncode == 0, shown.stderr
        (fire,) = json.loads(shown.stdout)[0]["fires"]
        assert datetime.fromisoformat(fire) == platform_next, key


def test_importing_needs_no_repository_files_and_adds_none_elsewhere(
    repo: Repo, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, "Morning digest"))
    proc = run_cli(["import", str(repo.root), "--adopt"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (repo.root / "schedules" / "t" / "morning-digest.yaml").is_file()
