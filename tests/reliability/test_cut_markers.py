"""A platform that cuts the field the marker sits in (aitroop's name, engine's description) must
not make schedctl create a second copy (DESIGN §3): the write is an error naming the field and
its length, the object just created is deleted again (or reported with its id when that fails,
and then seen in the next plan as a conflict), and an ambiguous create is not re-sent. For both
platforms, as real processes, against the sandbox behind a proxy that cuts what is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc, tasks_path
from tests.reliability.conftest import live
from tests.reliability.servers import DROP, Answer, Seen, Server, forwarding

LIMIT = {"aitroop": ("name", 64), "engine": ("description", 200)}


def long_doc(platform: str, name: str = "alpha") -> dict[str, Any]:
    """A schedule whose marker field, as sent, is longer than the stub keeps."""
    doc = prompt_doc(name)
    if platform == "aitroop":
        doc["title"] = "A rather long title for a weekly report that goes on and on"  # 59
    else:
        doc["description"] = "Why this task exists. " * 9  # 198, plus the marker
    return doc


def sent_length(platform: str, name: str = "alpha") -> int:
    doc = long_doc(platform, name)
    marker = f"[[team-a/{name}]]" if platform == "aitroop" else f"[schedctl:team-a/{name}]"
    text = doc["title"] if platform == "aitroop" else doc["description"].rstrip()
    return len(text) + (1 if platform == "aitroop" else 2) + len(marker)


Rule = Callable[[Seen], Answer | None]


@pytest.fixture
def cutting(sandbox: RunningSandbox, platform: str) -> Iterator[tuple[Server, dict[str, Rule]]]:
    """A proxy that cuts the marker field of every write to LIMIT; `rules` may answer instead."""
    field, size = LIMIT[platform]
    path = tasks_path(platform)
    rules: dict[str, Rule] = {}

    def fail(seen: Seen) -> Answer | None:
        for rule in rules.values():
            answer = rule(seen)
            if answer is not None:
                return answer
        if seen.method not in ("POST", "PUT", "PATCH") or not urlsplit(seen.path).path.startswith(
            path
        ):
            return None
        body = json.loads(seen.body)
        if isinstance(body.get(field), str):
            body[field] = body[field][:size]
        got = httpx.request(seen.method, sandbox.url + seen.path, json=body, timeout=30)
        if rules.get("drop-create") and seen.method == "POST":
            return DROP  # created, then the answer is lost
        return Answer(got.status_code, got.content)

    with forwarding(sandbox.url, fail) as proxy:
        yield proxy, rules


def apply(repo: Repo) -> Any:
    proc = run_cli(["apply", "--auto-approve"], cwd=repo.root, input="")
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def methods(proxy: Server, since: int = 0) -> list[str]:
    return [s.method for s in proxy.seen[since:] if s.method != "GET"]


def test_a_cut_marker_is_an_error_and_the_copy_is_deleted_so_no_second_copy_lives(
    tmp_path: Path, sandbox: RunningSandbox, platform: str, cutting: tuple[Server, Any]
) -> None:
    proxy, _ = cutting
    field, size = LIMIT[platform]
    repo = Repo(tmp_path, proxy.url, platform)
    repo.write("a", long_doc(platform))
    for _ in range(2):
        mark = len(proxy.seen)
        proc = apply(repo)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert (
            f"the platform cut `{field}` to {size} characters (schedctl sent "
            f"{sent_length(platform)}) and dropped the ownership marker" in proc.stdout
        ), proc.stdout
        assert "was deleted again, so that no unmarked copy is left behind" in proc.stdout
        assert methods(proxy, mark) == ["POST", "DELETE"]
        assert live(sandbox, platform) == []  # no copy, after either apply


def test_when_the_cut_copy_cannot_be_deleted_it_is_reported_and_not_created_again(
    tmp_path: Path, sandbox: RunningSandbox, platform: str, cutting: tuple[Server, Any]
) -> None:
    proxy, rules = cutting
    rules["no-delete"] = lambda seen: (
        Answer(403, b'{"error": "deletes need an admin"}') if seen.method == "DELETE" else None
    )
    repo = Repo(tmp_path, proxy.url, platform)
    repo.write("a", long_doc(platform))
    first = apply(repo)
    assert first.returncode == 1, first.stdout + first.stderr
    [copy] = live(sandbox, platform)
    assert f"the object it created (id {copy['id']}) could not be deleted" in first.stdout
    assert "403: deletes need an admin" in first.stdout and "delete it by hand" in first.stdout

    mark = len(proxy.seen)
    plan = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    second = apply(repo)
    assert plan.returncode == 2 and second.returncode == 1, second.stdout + second.stderr
    assert f"  ! alpha  '{long_doc(platform)['title']}'  (id {copy['id']})" in plan.stdout
    assert "is this schedule with its marker cut off" in plan.stdout
    assert f"the platform kept {LIMIT[platform][1]} of {sent_length(platform)} characters" in (
        plan.stdout
    )
    assert "0 to create" in plan.stdout and methods(proxy, mark) == []
    assert [t["id"] for t in live(sandbox, platform)] == [copy["id"]]  # still one copy only


def test_an_ambiguous_create_whose_marker_was_cut_is_not_sent_again(
    tmp_path: Path, sandbox: RunningSandbox, platform: str, cutting: tuple[Server, Any]
) -> None:
    proxy, rules = cutting
    rules["drop-create"] = lambda seen: None  # the flag: POSTs are forwarded, then dropped
    repo = Repo(tmp_path, proxy.url, platform)
    repo.write("a", long_doc(platform), prompt_doc("beta"))
    proc = apply(repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    field, size = LIMIT[platform]
    assert f"cut `{field}` to {size} characters" in proc.stdout and "deleted again" in proc.stdout
    assert "+ t/beta create: ok (adopted)" in proc.stdout  # its marker was intact
    assert methods(proxy).count("POST") == 2 and methods(proxy).count("DELETE") == 1
    assert len(live(sandbox, platform)) == 1


def test_an_update_whose_marker_was_cut_is_an_error_and_the_next_plan_creates_nothing(
    tmp_path: Path, sandbox: RunningSandbox, platform: str, cutting: tuple[Server, Any]
) -> None:
    proxy, _ = cutting
    repo = Repo(tmp_path, proxy.url, platform)
    repo.write("a", prompt_doc("alpha"))
    assert apply(repo).returncode == 0
    [task] = live(sandbox, platform)
    repo.write("a", long_doc(platform))
    proc = apply(repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"cut `{LIMIT[platform][0]}` to {LIMIT[platform][1]} characters" in proc.stdout
    assert f"the object (id {task['id']}) is no longer marked as schedctl's" in proc.stdout
    mark = len(proxy.seen)
    plan = run_cli(["plan"], cwd=repo.root)
    assert "is this schedule with its marker cut off" in plan.stdout, plan.stdout
    assert "0 to create" in plan.stdout and methods(proxy, mark) == []
    assert [t["id"] for t in live(sandbox, platform)] == [task["id"]]
