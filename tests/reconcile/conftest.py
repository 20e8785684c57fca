"""Fixtures for reconcile tests: a sandbox platform on loopback and a schedules repo in tmp."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.http import RetryPolicy
from reconciler.loader import Project, load_project
from reconciler.plan import Plan
from reconciler.reconcile import ApplyResult, apply_plan, make_plan
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from reconciler.targets import connect
from reconciler.validate import validate_project

OWNER = "team-a"
# Fast retries: the sandbox answers faults with Retry-After, dropped connections get backoff.
FAST = RetryPolicy(attempts=8, backoff=0.01, backoff_max=0.05)


@pytest.fixture(params=["engine", "aitroop"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox(platform: str) -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxOptions(platform=platform, seed=7, retry_after=0)) as running:  # type: ignore[arg-type]
        yield running


class Repo:
    """A schedules repository with one target `t` pointing at a sandbox URL."""

    def __init__(self, root: Path, url: str, platform: str, owner: str = OWNER) -> None:
        self.root = root
        self.platform = platform
        target: dict[str, Any] = {"platform": platform, "url": url}
        if platform == "engine":
            target["instance"] = "acme"
        config = {
            "owner": owner,
            "schedules": ["schedules/**/*.yaml"],
            "defaults": {"timezone": "Europe/Rome", "targets": ["t"]},
            "targets": {"t": target},
        }
        (root / "schedules").mkdir(parents=True, exist_ok=True)
        (root / "schedctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def config(self) -> Path:
        return self.root / "schedctl.yaml"

    def write(self, name: str, *docs: dict[str, Any]) -> Path:
        path = self.root / "schedules" / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
        return path

    def remove(self, name: str) -> None:
        (self.root / "schedules" / f"{name}.yaml").unlink()

    def project_unvalidated(self) -> Project:
        return load_project([], str(self.config))

    def project(self) -> Project:
        project = load_project([], str(self.config))
        project.diagnostics = validate_project(project)
        assert not project.errors, [str(d) for d in project.errors]
        return project

    def plan(self, *, prune: bool = False) -> Plan:
        project = self.project()
        with connect(project.config, project.root, ["t"], retry=FAST) as conns:
            return make_plan(project, conns, prune=prune)

    def apply(self, *, prune: bool = False, concurrency: int = 8) -> tuple[Plan, ApplyResult]:
        project = self.project()
        with connect(
            project.config, project.root, ["t"], concurrency=concurrency, retry=FAST
        ) as conns:
            plan = make_plan(project, conns, prune=prune)
            return plan, apply_plan(plan, conns, concurrency=concurrency)


def prompt_doc(name: str, prompt: str | None = None, **schedule: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": name.replace("-", " ").title(),
        "schedule": schedule or {"daily": "09:00"},
        "action": {"prompt": prompt or f"Do {name}."},
    }


@pytest.fixture
def repo(tmp_path: Path, sandbox: RunningSandbox, platform: str) -> Repo:
    return Repo(tmp_path, sandbox.url, platform)


def writes(log: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in log if m != "GET"]


def tasks_path(platform: str) -> str:
    return "/api/instances/acme/scheduled-tasks" if platform == "engine" else "/api/scheduled-tasks"


# The fields a create may send, per platform (the documents' request bodies).
WRITABLE = {
    "engine": {"name", "description", "prompt", "schedule", "enabled", "outboundChannel",
               "outboundTarget", "keepHistory", "deleteAfterRun", "maxRetries"},
    "aitroop": {"name", "enabled", "schedule_type", "schedule_config", "timezone", "action_type",
                "action_config"},
}  # fmt: skip


def writable(platform: str, task: dict[str, Any]) -> dict[str, Any]:
    """What of a live task's body a create takes: a second copy of it, made by hand."""
    return {k: v for k, v in task.items() if k in WRITABLE[platform]}
