"""Pagination and fault injection: page size, refusals, dropped connections, ambiguous
creates, latency; all replayable from a seed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time

import httpx
import pytest

from reconciler.sandbox.server import RunningSandbox
from tests.sandbox.fixtures import SandboxFactory

from .helpers import AITROOP, ENGINE, aitroop_task, client, engine_task


def _walk(c: httpx.Client, path: str, **params: int) -> tuple[list[str], int]:
    """Follow next_cursor to the end: (ids in order, pages fetched)."""
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {**params, **({"cursor": cursor} if cursor else {})}
        page = c.get(path, params=query).json()
        pages += 1
        ids += [item.get("id") or item["runId"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages


def test_lists_are_bare_arrays_until_paging_is_on(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        created = [c.post(ENGINE, json=engine_task(name=f"t{i}")).json()["id"] for i in range(5)]
        assert [t["id"] for t in c.get(ENGINE).json()] == created
        engine_sandbox.set_faults(page_size=2)
        first = c.get(ENGINE).json()
        assert set(first) == {"items", "next_cursor"} and len(first["items"]) == 2
        assert _walk(c, ENGINE) == (created, 3)
        # A cursor stays valid while the listing changes: new tasks come at the end.
        page = c.get(ENGINE).json()
        c.delete(f"{ENGINE}/{created[0]}")
        late = c.post(ENGINE, json=engine_task(name="late")).json()["id"]
        rest = c.get(ENGINE, params={"cursor": page["next_cursor"]}).json()["items"]
        assert [t["id"] for t in rest] == created[2:4]
        # ?limit= pages for one request, overriding the server's size.
        assert _walk(c, ENGINE, limit=4) == ([*created[1:], late], 2)
        engine_sandbox.set_faults(page_size=None)
        assert isinstance(c.get(ENGINE).json(), list)
        # Exactly one page's worth: no empty trailing page.
        assert _walk(c, ENGINE, limit=5) == ([*created[1:], late], 1)


def test_run_logs_page_most_recent_first(
    engine_sandbox: RunningSandbox, aitroop_sandbox: RunningSandbox
) -> None:
    with client(engine_sandbox) as c:
        task = c.post(ENGINE, json=engine_task()).json()["id"]
        runs = [c.post(f"{ENGINE}/{task}/run").json()["runId"] for _ in range(5)]
        assert _walk(c, f"{ENGINE}/{task}/runs", limit=2) == (runs[::-1], 3)
        assert _walk(c, f"{ENGINE}/runs", limit=3) == (runs[::-1], 2)
    with client(aitroop_sandbox) as c:
        aitroop_sandbox.set_faults(page_size=2)
        task = c.post(AITROOP, json=aitroop_task()).json()["id"]
        runs = [c.post(f"{AITROOP}/{task}/run").json()["id"] for _ in range(3)]
        assert _walk(c, f"{AITROOP}/{task}/runs") == (runs[::-1], 2)
        assert _walk(c, AITROOP) == ([task], 1)


def _paged_paths(sandbox: RunningSandbox, c: httpx.Client) -> list[str]:
    """Every listing of the sandbox's platform, with one task (and one run) to list."""
    if sandbox.opts.platform == "engine":
        task = c.post(ENGINE, json=engine_task()).json()["id"]
        c.post(f"{ENGINE}/{task}/run")
        return [ENGINE, f"{ENGINE}/runs", f"{ENGINE}/{task}/runs"]
    task = c.post(AITROOP, json=aitroop_task()).json()["id"]
    c.post(f"{AITROOP}/{task}/run")
    return [AITROOP, f"{AITROOP}/{task}/runs"]


def _cursor(text: str) -> str:
    """A cursor spelled the way the sandbox spells its own, around any text."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_CURSORS = [
    "nonsense!",
    "bm90LWEtY3Vyc29y",  # base64, but not of a position
    "",
    "99999999999999999999999",
    "-1",
    _cursor("after:99999999999999999999999"),  # was a 500: past SQLite's integers
    _cursor(f"after:{2**63}"),
    _cursor("after:-5"),
    _cursor("after:+5"),
    _cursor("after: 5"),
    _cursor("after:5_0"),
    _cursor("after:\u0665"),  # a digit, but not an ASCII one
    _cursor("after:5") + "!",  # b64decode would skip the stray character
    "\u00ff\u00fe",
    "A" * 5000,
]
BAD_LIMITS = ["0", "-1", "1001", "99999999999999999999999", "abc", "", "1.5", "1e3", "9" * 5000]


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_bad_paging_parameters_are_a_400_naming_the_parameter(
    platform: str, engine_sandbox: RunningSandbox, aitroop_sandbox: RunningSandbox
) -> None:
    sandbox = engine_sandbox if platform == "engine" else aitroop_sandbox
    with client(sandbox) as c:
        paths = _paged_paths(sandbox, c)
        for path in paths:
            for name, values in (("cursor", BAD_CURSORS), ("limit", BAD_LIMITS)):
                for value in values:
                    r = c.get(path, params={name: value})
                    assert r.status_code == 400, (path, name, value, r.text)
                    body = r.json()
                    assert body["error"] == body["message"], body
                    assert body["message"].startswith(f"invalid query parameter '{name}': ")
                    assert len(body["message"]) < 300  # a long value is shown cut short
            # The last position SQLite can hold is still a cursor: past every task, or
            # (runs list newest first) before every run.
            r = c.get(path, params={"cursor": _cursor(f"after:{2**63 - 1}")})
            assert r.status_code == 200 and r.json()["next_cursor"] is None
        assert c.get(paths[0], params={"cursor": "x", "limit": 5}).status_code == 400


def test_bad_limit_message_says_what_is_wanted(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        r = c.get(ENGINE, params={"limit": 1001})
        assert r.json()["message"] == (
            "invalid query parameter 'limit': Input should be less than or equal to 1000, "
            "got '1001'"
        )
        r = c.get(ENGINE, params={"cursor": "nonsense!"})
        assert r.json()["message"] == (
            "invalid query parameter 'cursor': 'nonsense!' is not a next_cursor from this "
            "listing (leave it out to start from the first page)"
        )


def _outcome(c: httpx.Client, method: str, path: str, **kwargs: object) -> str:
    try:
        r = c.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.RemoteProtocolError:
        return "dropped"
    if r.status_code in (429, 503):
        assert r.headers["retry-after"] == "0"
        assert r.json()["error"] in ("rate limited", "service unavailable")
    return str(r.status_code)


def test_refused_requests_change_nothing(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        task = c.post(ENGINE, json=engine_task()).json()
        engine_sandbox.set_faults(fail_rate=1.0)
        seen = {_outcome(c, "POST", ENGINE, json=engine_task()) for _ in range(40)}
        seen |= {
            _outcome(c, "PATCH", f"{ENGINE}/{task['id']}", json={"name": "x"}) for _ in range(20)
        }
        seen |= {_outcome(c, "DELETE", f"{ENGINE}/{task['id']}") for _ in range(20)}
        assert seen == {"429", "503", "dropped"}
        engine_sandbox.set_faults(fail_rate=0.0)
        assert c.get(ENGINE).json() == [task]


def test_retry_after_header_follows_the_setting(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory("aitroop", fail_rate=1.0, retry_after=2.5, seed=3)
    with client(sandbox) as c:
        answers = []
        for _ in range(10):
            with contextlib.suppress(httpx.RemoteProtocolError):
                answers.append(c.get(AITROOP))
    assert answers and {r.headers["retry-after"] for r in answers} == {"2.5"}


def test_faults_replay_from_the_seed(sandbox_factory: SandboxFactory) -> None:
    def trace(seed: int) -> list[str]:
        sandbox = sandbox_factory("engine", seed=seed, fail_rate=0.5, ambiguous_rate=0.5)
        with client(sandbox) as c:
            return [_outcome(c, "POST", ENGINE, json=engine_task(name=f"t{i}")) for i in range(30)]

    first = trace(7)
    assert first == trace(7)
    assert first != trace(8)
    assert {"201", "dropped"} <= set(first)


def test_ambiguous_create_commits_then_drops(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        engine_sandbox.set_faults(ambiguous_rate=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(ENGINE, json=engine_task(name="did it happen?"))
        # Only creates are ambiguous: a rejected create and other POSTs answer normally.
        assert c.post(ENGINE, json={"name": "no prompt"}).status_code == 422
        listed = c.get(ENGINE).json()
        assert [t["name"] for t in listed] == ["did it happen?"]
        assert c.post(f"{ENGINE}/{listed[0]['id']}/run").status_code == 200


def test_ambiguous_create_on_aitroop(aitroop_sandbox: RunningSandbox) -> None:
    aitroop_sandbox.set_faults(ambiguous_rate=1.0)
    with client(aitroop_sandbox) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(AITROOP, json=aitroop_task())
        assert len(c.get(AITROOP).json()) == 1


def test_dropped_connection_leaves_the_server_serving(
    engine_sandbox: RunningSandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    engine_sandbox.set_faults(ambiguous_rate=1.0)
    with client(engine_sandbox) as c:
        for _ in range(3):
            with pytest.raises(httpx.RemoteProtocolError):
                c.post(ENGINE, json=engine_task())
        engine_sandbox.set_faults(ambiguous_rate=0.0)
        assert len(c.get(ENGINE).json()) == 3
    # Deliberate drops are not logged as application errors.
    assert "DroppedConnection" not in capfd.readouterr().err


def test_latency_is_per_request_and_concurrent(engine_sandbox: RunningSandbox) -> None:
    engine_sandbox.set_faults(latency_ms=200)

    async def burst() -> float:
        async with httpx.AsyncClient(base_url=engine_sandbox.url, timeout=5) as c:
            started = time.perf_counter()
            answers = await asyncio.gather(*(c.get(ENGINE) for _ in range(8)))
            assert all(r.status_code == 200 for r in answers)
            return time.perf_counter() - started

    elapsed = asyncio.run(burst())
    assert 0.2 <= elapsed < 1.2  # eight requests waited side by side, not one after another


def test_request_log_counts_every_api_request(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        c.get("/openapi.json")
        c.post(ENGINE, json=engine_task())
        engine_sandbox.set_faults(fail_rate=1.0)
        for _ in range(3):
            _outcome(c, "GET", ENGINE)
    assert engine_sandbox.request_log == [("POST", ENGINE)] + [("GET", ENGINE)] * 3


def test_fault_settings_are_checked(engine_sandbox: RunningSandbox) -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        engine_sandbox.set_faults(fail_rate=1.5, latency_ms=5)
    assert engine_sandbox.ctx.faults.latency_ms == 0  # all or nothing
    with pytest.raises(ValueError, match="page_size"):
        engine_sandbox.set_faults(page_size=0)
