"""The ASGI layer in front of every /api request: request log, latency, faults, auth.

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
from .service import Context

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
        ctx: Context,
        token: str | None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.token = token

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
        if fail_draw < faults.fail_rate:
            # Read the body first: closing with it unread makes the kernel reset the
            # connection, and the client would see that instead of our answer.
            await _drain(receive)
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
            await _drain(receive)
            await _send_json(send, 401, error_body("unauthorized"), {"www-authenticate": "Bearer"})
            return
        if method == "POST" and ambiguous_draw < faults.ambiguous_rate:
            await self._commit_then_drop(scope, receive, send)
            return
        await self.app(scope, receive, send)

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


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


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
