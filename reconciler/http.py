"""The one HTTP client schedctl uses to talk to platforms: auth, timeouts, retries, errors.

    ApiClient.request(method, path)  ->  parsed JSON (or None)
        │  retried: GET / PUT / PATCH / DELETE on 429, 502, 503, 504 and connection errors;
        │           POST only when it was refused (429, 503) or never reached the server
        ├─ ApiError        any other failure: method, URL, status, the server's message
        └─ AmbiguousWrite  a POST whose answer never came: the caller re-lists and adopts

The token is sent only to the base URL's origin: redirects are followed by hand, and only
within that origin. It never appears in logs or errors (any echo of it is redacted).
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

# httpx imports its own command-line client at import time when rich and pygments are
# installed, as schedctl's dependencies make them: tens of milliseconds on every command that
# talks to a platform, for a module schedctl never uses. A None entry makes that import fail,
# and httpx falls back to its stub `httpx.main`.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402

from reconciler.errors import AmbiguousWrite, ApiError, ConfigError  # noqa: E402

if TYPE_CHECKING:
    from reconciler.model import Target

log = logging.getLogger("reconciler.http")
# httpx logs every request itself; -v shows ours (with timings), so theirs would be noise.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A POST answered with these was refused before any processing, so sending it again is safe.
POST_REFUSED_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
MAX_REDIRECTS = 5
MESSAGE_KEYS = ("message", "error", "detail", "title", "msg")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # in all, the first try included
    backoff: float = 0.2  # seconds before the first retry; doubles each time, full jitter
    backoff_max: float = 8.0
    retry_after_max: float = 30.0  # a server asking for more is capped at this

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        ceiling = min(self.backoff * (2 ** (attempt - 1)), self.backoff_max)
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now() if now else datetime.now(timezone.utc)
    return max((when - current).total_seconds(), 0.0)


def server_message(response: httpx.Response, redact: Callable[[str], str] = str) -> str:
    """The server's own words: a JSON body's message / error / detail, else the text.

    `redact` runs before long text is cut: a cut through an echoed token would leave a piece
    of it that redacting afterwards no longer recognises.
    """
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = redact(response.text.strip())
        return text[:300] if text else response.reason_phrase or "no message"
    if isinstance(body, Mapping):
        for key in MESSAGE_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value:
                return redact(value)
            if value:  # e.g. FastAPI's detail list
                return redact(json.dumps(value))[:300]
    return redact(json.dumps(body))[:300]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class ApiClient:
    """A platform API: base URL, bearer token, retries. Thread-safe; share one per target."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        verify: bool = True,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._token = token
        self._retry = retry
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests_sent = 0  # every attempt, retries included (for tests and -v)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._joined = functools.lru_cache(maxsize=1024)(self.base_url.join)  # parsing is slow
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
            # Requests never leave the base URL's origin (redirects included), so an http://
            # base never uses TLS: no verifying context, whose CA bundle takes tens of ms to load.
            verify=verify if self.base_url.scheme == "https" else False,
            follow_redirects=False,  # followed by hand below, never off the origin
            limits=limits,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "schedctl"},
        )

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> httpx.URL:
        """An absolute URL under the base, or `path` itself when it is already absolute."""
        if path.startswith(("http://", "https://")):
            return httpx.URL(path)
        return self._joined(path.lstrip("/"))

    def same_origin(self, url: httpx.URL) -> bool:
        return _origin(url) == _origin(self.base_url)

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _error(
        self,
        cls: type[ApiError],
        method: str,
        url: httpx.URL,
        status: int | None,
        message: str,
        body: object = None,
    ) -> ApiError:
        return cls(method, self.redact(str(url)), status, self.redact(message), body=body)

    # -- requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send with retries; the parsed JSON body (None when empty), or ApiError."""
        response = self.send(method, path, json_body=json_body, params=params)
        if not response.content:
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise self._error(
                ApiError,
                method,
                response.request.url,
                response.status_code,
                "the response is not JSON: " + self.redact(response.text)[:200],
            ) from None

    def send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send with retries; the response, or ApiError. `waiting` is called once per attempt,
        when the request is written and the answer awaited (a listing's page worker takes its
        turn then, so that it never competes with sending), or at the latest when the attempt
        ends, for a transport that does not say."""
        method = method.upper()
        url = self.url(path)
        if params:
            url = url.copy_merge_params(dict(params))
        if not self.same_origin(url):
            raise self._error(
                ApiError,
                method,
                url,
                None,
                f"refusing to send the token to {url.host}: not the target's host {self.base_url.host}",
            )
        attempt = 0
        redirects = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self._once(method, url, json_body, waiting)
            except httpx.TransportError as exc:
                problem = self.redact(
                    f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                )
                # Connect errors mean nothing reached the server: safe for any method.
                never_sent = isinstance(
                    exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
                )
                if method not in IDEMPOTENT and not never_sent:
                    raise self._error(
                        AmbiguousWrite,
                        method,
                        url,
                        None,
                        f"no answer ({problem}); the request may or may not have been processed",
                    ) from None
                if attempt >= self._retry.attempts:
                    raise self._error(ApiError, method, url, None, problem) from None
            else:
                status = response.status_code
                if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    url = self._redirect(method, url, response, redirects)
                    redirects += 1
                    attempt -= 1  # a redirect is not a failure
                    continue
                if status < 400:
                    return response
                retryable = status in (
                    RETRY_STATUSES if method in IDEMPOTENT else POST_REFUSED_STATUSES
                )
                if not retryable or attempt >= self._retry.attempts:
                    cls = (
                        AmbiguousWrite
                        if method not in IDEMPOTENT and status in RETRY_STATUSES
                        else ApiError
                    )
                    body = _json_or_none(response)
                    raise self._error(
                        cls, method, url, status, server_message(response, self.redact), body
                    )
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            delay = self._retry.delay(attempt, retry_after)
            shown = self.redact(str(url))
            log.debug("retrying %s %s in %.2fs (attempt %d)", method, shown, delay, attempt + 1)
            if delay > 0:
                self._sleep(delay)

    def _once(
        self,
        method: str,
        url: httpx.URL,
        json_body: Any,
        waiting: Callable[[], None] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        told = False
        extensions: dict[str, Any] = {}
        if waiting is not None:

            def trace(event: str, info: Any) -> None:  # httpcore's trace extension
                nonlocal told
                if not told and event.endswith(".receive_response_headers.started"):
                    told = True
                    waiting()

            extensions["trace"] = trace
        start = time.perf_counter()
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._client.request(
                method, url, json=json_body, headers=headers, extensions=extensions
            )
            response.read()  # a truncated body fails here, inside the retry loop
        except httpx.TransportError as exc:
            shown = self.redact(str(url))  # a server may echo the token into a link or cursor
            log.info("%s %s -> %s (%.0f ms)", method, shown, type(exc).__name__, _ms(start))
            raise
        finally:
            if waiting is not None and not told:
                waiting()
        shown = self.redact(str(url))
        log.info("%s %s -> %d (%.0f ms)", method, shown, response.status_code, _ms(start))
        return response

    def _redirect(
        self, method: str, url: httpx.URL, response: httpx.Response, count: int
    ) -> httpx.URL:
        target = url.join(response.headers["location"])
        if count >= MAX_REDIRECTS:
            raise self._error(ApiError, method, url, response.status_code, "too many redirects")
        if not self.same_origin(target):
            # Following would carry the token to another host: refuse instead.
            raise self._error(
                ApiError,
                method,
                url,
                response.status_code,
                f"redirected to {target.scheme}://{target.host}: another origin, not followed",
            )
        if method not in ("GET", "HEAD") and response.status_code in (301, 302, 303):
            raise self._error(
                ApiError, method, url, response.status_code, f"redirected to {target}"
            )
        return target


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def token_from_env(target_name: str, variable: str | None) -> str | None:
    """The token held by the environment variable a target names; ConfigError when unset."""
    if variable is None:
        return None
    value = os.environ.get(variable, "")
    if not value.strip():
        raise ConfigError(
            f"target {target_name!r}: the environment variable {variable} is not set "
            "(it must hold the API token; tokens are never read from files)"
        )
    return value.strip()


def client_for(
    target_name: str,
    target: Target,
    *,
    base_url: str | None = None,
    token: str | None = None,
    max_connections: int = 32,
    retry: RetryPolicy = RetryPolicy(),
    timeouts: Timeouts = Timeouts(),
) -> ApiClient:
    """The client for one target: its URL (or the sandbox's), its token, its TLS setting."""
    url = base_url or target.url
    if url is None:
        raise ConfigError(f"target {target_name!r} has no url")
    if token is None:
        token = token_from_env(target_name, target.token_env)
    if not target.verify_tls:
        log.warning(
            "warning: target %r: TLS certificate verification is OFF (verify_tls: false); "
            "anyone on the network path can read the token",
            target_name,
        )
    return ApiClient(
        url,
        token,
        verify=target.verify_tls,
        retry=retry,
        timeouts=timeouts,
        max_connections=max_connections,
    )
