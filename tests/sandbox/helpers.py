"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from reconciler.sandbox.server import RunningSandbox

ENGINE = "/api/instances/acme/scheduled-tasks"
AITROOP = "/api/scheduled-tasks"


@dataclass
class FakeClock:
    """A clock a test moves by hand (SandboxOptions.clock)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


# Built once: loading CA certificates costs ~40 ms per client, and the sandbox is plain HTTP.
_TLS = ssl.create_default_context()


@contextmanager
def client(sandbox: RunningSandbox, **kwargs: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5, verify=_TLS, **kwargs) as c:
        yield c


def engine_task(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Morning digest",
        "prompt": "Summarise the last day.",
        "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Rome"},
    }
    body.update(changes)
    return body


def aitroop_task(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Weekly report",
        "schedule_type": "daily",
        "schedule_config": {"time": "09:00"},
        "action_type": "send_message",
        "action_config": {"prompt": "Summarize my GitHub activity since yesterday."},
    }
    body.update(changes)
    return body


@contextmanager
def raw_socket(sandbox: RunningSandbox, timeout: float = 10) -> Iterator[socket.socket]:
    """A plain TCP connection to the sandbox, for requests no HTTP client would send."""
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        yield sock


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: Any  # the decoded JSON


def read_answer(sock: socket.socket) -> RawAnswer:
    """One HTTP response off a raw connection (the request was written by hand)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    payload = response.read()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return RawAnswer(response.status, headers, json.loads(payload) if payload else None)


def wait_for_close(sock: socket.socket) -> tuple[float, bytes]:
    """(seconds until the server closed the connection, what it sent meanwhile)."""
    started = time.monotonic()
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass  # closed all the same
    return time.monotonic() - started, received
