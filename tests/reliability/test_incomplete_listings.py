"""A listing that says it is incomplete stops its target before any write (DESIGN §3), for both
platforms: `has_more` with no next page, a declared total above what the pages held, a next
page already read (as a cursor, a relative or absolute link, a Link header), an id listed twice,
and pages that never end (bounded by pages and by time).

Small stub servers stand in for the platform: the sandbox pages correctly and cannot say any of
this. Each records every request, so "nothing was written" is checked at the server.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from reconciler.reconcile import apply_plan, make_plan
from reconciler.targets import connect
from tests.conftest import run_cli
from tests.reconcile.conftest import FAST, OWNER, Repo, prompt_doc, tasks_path
from tests.reconcile.test_reconcile_sandbox import raw_task
from tests.reliability.servers import Answer, Seen, Server, serving

PLATFORMS = ("engine", "aitroop")  # the built-in ones, both served by the sandbox

Page = tuple[dict[str, Any], dict[str, str]]  # (body, headers)


def hand_made(platform: str, n: int) -> dict[str, Any]:
    return {**raw_task(platform, f"Hand-made {n}"), "id": f"h{n}"}


def cursor_of(seen: Seen) -> str | None:
    values = parse_qs(urlsplit(seen.path).query).get("cursor")
    return values[0] if values else None


def paged(platform: str, page: Callable[[str | None, str], Page]) -> Callable[[Seen], Answer]:
    """A platform whose listing is `page(cursor, collection path)`; writes answer 201 / 200."""
    path = tasks_path(platform)

    def respond(seen: Seen) -> Answer:
        if seen.method == "GET" and urlsplit(seen.path).path == path:
            body, headers = page(cursor_of(seen), path)
            return Answer(200, json.dumps(body).encode(), headers)
        if seen.method == "POST":
            return Answer(201, json.dumps({**json.loads(seen.body), "id": "new"}).encode())
        return Answer(200, b"{}")

    return respond


def shapes(platform: str) -> dict[str, tuple[Callable[[str | None, str], Page], str]]:
    """Each incomplete shape: its pages, and what the error says."""
    a, b, c = (hand_made(platform, n) for n in range(3))

    def more_without_cursor(cursor: str | None, path: str) -> Page:
        return {"items": [a, b], "has_more": True}, {}

    def nested_more_without_cursor(cursor: str | None, path: str) -> Page:
        if cursor is None:
            return {"data": [a], "meta": {"next_cursor": "p2"}}, {}
        return {"data": [b], "meta": {"hasMore": True}}, {}

    def total_above(cursor: str | None, path: str) -> Page:
        return {"items": [a, b], "next_cursor": None, "total": 3}, {}

    def count_above_over_pages(cursor: str | None, path: str) -> Page:
        if cursor is None:
            return {"results": [a], "next_cursor": "p2", "count": 3}, {}
        return {"results": [b, c][:1], "next_cursor": None}, {}

    def meta_total_above(cursor: str | None, path: str) -> Page:
        return {"data": [a, b, c], "meta": {"total_count": "4"}}, {}

    def repeated_cursor(cursor: str | None, path: str) -> Page:
        nxt = {None: "p2", "p2": "p3", "p3": "p2"}[cursor]
        return {"items": [{None: a, "p2": b, "p3": c}[cursor]], "next_cursor": nxt}, {}

    def same_link_written_twice(cursor: str | None, path: str) -> Page:
        # page 2 as a relative query, then as a root-relative link with its parameters reordered
        if cursor is None:
            return {"items": [a], "next": "?cursor=p2&limit=1"}, {}
        return {"items": [b], "links": {"next": f"{path}?limit=1&cursor=p2"}}, {}

    def link_header_back_to_page_one(cursor: str | None, path: str) -> Page:
        if cursor is None:
            return {"items": [a]}, {"Link": f'<{path}?cursor=p2>; rel="next"'}
        return {"items": [b]}, {"Link": f'<{path}>; rel="next"'}

    def id_listed_twice(cursor: str | None, path: str) -> Page:
        if cursor is None:
            return {"items": [a, b], "next_cursor": "p2"}, {}
        return {"items": [b, c], "next_cursor": None}, {}

    return {
        "has_more-without-cursor": (more_without_cursor, "says there is more (`has_more: true`)"),
        "nested-hasMore-without-cursor": (nested_more_without_cursor, "`meta.hasMore: true`"),
        "total-above": (total_above, "declares 3 object(s) (`total`) but the 1 page(s) held 2"),
        "count-above-over-pages": (count_above_over_pages, "(`count`) but the 2 page(s) held 2"),
        "meta-total-above": (meta_total_above, "declares 4 object(s) (`meta.total_count`)"),
        "repeated-cursor": (repeated_cursor, "page 3 names a next page already read ('p2')"),
        "same-link-written-twice": (same_link_written_twice, "names a next page already read"),
        "link-header-to-page-one": (link_header_back_to_page_one, "pages loop"),
        "id-listed-twice": (id_listed_twice, "page 2 lists id 'h1' again"),
    }


SHAPES = list(shapes("engine"))


def stub_repo(tmp_path: Path, server: Server, platform: str) -> Repo:
    repo = Repo(tmp_path, server.url, platform)
    repo.write("a", prompt_doc("alpha"), prompt_doc("beta"))
    return repo


def fine(platform: str) -> Callable[[str | None, str], Page]:
    """Paging that ends properly, with every claim in it true."""
    a, b = hand_made(platform, 0), hand_made(platform, 1)

    def page(cursor: str | None, path: str) -> Page:
        if cursor is None:
            return {"items": [a], "next": "?cursor=p2", "has_more": True, "total": 2}, {}
        return {"items": [b], "has_more": False, "next": "?cursor=p2", "total": 2}, {}

    return page


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_incomplete_listing_stops_its_target_before_any_write_and_the_others_go_on(
    tmp_path: Path, platform: str
) -> None:
    """One target per shape, each its own stub, and one whose listing is fine."""
    cases = {**shapes(platform), "fine": (fine(platform), "")}
    with ExitStack() as stack:
        servers = {
            name.replace("_", "-"): stack.enter_context(serving(paged(platform, pages)))
            for name, (pages, _) in cases.items()
        }
        targets = {}
        for name, server in servers.items():
            targets[name] = {"platform": platform, "url": server.url}
            if platform == "engine":
                targets[name]["instance"] = "acme"
        defaults = {"timezone": "UTC", "targets": list(targets)}
        config = {"owner": OWNER, "targets": targets, "defaults": defaults}
        (tmp_path / "schedctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (tmp_path / "schedules").mkdir()
        docs = [prompt_doc("alpha"), prompt_doc("beta")]
        (tmp_path / "schedules" / "a.yaml").write_text(yaml.safe_dump_all(docs))
        plan = run_cli(["plan"], cwd=tmp_path)
        applied = run_cli(["apply", "--auto-approve"], cwd=tmp_path, input="")
    for proc in (plan, applied):
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "Traceback" not in out
        lines = {x.split(" ", 2)[1]: x for x in proc.stdout.splitlines() if x.startswith("target ")}
        for name, (_, message) in cases.items():
            if name != "fine":
                line = lines[name.replace("_", "-")]
                assert f"ERROR: target '{name.replace('_', '-')}'" in line and message in line
                assert "nothing is written to this target" in line, line
    assert "target fine (" in plan.stdout and "2 to create" in plan.stdout
    assert "unreadable" not in plan.stdout  # the stubs' objects are sound
    for name, server in servers.items():
        methods = [s.method for s in server.seen]
        if name == "fine":  # the rest goes on: its two creates were sent
            assert methods.count("POST") == 2, methods
        else:
            assert set(methods) == {"GET"}, (name, [(s.method, s.path) for s in server.seen])


# ---------------------------------------------------------------------------------------------
# Pages that never end: bounded by pages and by time


def endless(delay: float = 0.0) -> Callable[[str | None, str], Page]:
    counter = itertools.count()

    def page(cursor: str | None, path: str) -> Page:
        time.sleep(delay)
        return {"items": [], "next_cursor": f"c{next(counter)}"}, {}

    return page


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("bound", ["pages", "seconds"])
def test_endless_new_cursors_stop_the_target_by_pages_or_time(
    tmp_path: Path, platform: str, bound: str
) -> None:
    with serving(paged(platform, endless(0.02 if bound == "seconds" else 0.0))) as server:
        repo = stub_repo(tmp_path, server, platform)
        project = repo.project()
        with connect(project.config, project.root, ["t"], retry=FAST) as conns:
            provider: Any = conns["t"].provider
            if bound == "pages":
                provider.max_pages = 25
            else:
                provider.max_listing_seconds = 0.5
            started = time.monotonic()
            plan = make_plan(project, conns)
            took = time.monotonic() - started
            result = apply_plan(plan, conns)
    error = str(plan.targets[0].error)
    if bound == "pages":
        assert "no end after 25 pages, each naming a new next page" in error, error
        assert len(server.seen) == 25
    else:
        assert "no end after 0.5 s (" in error and "pages read, the last naming 'c" in error
        assert 0.5 <= took < 3
    assert plan.failed and not plan.targets[0].changes
    assert not result.ok and result.errors and not result.results
    assert {s.method for s in server.seen} == {"GET"}


@pytest.mark.slow
def test_the_default_page_bound_stops_an_endless_listing_in_the_cli(tmp_path: Path) -> None:
    with serving(paged("engine", endless())) as server:
        repo = stub_repo(tmp_path, server, "engine")
        plan = run_cli(["plan"], cwd=repo.root, timeout=300)
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert "no end after 10,000 pages, each naming a new next page" in plan.stdout
    assert "check the platform's paging" in plan.stdout and "Traceback" not in plan.stderr
    assert len(server.seen) == 10_000
