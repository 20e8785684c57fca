"""Hostile clients: oversized bodies, stalled or idle connections, malformed requests. Each
is answered 4xx in the error shape, or disconnected in bounded time; never a 500, and never
with state changed. Raw sockets, since no well-behaved client sends these."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from reconciler.sandbox import SandboxOptions
from reconciler.sandbox.server import RunningSandbox
from tests.sandbox.fixtures import SandboxFactory

from .helpers import (
    AITROOP,
    ENGINE,
    aitroop_task,
    client,
    engine_task,
    raw_socket,
    read_answer,
    wait_for_close,
)

REQUEST_TIMEOUT = 0.4
IDLE_TIMEOUT = 0.8
LIMIT = 4096


def _sandbox(factory: SandboxFactory, platform: str = "engine", **options: Any) -> RunningSandbox:
    options.setdefault("request_timeout", REQUEST_TIMEOUT)
    options.setdefault("idle_timeout", IDLE_TIMEOUT)
    options.setdefault("max_body", LIMIT)
    return factory(platform, **options)


def _head(method: str, path: str, *lines: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: sandbox", *lines, "", ""]).encode()


def _padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON, padded with trailing spaces to exactly `size` bytes."""
    data = json.dumps(body).encode()
    assert len(data) <= size
    return data + b" " * (size - len(data))


def _is_error_shape(body: Any, status_word: str) -> bool:
    return body["error"] == body["message"] and status_word in body["message"]


# --- request bodies ----------------------------------------------------------------------


def test_default_limits() -> None:
    opts = SandboxOptions(platform="engine")
    assert (opts.max_body, opts.request_timeout, opts.idle_timeout) == (1024 * 1024, 10.0, 30.0)


def test_the_default_body_limit_is_one_mebibyte(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        ok = _padded(engine_task(), 1024 * 1024)
        assert (
            c.post(ENGINE, content=ok, headers={"content-type": "application/json"}).status_code
            == 201
        )
        r = c.post(ENGINE, content=ok + b" ", headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["message"] == (
            "request body too large: 1048577 bytes, over the 1048576-byte limit"
        )
        assert len(c.get(ENGINE).json()) == 1


@pytest.mark.parametrize(
    ("platform", "method", "path", "body"),
    [
        ("engine", "POST", ENGINE, engine_task()),
        ("engine", "PATCH", f"{ENGINE}/{{id}}", {"name": "renamed"}),
        ("aitroop", "POST", AITROOP, aitroop_task()),
        ("aitroop", "PUT", f"{AITROOP}/{{id}}", aitroop_task(name="renamed")),
    ],
)
def test_a_body_over_the_limit_is_a_413_and_changes_nothing(
    sandbox_factory: SandboxFactory,
    platform: str,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    sandbox = _sandbox(sandbox_factory, platform)
    base = ENGINE if platform == "engine" else AITROOP
    json_type = {"content-type": "application/json"}
    with client(sandbox) as c:
        task = c.post(base, json=engine_task() if platform == "engine" else aitroop_task()).json()
        path = path.format(id=task["id"])
        r = c.request(method, path, content=_padded(body, LIMIT + 1), headers=json_type)
        assert r.status_code == 413
        assert r.json()["message"] == (
            f"request body too large: {LIMIT + 1} bytes, over the {LIMIT}-byte limit"
        )
        assert c.get(base).json() == [task]
        # The same connection goes on serving, and a body at the limit is taken.
        r = c.request(method, path, content=_padded(body, LIMIT), headers=json_type)
        assert r.status_code in (200, 201), r.text


def test_a_declared_length_over_the_limit_is_answered_before_the_body(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = _sandbox(sandbox_factory, request_timeout=5.0)
    with raw_socket(sandbox) as sock:
        # Ten GiB announced, none sent: the answer cannot have waited for the body.
        head = _head(
            "POST", ENGINE, "Content-Type: application/json", f"Content-Length: {10 << 30}"
        )
        started = time.monotonic()
        sock.sendall(head)
        answer = read_answer(sock)
        assert time.monotonic() - started < 2.5
    assert answer.status == 413
    assert answer.body["message"] == (
        f"request body too large: {10 << 30} bytes, over the {LIMIT}-byte limit"
    )


def test_a_chunked_body_is_counted_as_it_comes(sandbox_factory: SandboxFactory) -> None:
    sandbox = _sandbox(sandbox_factory, request_timeout=5.0)
    with raw_socket(sandbox) as sock:
        sock.sendall(
            _head("POST", ENGINE, "Content-Type: application/json", "Transfer-Encoding: chunked")
        )
        chunk = b"x" * 1024
        for _ in range(LIMIT // len(chunk) + 1):  # over the limit, and the body never ends
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = read_answer(sock)
    assert answer.status == 413
    assert answer.body["message"] == f"request body too large: over the {LIMIT}-byte limit"
    with client(sandbox) as c:
        assert c.get(ENGINE).json() == []


def test_a_chunked_body_within_the_limit_is_taken(sandbox_factory: SandboxFactory) -> None:
    sandbox = _sandbox(sandbox_factory)

    def pieces() -> Any:
        data = json.dumps(engine_task()).encode()
        yield data[:10]
        yield data[10:]

    with client(sandbox) as c:
        r = c.post(ENGINE, content=pieces(), headers={"content-type": "application/json"})
        assert r.status_code == 201 and "content-length" not in r.request.headers


def test_the_rest_of_an_oversized_body_is_discarded_and_the_connection_reused(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = _sandbox(sandbox_factory, request_timeout=5.0)
    size = 4 * 1024 * 1024
    with raw_socket(sandbox) as sock:
        head = _head("POST", ENGINE, "Content-Type: application/json", f"Content-Length: {size}")
        sock.sendall(head + b"x" * size)
        assert read_answer(sock).status == 413
        sock.sendall(_head("GET", ENGINE))
        answer = read_answer(sock)
    assert (answer.status, answer.body) == (200, [])


# --- slow and idle connections -----------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed(sandbox_factory: SandboxFactory) -> None:
    sandbox = _sandbox(sandbox_factory)
    with raw_socket(sandbox) as sock:
        elapsed, received = wait_for_close(sock)
    assert received == b""
    assert IDLE_TIMEOUT * 0.8 <= elapsed < IDLE_TIMEOUT + 2


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(f"GET {ENGINE} HTTP/1.1\r\nHost: sandbox\r\n".encode(), id="half the headers"),
        pytest.param(
            _head("POST", ENGINE, "Content-Type: application/json", "Content-Length: 100")
            + b'{"name": ',
            id="half the body",
        ),
        pytest.param(
            _head("POST", ENGINE, "Content-Type: application/json", "Transfer-Encoding: chunked")
            + b'5\r\n{"nam\r\n',
            id="half a chunked body",
        ),
    ],
)
def test_a_stalled_request_is_answered_408_and_closed(
    sandbox_factory: SandboxFactory, partial: bytes
) -> None:
    sandbox = _sandbox(sandbox_factory)
    with raw_socket(sandbox) as sock:
        sock.sendall(partial)
        elapsed, received = wait_for_close(sock)
    assert REQUEST_TIMEOUT * 0.8 <= elapsed < REQUEST_TIMEOUT + 2
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(payload)["message"] == (
        f"request not received whole within {REQUEST_TIMEOUT:g} s"
    )
    with client(sandbox) as c:
        assert c.get(ENGINE).json() == []


def test_a_trickle_does_not_extend_the_deadline(sandbox_factory: SandboxFactory) -> None:
    sandbox = _sandbox(sandbox_factory)
    request = _head("GET", ENGINE, "X-Slow: " + "a" * 60)
    pause = 0.02  # a byte at a time, never the last one: the whole trickle takes ~2.7 s
    with raw_socket(sandbox) as sock:
        started = time.monotonic()
        try:
            for i in range(len(request) - 1):
                sock.sendall(request[i : i + 1])
                time.sleep(pause)
        except OSError:
            pass  # closed under us: that is the point
        wait_for_close(sock)
        total = time.monotonic() - started
    assert REQUEST_TIMEOUT * 0.8 <= total < len(request) * pause / 2


def test_an_answered_oversized_request_still_has_a_deadline(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = _sandbox(sandbox_factory)
    with raw_socket(sandbox) as sock:
        sock.sendall(_head("POST", ENGINE, "Content-Length: 999999"))
        assert read_answer(sock).status == 413
        elapsed, received = wait_for_close(sock)
    assert received == b""  # answered already: closed without a second answer
    assert elapsed < REQUEST_TIMEOUT + 2


def test_keep_alive_serves_a_client_that_pauses_between_requests(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = _sandbox(sandbox_factory)
    with raw_socket(sandbox) as sock:
        for _ in range(3):
            sock.sendall(_head("GET", ENGINE))
            answer = read_answer(sock)
            assert (answer.status, answer.body) == (200, [])
            # Longer than a request may take to arrive, shorter than the idle timeout.
            time.sleep(REQUEST_TIMEOUT * 1.25)
        elapsed, received = wait_for_close(sock)
    assert received == b""
    assert elapsed < IDLE_TIMEOUT + 2


def test_a_slow_server_is_not_a_slow_client(sandbox_factory: SandboxFactory) -> None:
    sandbox = _sandbox(sandbox_factory, latency_ms=int(REQUEST_TIMEOUT * 2000))
    with client(sandbox) as c:
        assert c.post(ENGINE, json=engine_task()).status_code == 201
        assert len(c.get(ENGINE).json()) == 1


def test_timeouts_are_checked() -> None:
    for name, value in (
        ("request_timeout", 0),
        ("idle_timeout", -1.0),
        ("idle_timeout", float("nan")),
    ):
        with pytest.raises(ValueError, match=f"{name} must be > 0"):
            SandboxOptions(platform="engine", **{name: value})
    with pytest.raises(ValueError, match="max_body must be >= 0"):
        SandboxOptions(platform="engine", max_body=-1)


# --- malformed requests ------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GET /api/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", id="bytes in the path"),
        pytest.param(b"GET /api/x HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", id="bad header"),
        pytest.param(
            f"POST {ENGINE} HTTP/1.1\r\nHost: x\r\nContent-Length: {'9' * 5000}\r\n\r\n".encode(),
            id="a 5000-digit length",
        ),
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", id="not HTTP"),
    ],
)
def test_a_malformed_request_is_a_400_in_the_error_shape(
    engine_sandbox: RunningSandbox, request_bytes: bytes
) -> None:
    with raw_socket(engine_sandbox) as sock:
        sock.sendall(request_bytes)
        answer = read_answer(sock)
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert _is_error_shape(answer.body, "invalid HTTP request")


def test_headers_past_the_limit_are_a_400(engine_sandbox: RunningSandbox) -> None:
    with raw_socket(engine_sandbox) as sock:
        sock.sendall(f"GET {ENGINE} HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
        # Headers are held until complete, up to h11's 16 KiB; these never end.
        sent = 0
        try:
            while sent < 1 << 20:
                sock.sendall(b"a" * 4096)
                sent += 4096
                time.sleep(0.002)
        except OSError:
            pass  # the server has answered and closed
        answer = read_answer(sock)
    assert sent < 1 << 20
    assert answer.status == 400
    assert _is_error_shape(answer.body, "invalid HTTP request")


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "invalid JSON body: nested too deeply"),
        (
            b'{"name": 1' + b"0" * 5000 + b"}",
            "invalid JSON body: Exceeds the limit (4300 digits) for integer string conversion",
        ),
    ],
)
def test_json_the_parser_gives_up_on_is_a_400_saying_why(
    engine_sandbox: RunningSandbox,
    aitroop_sandbox: RunningSandbox,
    platform: str,
    content: bytes,
    message: str,
) -> None:
    sandbox, path = (engine_sandbox, ENGINE) if platform == "engine" else (aitroop_sandbox, AITROOP)
    with client(sandbox) as c:
        r = c.post(path, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert r.json()["message"] == message
        assert c.get(path).json() == []


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_bodies_of_the_wrong_kind_are_4xx_with_a_message(
    engine_sandbox: RunningSandbox, aitroop_sandbox: RunningSandbox, platform: str
) -> None:
    sandbox, path, task = (
        (engine_sandbox, ENGINE, engine_task())
        if platform == "engine"
        else (aitroop_sandbox, AITROOP, aitroop_task())
    )
    as_json = {"content-type": "application/json"}
    cases = [
        (json.dumps(task).encode(), {"content-type": "application/x-www-form-urlencoded"}, 422),
        (json.dumps(task).encode(), {"content-type": "multipart/form-data; boundary=x"}, 422),
        (b"\xff\xfe\x00", as_json, 400),  # a UTF-16 byte order mark, then half a character
        (b"\xc3\x28", as_json, 400),  # not UTF-8
        (b"null", as_json, 422),
        (b'"a string"', as_json, 422),
        (json.dumps({**task, "name": "\ud800"}).encode(), as_json, 422),  # a lone surrogate
        (json.dumps({**task, "name": "\x00"}).encode(), as_json, 201),
    ]
    with client(sandbox) as c:
        for content, headers, status in cases:
            r = c.post(path, content=content, headers=headers)
            assert r.status_code == status, (content[:40], r.text)
            if status == 201:
                continue
            body = r.json()
            assert body["error"] == body["message"] and body["message"], body
        created = c.get(path).json()
    # A NUL is a character like any other in a name; nothing else got in.
    assert [t["name"] for t in created] == ["\x00"]


ODD_IDS = ["%00", "%F0%9F%92%A9", "%ED%A0%80", "x" * 8000, "..%2F..%2Fetc", "a%20b", "%25", "'; --"]


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_odd_ids_are_not_found(
    engine_sandbox: RunningSandbox, aitroop_sandbox: RunningSandbox, platform: str
) -> None:
    if platform == "engine":
        sandbox, base = engine_sandbox, ENGINE
        calls = [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/run"), ("GET", "/runs")]
        bodies: dict[str, Any] = {"PATCH": {"name": "x"}}
    else:
        sandbox, base = aitroop_sandbox, AITROOP
        calls = [("PUT", ""), ("DELETE", ""), ("POST", "/run"), ("GET", "/runs")]
        bodies = {"PUT": aitroop_task()}
    with client(sandbox) as c:
        for odd in ODD_IDS:
            for method, tail in calls:
                r = c.request(method, f"{base}/{odd}{tail}", json=bodies.get(method))
                assert r.status_code == 404, (method, odd, r.text)
                # An escaped "/" is a "/" to the router: no such route, rather than no task.
                wanted = "Not Found" if "%2F" in odd else "task not found"
                assert r.json()["message"] == wanted


def test_odd_instance_slugs_are_instances_of_their_own(engine_sandbox: RunningSandbox) -> None:
    with client(engine_sandbox) as c:
        for slug in ["%00", "%F0%9F%92%A9", "s" * 8000, "a%20b", "%ED%A0%80"]:
            path = f"/api/instances/{slug}/scheduled-tasks"
            assert c.get(path).json() == [], slug
            created = c.post(path, json=engine_task())
            assert created.status_code == 201
            assert c.get(path).json() == [created.json()]
        assert c.get(ENGINE).json() == []


def test_the_sandbox_still_serves_after_all_of_it(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = _sandbox(sandbox_factory)
    with raw_socket(sandbox) as idle, raw_socket(sandbox) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\n")
        with httpx.Client(base_url=sandbox.url, timeout=5) as c:
            # Held connections do not hold up others.
            assert c.post(ENGINE, json=engine_task()).status_code == 201
        assert wait_for_close(idle)[1] == b""
        assert wait_for_close(stalled)[1].startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"type": "one-shot", "runAt": "9999-12-31T23:59:59.999-23:59"}, "runAt"),  # was a 500
        ({"type": "one-shot", "runAt": "0001-01-01T00:00:00+23:59"}, "runAt"),
        (
            {"type": "interval", "everyMs": 60_000, "anchorAt": "0001-01-01T00:00:00+01:00"},
            "anchorAt",
        ),
    ],
)
def test_times_outside_the_utc_calendar_are_a_422(
    engine_sandbox: RunningSandbox, schedule: dict[str, Any], field: str
) -> None:
    with client(engine_sandbox) as c:
        r = c.post(ENGINE, json=engine_task(schedule=schedule))
        assert r.status_code == 422, r.text
        assert r.json()["message"] == (
            f"invalid schedule: {field} is not an ISO 8601 timestamp: {schedule[field]!r}"
        )
        task = c.post(ENGINE, json=engine_task()).json()
        r = c.patch(f"{ENGINE}/{task['id']}", json={"schedule": schedule})
        assert r.status_code == 422
        assert c.get(ENGINE).json() == [task]
