"""Fixtures for the reliability suite: the reconcile suite's repo and sandboxes, and a few helpers
for reading a sandbox's state raw (bypassing schedctl, so the checks do not trust its code)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from reconciler.sandbox import RunningSandbox
from tests.reconcile.conftest import platform, repo, sandbox, tasks_path
from tests.sandbox.fixtures import sandbox_factory

__all__ = ["platform", "repo", "sandbox", "sandbox_factory"]

Task = dict[str, Any]


def listing(sandbox: RunningSandbox, path: str, token: str | None = None) -> list[Task]:
    """Every object under a collection path, straight from the sandbox (all pages)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out: list[Task] = []
    params: dict[str, str] = {"limit": "500"}
    while True:
        response = httpx.get(sandbox.url + path, params=params, headers=headers, timeout=30)
        response.raise_for_status()
        body = response.json()
        if isinstance(body, list):
            return out + body
        out.extend(body["items"])
        if not body.get("next_cursor"):
            return out
        params = {"limit": "500", "cursor": body["next_cursor"]}


def live(sandbox: RunningSandbox, platform: str, token: str | None = None) -> list[Task]:
    return listing(sandbox, tasks_path(platform), token)


def marker_of(platform: str, task: Task) -> str | None:
    """`owner/key` of a live object's schedctl marker, read the way the platform docs place it."""
    if platform == "engine":
        last = (task.get("description") or "").rstrip().rsplit("\n", 1)[-1]
        if last.startswith("[schedctl:") and last.endswith("]"):
            return last[len("[schedctl:") : -1]
        return None
    name = str(task["name"]).rstrip()
    if name.endswith("]]") and " [[" in name:
        return name.rsplit(" [[", 1)[1][:-2]
    return None


def owned_keys(platform: str, tasks: list[Task], owner: str) -> Counter[str]:
    """How many live objects carry `owner`'s marker, per key."""
    keys: Counter[str] = Counter()
    for task in tasks:
        marker = marker_of(platform, task)
        if marker is not None and marker.split("/")[0] == owner:
            keys[marker.split("/", 1)[1]] += 1
    return keys


def write_paths(log: list[tuple[str, str]]) -> list[str]:
    return [path for method, path in log if method != "GET"]


def touched_ids(log: list[tuple[str, str]]) -> set[str]:
    """Every path segment of a request that writes: ids PATCHed, PUT, DELETEd or run."""
    return {segment for path in write_paths(log) for segment in path.split("/")}
