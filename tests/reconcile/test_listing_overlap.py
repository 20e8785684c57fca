"""The listing's overlap of conversion with round trips (issue 5): turns, the `waiting` hook."""

from __future__ import annotations

import gc
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.forms import Json, LiveTask
from reconciler.http import ApiClient, RetryPolicy
from reconciler.model import Target
from reconciler.platforms.engine.provider import EngineProvider

from .conftest import Repo


def remote(i: int) -> Json:
    return {"id": f"t{i}", "name": f"Task {i}", "description": "", "prompt": "p",
            "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "UTC"}}  # fmt: skip


def test_waiting_is_called_once_per_attempt_when_the_transport_does_not_trace() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json=[])])
    api = ApiClient(
        "http://h",
        transport=httpx.MockTransport(lambda request: next(answers)),
        retry=RetryPolicy(attempts=3, backoff=0.0),
        sleep=lambda seconds: None,
    )
    calls: list[int] = []
    api.send("GET", "tasks", waiting=lambda: calls.append(1))
    assert len(calls) == 2


@pytest.fixture
def slow_server() -> Iterator[str]:
    """Loopback HTTP that answers every GET with [] after 0.3 s."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(0.3)
            body = b"[]"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_waiting_comes_when_the_request_is_written_not_when_the_answer_came(
    slow_server: str,
) -> None:
    with ApiClient(slow_server) as api:
        start = time.perf_counter()
        told: list[float] = []
        api.send("GET", "tasks", waiting=lambda: told.append(time.perf_counter() - start))
        answered = time.perf_counter() - start
    assert len(told) == 1
    assert told[0] < 0.15 < 0.25 < answered  # a real connection says so before the answer


def test_a_page_is_converted_only_once_the_next_request_is_out() -> None:
    pages = [[remote(i) for i in range(p * 3, p * 3 + 3)] for p in range(4)]
    events: list[tuple[str, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params.get("cursor", "0"))
        nxt = str(index + 1) if index + 1 < len(pages) else None
        return httpx.Response(200, json={"items": pages[index], "next_cursor": nxt})

    api = ApiClient("http://h", transport=httpx.MockTransport(handler))
    send = api.send

    def counted_send(*args: Any, waiting: Any = None, **kwargs: Any) -> httpx.Response:
        def told() -> None:
            events.append(("request out", sum(1 for e in events if e[0] == "request out") + 1))
            waiting()

        return send(*args, waiting=told if waiting else None, **kwargs)

    api.send = counted_send  # type: ignore[method-assign]
    target = Target(platform="engine", url="http://h", instance="acme")
    provider = EngineProvider(api, target, target_name="t", owner="team-a")
    read = provider._read
    converter: set[int] = set()

    def converting(item: Json, hints: Any = None) -> tuple[LiveTask, str | None]:
        if int(item["id"][1:]) % 3 == 0:  # the first item of a page
            events.append(("convert page", int(item["id"][1:]) // 3 + 1))
        converter.add(threading.get_ident())
        return read(item, hints)

    provider._read = converting  # type: ignore[method-assign]
    listing = provider.list_tasks(lambda: {})
    assert [t.id for t in listing.tasks] == [f"t{i}" for i in range(12)]
    out = [n for kind, n in events if kind == "request out"]
    assert out == [1, 2, 3, 4]
    converted = [n for kind, n in events if kind == "convert page"]
    assert converted == [1, 2, 3, 4]
    for page in converted[:-1]:
        # the request for the next page went out before this page's conversion began
        assert events.index(("request out", page + 1)) < events.index(("convert page", page))
    assert converter == {threading.get_ident()}  # where the pages were decoded


def test_a_library_plan_leaves_the_collector_as_it_found_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tuning is the command's (reconciler.tuning, once in cli.main), never a library call's:
    a runner reloading files under --watch must not freeze a new generation each time."""
    from reconciler.sandbox import SandboxOptions, running_sandbox

    with running_sandbox(SandboxOptions(platform="engine", page_size=2)) as sandbox:
        repo = Repo(tmp_path, sandbox.url, "engine")
        for i in range(5):
            repo.write(f"s{i}", {"name": f"s{i}", "schedule": {"daily": "09:00"},
                                 "action": {"prompt": "p"}})  # fmt: skip
        assert gc.isenabled()
        frozen: list[None] = []
        monkeypatch.setattr(gc, "freeze", lambda: frozen.append(None))
        _, result = repo.apply()
        assert result.ok and len(result.results) == 5
        again = repo.plan()
    assert gc.isenabled() and not frozen
    assert not again.pending and again.targets[0].in_sync == 5 and again.targets[0].pages == 3
    json.dumps(again.to_dict())  # plain data
