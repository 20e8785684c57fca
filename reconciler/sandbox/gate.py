"""The ASGI layer in front of every /api request: request log, latency, body limit, faults,
auth.

The body is read here, before anything else looks at it, and at most `max_body` bytes of it:
a Content-Length over the limit is answered 413 without reading a byte, and a chunked body is
counted as it comes and answered 413 as soon as it passes the limit. The rest of an
oversized body is left to uvicorn, which discards it (the connection stays usable), and to
the server's request timeout, which bounds how long that may take.

Fault injection (DESIGN §6), decided per request from one seeded random stream:

- latency: every request waits `latency_ms` (asyncio.sleep, so others proceed meanwhile).
- fail_rate: the request is refused before anything is processed, leaving state untouched:
  429 or 503 with Retry-After, or (one in five of these) a dropped connection.
- ambiguous_rate: a POST is processed; if it created something (201) the answer is replaced
  by a dropped connection, so the client cannot tell whether the write happened.

A "dropped connection" starts a response and then raises DroppedConnection: uvicorn closes
the socket mid-response and the client (httpx: RemoteProtocolError) gets nothing usable.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, NoReturn

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import error_body
from .service import SandboxState

API_PREFIX = "/api/"
DROP_SHARE = 0.2  # of refused requests, the part answered by a dropped connection
_RATE_LIMITED_SHARE = 0.5  # of the rest, the part answered 429 (the others 503)


class DroppedConnection(Exception):
    """Raised after a response has started, to make the server close the connection."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging our deliberate drops as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def silence_dropped_connections(logger: logging.Logger) -> None:
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


class Gate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        ctx: SandboxState,
        token: str | None,
        max_body: int,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(API_PREFIX):
            await self.app(scope, receive, send)  # /openapi.json and /docs stay reliable
            return
        method = str(scope["method"])
        self.ctx.request_log.append((method, str(scope["path"])))
        # Three draws on every request, whatever the rates: a seed replays the same faults
        # even when a test changes the rates halfway through.
        fail_draw, kind_draw, ambiguous_draw = (self.ctx.rng.random() for _ in range(3))
        faults = self.ctx.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        replay = await self._read_body(scope, receive, send)
        if replay is None:
            return  # answered 413, or the client went away
        if fail_draw < faults.fail_rate:
            if kind_draw < DROP_SHARE:
                await _drop(send)
            rate_limited = kind_draw < DROP_SHARE + (1 - DROP_SHARE) * _RATE_LIMITED_SHARE
            status = 429 if rate_limited else 503
            message = "rate limited" if rate_limited else "service unavailable"
            await _send_json(
                send, status, error_body(message), {"retry-after": f"{faults.retry_after:g}"}
            )
            return
        if not self._authorized(scope):
            await _send_json(send, 401, error_body("unauthorized"), {"www-authenticate": "Bearer"})
            return
        if method == "POST" and ambiguous_draw < faults.ambiguous_rate:
            await self._commit_then_drop(scope, replay, send)
            return
        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """The whole body, read now and within the limit, handed on as one message.

        Reading it before a fault or a 401 is answered also matters for those answers:
        closing with a body unread makes the kernel reset the connection, and the client
        would see that instead of our answer. None: a 413 was sent or the client is gone.
        """
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value)  # h11 lets only digits through
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked and not declared:
            return receive  # no body: nothing to read or to hold
        if declared is not None and declared > self.max_body:
            await self._too_large(send, declared)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # disconnected (or timed out by the server) mid-body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(send, None)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()  # after the body: the disconnect, when it comes
            message, body = body, None
            return message

        return replay

    async def _too_large(self, send: Send, declared: int | None) -> None:
        size = "" if declared is None else f"{declared} bytes, "
        message = f"request body too large: {size}over the {self.max_body}-byte limit"
        await _send_json(send, 413, error_body(message))

    def _authorized(self, scope: Scope) -> bool:
        # Checked here rather than in a route dependency so it comes before body parsing.
        if self.token is None:
            return True
        expected = f"Bearer {self.token}".encode()
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, expected)
        return False

    async def _commit_then_drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        if held and held[0]["type"] == "http.response.start" and held[0]["status"] == 201:
            await _drop(send)
        for message in held:  # not a create, or it failed: answer normally
            await send(message)


async def _drop(send: Send) -> NoReturn:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    raise DroppedConnection


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
