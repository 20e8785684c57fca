"""The HTTP layer against httpx.MockTransport: retries, errors, redaction, redirects, logging."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.errors import AmbiguousWrite, ApiError, ConfigError
from reconciler.http import ApiClient, RetryPolicy, client_for, parse_retry_after
from reconciler.model import Target

TOKEN = "s3cr3t-token-value"
BASE = "https://api.example.com/v1"


def client(
    handler: Callable[[httpx.Request], httpx.Response], **kw: Any
) -> tuple[ApiClient, list[float]]:
    slept: list[float] = []
    retry = kw.pop(
        "retry", RetryPolicy(attempts=4, backoff=0.1, backoff_max=1.0, retry_after_max=5.0)
    )
    api = ApiClient(
        BASE, TOKEN, transport=httpx.MockTransport(handler), retry=retry, sleep=slept.append, **kw
    )
    return api, slept


def test_idempotent_requests_retry_on_busy_statuses_honouring_retry_after() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "2"}), httpx.Response(429, headers={"Retry-After": "99"}),
                    httpx.Response(502), httpx.Response(200, json={"ok": True})])  # fmt: skip
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    api, slept = client(handler)
    assert api.request("PATCH", "tasks/1", json_body={"a": 1}) == {"ok": True}
    assert len(seen) == 4 and all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)
    assert slept[0] == 2.0 and slept[1] == 5.0  # Retry-After honoured, and capped
    assert 0.1 <= slept[2] <= 0.4  # no Retry-After: exponential backoff with jitter
    assert str(seen[0].url) == "https://api.example.com/v1/tasks/1"


def test_connection_errors_are_retried_for_get_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    api, slept = client(handler)
    with pytest.raises(ApiError) as info:
        api.request("GET", "tasks")
    assert len(slept) == 3 and not isinstance(info.value, AmbiguousWrite)
    assert (
        info.value.method == "GET"
        and info.value.url == f"{BASE}/tasks"
        and info.value.status is None
    )


@pytest.mark.parametrize("status", [429, 503])
def test_a_refused_post_is_retried(status: int) -> None:
    answers = iter(
        [
            httpx.Response(status, headers={"Retry-After": "0"}),
            httpx.Response(201, json={"id": "1"}),
        ]
    )
    api, _ = client(lambda r: next(answers))
    assert api.request("POST", "tasks", json_body={}) == {"id": "1"}


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("peer closed"), httpx.ReadError("reset")],
)
def test_a_post_whose_answer_never_came_is_not_retried(failure: Exception) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise failure

    api, _ = client(handler)
    with pytest.raises(AmbiguousWrite, match="may or may not"):
        api.request("POST", "tasks", json_body={})
    assert len(calls) == 1


def test_a_post_answered_by_a_gateway_error_is_ambiguous_and_a_connect_error_is_retried() -> None:
    api, _ = client(lambda r: httpx.Response(504))
    with pytest.raises(AmbiguousWrite):
        api.request("POST", "tasks", json_body={})
    answers: list[Any] = [httpx.ConnectError("refused"), httpx.Response(201, json={"id": "2"})]

    def handler(request: httpx.Request) -> httpx.Response:
        item = answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item  # type: ignore[no-any-return]

    api, _ = client(handler)
    assert api.request("POST", "tasks", json_body={}) == {"id": "2"}  # never reached the server


def test_errors_carry_method_url_status_and_the_servers_message_without_the_token() -> None:
    body = {
        "error": f"bad schedule; your token {TOKEN} is fine",
        "message": f"invalid schedule ({TOKEN})",
    }
    api, slept = client(lambda r: httpx.Response(422, json=body))
    with pytest.raises(ApiError) as info:
        api.request("PUT", "tasks/9", json_body={})
    err = info.value
    assert (err.method, err.url, err.status) == ("PUT", f"{BASE}/tasks/9", 422)
    assert "invalid schedule" in str(err) and TOKEN not in str(err) and "***" in str(err)
    assert not slept  # a 422 is not retried
    api, _ = client(lambda r: httpx.Response(404, text="no such task"))
    with pytest.raises(ApiError, match=r"GET https://api.example.com/v1/x: 404: no such task"):
        api.request("GET", "x")


def test_redirects_stay_on_the_origin_and_never_carry_the_token_elsewhere() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/old":
            return httpx.Response(301, headers={"Location": "/v1/new"})
        if request.url.path == "/v1/new":
            return httpx.Response(200, json=[])
        return httpx.Response(302, headers={"Location": "https://evil.example.net/steal"})

    api, _ = client(handler)
    assert api.request("GET", "old") == []
    with pytest.raises(ApiError, match="another origin, not followed"):
        api.request("GET", "elsewhere")
    assert all(r.url.host == "api.example.com" for r in seen)
    with pytest.raises(ApiError, match="refusing to send the token"):
        api.request("GET", "https://evil.example.net/x")


def test_verbose_logging_shows_method_url_status_and_time_but_never_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, _ = client(lambda r: httpx.Response(200, json={"echo": TOKEN}))
    with caplog.at_level(logging.DEBUG):
        api.request("GET", "tasks")
    text = caplog.text
    assert f"GET {BASE}/tasks -> 200 (" in text and " ms)" in text
    assert TOKEN not in text


def test_token_comes_from_the_named_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target(
        platform="engine",
        url="https://e.example.com",
        token_env="SCHEDCTL_TEST_TOKEN",
        verify_tls=False,
    )
    monkeypatch.delenv("SCHEDCTL_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="SCHEDCTL_TEST_TOKEN is not set"):
        client_for("prod", target)
    monkeypatch.setenv("SCHEDCTL_TEST_TOKEN", TOKEN)
    with caplog.at_level(logging.WARNING), client_for("prod", target) as api:
        assert api.redact(f"x {TOKEN} y") == "x *** y"
    assert "TLS certificate verification is OFF" in caplog.text and TOKEN not in caplog.text


def test_retry_after_parsing() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:10 GMT", lambda: now) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
