"""A third platform registered through the entry point, with no edit outside its own folder.

tests/platforms/plugin_platform/ is tinycron, shaped as a plugin would ship it: provider,
rules and a sandbox API on the shared server. It is installed for each test as a temporary
dist-info whose entry_points.txt names it, on sys.path (in process) or PYTHONPATH (the CLI as
a user runs it). A second entry point names its bare provider class, the group's first form.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler import platforms
from reconciler.runner.semantics import semantics_for_platform
from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.conftest import ROOT, run_cli
from tests.runner.conftest import item

PLUGIN = "tests.platforms.plugin_platform"
ENTRY_POINTS = {"tinycron": f"{PLUGIN}:PLATFORM", "legacy": f"{PLUGIN}.provider:TinycronProvider"}


def install(site: Path, entries: dict[str, str]) -> Path:
    """A distribution registering `entries` under schedctl.providers, found on `site`."""
    dist = site / "schedctl_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: schedctl-test-plugin\nVersion: 0.1\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (dist / "entry_points.txt").write_text(f"[{platforms.GROUP}]\n{lines}")
    return site


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI process that has the plugin installed."""
    site = install(tmp_path / "site", ENTRY_POINTS)
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin installed in this process, for the length of the test."""
    monkeypatch.syspath_prepend(str(install(tmp_path / "site", ENTRY_POINTS)))
    platforms.refresh()
    yield
    platforms.refresh()  # the next lookups, after sys.path is restored, no longer see it


def repo(root: Path) -> Path:
    config = {
        "owner": "team-t",
        "schedules": ["schedules/*.yaml"],
        "targets": {"local": {"platform": "tinycron", "sandbox": ".schedctl/tinycron.db"}},
    }
    docs = [
        {"name": "hourly", "schedule": {"cron": "0 * * * *"}, "action": {"prompt": "Check"}},
        {
            "name": "morning",
            "title": "Morning digest",
            "schedule": {"daily": "09:00", "timezone": "Europe/Rome"},
            "action": {"prompt": "Summarise"},
        },
    ]
    (root / "schedules").mkdir(parents=True)
    (root / "schedctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "schedules" / "jobs.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root


def runs(output: str) -> list[str]:
    """The timeline of `run --simulate`, without the log lines (they carry the wall time)."""
    return [line for line in output.splitlines() if line.startswith("2026-")]


def cli(args: list[str], cwd: Path, env: dict[str, str], code: int = 0) -> str:
    proc = run_cli(args, cwd=cwd, env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout + proc.stderr


def test_validate_plan_apply_status_next_and_run_with_a_third_platform(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    root = repo(tmp_path / "repo")
    assert "2 schedules" in cli(["validate"], root, plugin_env)
    assert "Plan: 2 to create" in cli(["plan", "--detailed-exitcode"], root, plugin_env, code=2)
    cli(["apply", "--auto-approve"], root, plugin_env)
    # What tinycron's sandbox stored reads back equal to the files: nothing left to do.
    assert "No changes" in cli(["plan", "--detailed-exitcode"], root, plugin_env)
    status = cli(["status"], root, plugin_env)
    assert status.count("in sync") == 2 and "Morning digest" in status
    # Its notes for `schedctl next` come from its rules.py.
    assert "tinycron fires on its one-minute tick" in cli(["next", "hourly"], root, plugin_env)

    # Its run rules: a job disables on its first error (engine's would allow three).
    window = ["--simulate", "2026-01-05..+1d", "--executor", "command:false"]
    run = cli(["run", "--semantics", "tinycron", *window], root, plugin_env)
    hourly = [line for line in run.splitlines() if "  hourly  " in line]
    assert len(hourly) == 1 and "auto-disabled after 1 consecutive error" in hourly[0]
    by_default = cli(["run", *window], root, plugin_env)  # the target's platform's rules
    assert runs(by_default) == runs(run)
    engine = cli(["run", "--semantics", "engine", *window], root, plugin_env)
    assert len([line for line in engine.splitlines() if "  hourly  " in line]) == 3


def test_its_offline_checks_come_from_its_folder(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    root = repo(tmp_path / "repo")
    often = "name: often\nschedule:\n  every: 15m\naction: {prompt: Ping}\n"
    (root / "schedules" / "often.yaml").write_text(often)
    out = cli(["validate"], root, plugin_env, code=1)
    assert (
        "schedules/often.yaml:3:10: error: often: tinycron target 'local': tinycron runs crons only"
        in out
    )


def test_the_choices_init_and_the_sandbox_command_offer_it(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    assert "[engine|aitroop|legacy|tinycron]" in cli(["run", "--help"], tmp_path, plugin_env)
    new = tmp_path / "new"
    cli(["init", str(new), "--platform", "tinycron", "--owner", "team-t"], tmp_path, plugin_env)
    config = (new / "schedctl.yaml").read_text()
    assert "local: {platform: tinycron, sandbox:" in config
    assert "# prod: {platform: tinycron, url: https://tinycron.example" in config
    assert "TINYCRON_TOKEN" in (new / ".github/workflows/schedctl-apply.yml").read_text()
    assert "1 schedule in 1 file" in cli(["validate"], new, plugin_env)

    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--platform", "tinycron"],
        env={**os.environ, **plugin_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            assert httpx.get(f"{url}/api/jobs", timeout=10).json() == []
            title = httpx.get(f"{url}/openapi.json", timeout=10).json()["info"]["title"]
            assert title == "tinycron jobs (schedctl sandbox)"
        finally:
            server.terminate()


@pytest.mark.usefixtures("registered")
def test_in_process_the_registry_lists_and_serves_it() -> None:
    from tests.platforms.plugin_platform import PLATFORM

    assert platforms.get("tinycron") is PLATFORM
    assert platforms.names() == ["engine", "aitroop", "legacy", "tinycron"]
    assert platforms.names("sandbox") == ["engine", "aitroop", "tinycron"]
    assert platforms.default_name() == "engine"
    assert platforms.get("tinycron").provider.name == "tinycron"
    rules = semantics_for_platform("tinycron")
    assert rules.max_errors(item("a", {"cron": "0 * * * *"}).schedule) == 1
    with running_sandbox(SandboxOptions(platform="tinycron", seed=0)) as sandbox:
        body = {"label": "A <<t/a>>", "cron": "0 9 * * *", "tz": "Europe/Rome", "prompt": "p"}
        created = httpx.post(f"{sandbox.url}/api/jobs", json=body, timeout=10).json()
        assert created["next"].endswith(":00:00.000Z") and created["id"].startswith("job_")
        bad = httpx.post(f"{sandbox.url}/api/jobs", json={**body, "cron": "61 * * * *"}, timeout=10)
        assert bad.status_code == 422 and "invalid schedule" in bad.json()["error"]


@pytest.mark.usefixtures("registered")
def test_a_bare_provider_class_gets_neutral_rules_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    legacy = platforms.get("legacy")
    assert legacy.provider.name == "tinycron" and legacy.rules is None
    assert legacy.sandbox is None and legacy.init_target is None and not legacy.next_notes
    with caplog.at_level(logging.WARNING, logger="reconciler.runner"):
        rules = semantics_for_platform("legacy")
    assert "platform 'legacy' states no run rules" in caplog.text
    # Neutral, not engine's: errors never disable unless the file says max_retries.
    plain: Any = item("a", {"every": "1m"}, history="fresh").schedule
    assert rules.max_errors(plain) is None
    assert rules.max_errors(item("a", {"every": "1m"}, max_retries=2).schedule) == 2
    assert rules.conversation(plain) == "fresh"
    assert not rules.below_minimum(plain) and rules.notes(plain) == []


def test_a_bare_provider_class_runs_neutral_in_the_cli(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    (root / "schedules").mkdir(parents=True)
    config = {"targets": {"old": {"platform": "legacy", "url": "https://legacy.example"}}}
    (root / "schedctl.yaml").write_text(yaml.safe_dump(config))
    doc = {"name": "hourly", "schedule": {"cron": "0 * * * *"}, "action": {"prompt": "Check"}}
    (root / "schedules" / "hourly.yaml").write_text(yaml.safe_dump(doc))
    assert "1 schedule in 1 file" in cli(["validate"], root, plugin_env)
    window = ["--simulate", "2026-01-05..+1d", "--executor", "command:false"]
    out = cli(["run", *window], root, plugin_env)
    assert "platform 'legacy' states no run rules" in out
    assert len([line for line in out.splitlines() if "  hourly  " in line]) == 24
    assert "auto-disabled" not in out
