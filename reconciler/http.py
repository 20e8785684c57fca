"""The one HTTP client schedctl uses to talk to platforms: auth, timeouts, retries, errors.

    ApiClient.request(method, path)  ->  parsed JSON (or None)
        │  retried: GET / PUT / PATCH / DELETE on 429, 502, 503, 504 and connection errors;
        │           POST only when it was refused (429, 503) or never reached the server;
        │           a refused connection once, quickly ("nothing listening at URL?")
        ├─ ApiError        any other failure: method, URL, status, the server's message
        └─ AmbiguousWrite  a POST whose answer never came: the caller re-lists and adopts

Sending is layered: send() -> _with_retries (attempts and backoff) -> _with_redirects (one
attempt, redirects followed within the origin) -> _once (one request); the pure classify()
judges each attempt's status or transport exception by the table above.

The token is sent only to the base URL's origin: redirects are followed by hand, and only
within that origin. It never appears in logs, errors or anything read from an answer: one
Redactor per token knows every form a server may echo it in (raw, percent-encoded, base64, in
Basic auth), and answers are scrubbed as they arrive, so that no listing, plan or imported file
can carry it on.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

# httpx imports its own command-line client at import time when rich and pygments are
# installed, as schedctl's dependencies make them: tens of milliseconds on every command that
# talks to a platform, for a module schedctl never uses. A None entry makes that import fail,
# and httpx falls back to its stub `httpx.main`.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402
import msgspec  # noqa: E402

from reconciler.errors import AmbiguousWrite, ApiError, ConfigError  # noqa: E402
from reconciler.render.text import printable  # noqa: E402

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

    from reconciler.model import Target

log = logging.getLogger("reconciler.http")
# httpx logs every request itself; -v shows ours (with timings), so theirs would be noise.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


class Sending(TypedDict, total=False):
    """What `ApiClient.send` (and `request`) take beside the method and path."""

    json_body: Any
    params: Mapping[str, str] | None
    waiting: Callable[[], None] | None


RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A POST answered with these was refused before any processing, so sending it again is safe.
POST_REFUSED_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MESSAGE_KEYS = ("message", "error", "detail", "title", "msg")


@dataclass(frozen=True)
class Verdict:
    """What one attempt's outcome means: the error it ends in (None: success), and whether
    another attempt may succeed (then the error is raised only when attempts run out)."""

    error: type[ApiError] | None
    retry: bool = False
    refused: bool = False  # ECONNREFUSED: nothing listens there; retried once, quickly


def classify(method: str, outcome: int | Exception) -> Verdict:
    """Pure: an attempt's status code, or the transport exception it raised, judged for
    `method`. Reads as the table at the top of this module."""
    idempotent = method.upper() in IDEMPOTENT
    if isinstance(outcome, Exception):
        # Connect errors mean nothing reached the server: safe for any method.
        never_sent = isinstance(
            outcome, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
        )
        if idempotent or never_sent:
            return Verdict(ApiError, retry=True, refused=_refused(outcome))
        return Verdict(AmbiguousWrite)
    if outcome < 400:
        return Verdict(None)
    # A write answered 502 or 504 (or refused until attempts ran out) may have happened.
    error = ApiError if idempotent or outcome not in RETRY_STATUSES else AmbiguousWrite
    return Verdict(
        error, retry=outcome in (RETRY_STATUSES if idempotent else POST_REFUSED_STATUSES)
    )


@dataclass
class _Route:
    """Where a request goes: its URL, moved by each redirect followed, and how many."""

    url: httpx.URL
    redirects: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # in all, the first try included
    backoff: float = 0.2  # seconds before the first retry; doubles each time, full jitter
    backoff_max: float = 8.0
    retry_after_max: float = 30.0  # a server asking for more is capped at this
    # A refused connection is answered at once by the host: nothing listens on that port.
    # Waiting rarely helps (a server mid-restart, at most), so one quick retry, then the error.
    refused_attempts: int = 2
    refused_backoff: float = 0.25

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


MASK = "***"
# RFC 3986 "unreserved": percent-encoding leaves these alone. Any other character of a secret
# may arrive as itself or as %XX in either case (quote, quote_plus, quote(safe=""), httpx's
# query encoding), and a space also as "+".
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# A piece of a base64 form (the secret behind a prefix) shorter than this could match plain text.
_MIN_PIECE = 8


def _percent_tolerant(form: str) -> str:
    """A regex for `form` with any of its characters percent-encoded or not."""
    parts = []
    for char in form:
        if char in _UNRESERVED:
            parts.append(re.escape(char))
            continue
        encoded = "".join(f"%{byte:02X}" for byte in char.encode())
        options = {re.escape(char), re.escape(encoded), re.escape(encoded.lower())}
        if char == " ":
            options.add(r"\+")
        parts.append("(?:" + "|".join(sorted(options)) + ")")
    return "".join(parts)


def _base64_forms(secret: bytes) -> set[str]:
    """The secret in base64, standard and URL-safe, with and without padding; and the stretch
    that encodes it alone when it follows a prefix (`user:token` in Basic auth) or precedes more.
    """
    whole: set[str] = set()
    pieces: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):  # where the secret starts within a 3-byte group
            text = encode(b"\0" * shift + secret).decode()
            # Characters made of the secret's bits alone: not the first 2 (shift 1) or 3
            # (shift 2) of the group it shares with the prefix, nor the one of the last group
            # that it may share with what follows.
            start = (0, 2, 3)[shift]
            full, rest = divmod(shift + len(secret), 3)
            core = text[start : 4 * full + rest]
            tail = text[start:]  # the secret at the very end, padding and all
            (whole if shift == 0 else pieces).update((tail, tail.rstrip("=")))
            pieces.add(core)
    return whole | {p for p in pieces if len(p) >= _MIN_PIECE}


def _forms(secret: str) -> set[str]:
    forms = {
        secret,
        json.dumps(secret)[1:-1],  # as JSON writes it, non-ASCII escaped or not
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],  # as an error message quoting it with !r does
    }
    return forms | _base64_forms(secret.encode())


class Redactor:
    """Replaces secrets with *** in every form a server or a library may echo them in.

    The forms are worked out once per secret and compiled into one pattern, so redacting is a
    single regex pass: raw; percent-encoded in any mix (see _percent_tolerant); JSON- and
    repr-escaped; base64, standard and URL-safe, padded or not, alone or behind a prefix.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= _forms(secret)
        # Longest first: where two forms start at one place, the whole of the longer goes.
        self.forms = tuple(sorted(forms, key=lambda f: (-len(f), f)))
        pattern = "|".join(_percent_tolerant(f) for f in self.forms)
        self._text = re.compile(pattern) if forms else None
        self._bytes = re.compile(pattern.encode()) if forms else None

    def __bool__(self) -> bool:
        return self._text is not None

    def __call__(self, text: str) -> str:
        return text if self._text is None else self._text.sub(MASK, text)

    def scrub(self, data: bytes) -> bytes | None:
        """`data` with the secrets masked, or None when none is in it (the common case)."""
        if self._bytes is None or self._bytes.search(data) is None:
            return None
        return self._bytes.sub(MASK.encode(), data)


def _scrubbed(response: httpx.Response, redactor: Redactor) -> httpx.Response:
    """The response with any echo of the token masked in its body (a listing's items, links)."""
    clean = redactor.scrub(response.content)
    if clean is None:
        return response
    # The content is decoded already: its encoding and length headers no longer apply.
    dropped = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=clean,
        request=response.request,
        extensions=response.extensions,
    )


def server_message(response: httpx.Response, redact: Callable[[str], str] = str) -> str:
    """The server's own words: a JSON body's message / error / detail, else the text.

    `redact` runs before long text is cut: a cut through an echoed token would leave a piece
    of it that redacting afterwards no longer recognises.
    """
    try:
        body = decode_json(response.content)
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


def _refused(exc: BaseException) -> bool:
    """Whether a transport error is a refused connection (ECONNREFUSED), causes followed."""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> OSError
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
        auth_hint: str = "",
    ) -> None:
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._token = token
        self.redactor = Redactor([token])  # once per client: the forms are compiled here
        self._auth_hint = auth_hint  # added to a 401 / 403: which variable holds the token
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
        return self.redactor(text)

    def _error(
        self,
        cls: type[ApiError],
        method: str,
        url: httpx.URL,
        status: int | None,
        message: str,
        body: object = None,
    ) -> ApiError:
        # Shown on a terminal: a server's control characters are escaped, never obeyed.
        shown_url, shown = printable(self.redact(str(url))), printable(self.redact(message))
        return cls(method, shown_url, status, shown, body=body)

    # -- requests -------------------------------------------------------------------------

    def request(self, method: str, path: str, **how: Unpack[Sending]) -> Any:
        """send(), and the parsed JSON body (None when empty), or ApiError."""
        response = self.send(method, path, **how)
        if not response.content:
            return None
        try:
            return decode_json(response.content)
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
        path: str | httpx.URL,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send with retries; the response, or ApiError. `waiting` is called once per attempt,
        when the request is written and the answer awaited (a listing's next page is worked on
        then, so that the work never competes with sending), or at the latest when the attempt
        ends, for a transport that does not say. `path` is under the base URL, or absolute
        (an httpx.URL is taken as it is)."""
        method = method.upper()
        url = path if isinstance(path, httpx.URL) else self.url(path)
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
        return self._with_retries(method, _Route(url), json_body, waiting)

    def _with_retries(
        self, method: str, route: _Route, json_body: Any, waiting: Callable[[], None] | None
    ) -> httpx.Response:
        """Attempts, spaced by the policy's backoff, for as long as classify() says another
        may succeed."""
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = self._with_redirects(method, route, json_body, waiting)
                outcome: int | Exception = response.status_code
            except httpx.TransportError as exc:
                outcome = exc
            verdict = classify(method, outcome)
            if verdict.error is None and response is not None:
                return response
            attempts = self._retry.attempts
            if verdict.refused:
                attempts = min(self._retry.refused_attempts, attempts)
            if not verdict.retry or attempt >= attempts:
                raise self._failure(verdict, method, route.url, outcome, response)
            if verdict.refused:
                retry_after: float | None = self._retry.refused_backoff
            else:
                retry_after = (
                    parse_retry_after(response.headers.get("retry-after")) if response else None
                )
            delay = self._retry.delay(attempt, retry_after)
            shown = self.redact(str(route.url))
            log.debug("retrying %s %s in %.2fs (attempt %d)", method, shown, delay, attempt + 1)
            if delay > 0:
                self._sleep(delay)

    def _with_redirects(
        self, method: str, route: _Route, json_body: Any, waiting: Callable[[], None] | None
    ) -> httpx.Response:
        """One attempt: the request, and the redirects it is answered with, within the origin.
        The route is kept across attempts: a retry goes where the last redirect pointed."""
        while True:
            response = self._once(method, route.url, json_body, waiting)
            if response.status_code not in REDIRECTS or "location" not in response.headers:
                return response
            route.url = self._redirect(method, route.url, response, route.redirects)
            route.redirects += 1

    def _failure(
        self,
        verdict: Verdict,
        method: str,
        url: httpx.URL,
        outcome: int | Exception,
        response: httpx.Response | None,
    ) -> ApiError:
        cls = verdict.error or ApiError
        if response is None or isinstance(outcome, Exception):
            if verdict.refused:
                origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
                return self._error(
                    cls, method, url, None, f"connection refused: nothing listening at {origin}?"
                )
            problem = self.redact(
                f"{type(outcome).__name__}: {outcome}" if str(outcome) else type(outcome).__name__
            )
            if cls is AmbiguousWrite:
                problem = f"no answer ({problem}); the request may or may not have been processed"
            return self._error(cls, method, url, None, problem)
        message = server_message(response, self.redact)
        if outcome in (401, 403) and self._auth_hint:
            message = f"{message}; {self._auth_hint}"
        return self._error(cls, method, url, outcome, message, _json_or_none(response))

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
            response = _scrubbed(response, self.redactor)
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


_DECODER = msgspec.json.Decoder()


def decode_json(content: bytes) -> Any:
    """A body's JSON, as json.loads reads it, twice as fast for a listing's pages: msgspec's
    decoder, and the standard library's for what msgspec refuses that json.loads reads (NaN,
    a byte order mark or UTF-16, a lone surrogate, a number beyond a float) or rejects itself
    (its ValueError, UnicodeDecodeError or RecursionError is raised)."""
    try:
        return _DECODER.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(content)


def _json_or_none(response: httpx.Response) -> object:
    try:
        return decode_json(response.content)
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
    if target.token_env:
        hint = f"check {target.token_env} (the token variable of target {target_name!r})"
    else:
        hint = f"target {target_name!r} sends no token: name its variable with token_env"
    return ApiClient(
        url,
        token,
        verify=target.verify_tls,
        retry=retry,
        timeouts=timeouts,
        max_connections=max_connections,
        auth_hint=hint,
    )
