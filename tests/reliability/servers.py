"""Tiny local servers for the reliability and security tests.

    serving(respond)          a threaded HTTP(S) server: `respond(Seen) -> Answer`; keeps `seen`
    forwarding(base, fail)    a proxy to a sandbox that answers for it when `fail(seen)` says so
    self_signed(dir)          a certificate for 127.0.0.1 / localhost that no CA vouches for

Each server records every request it receives (method, path, headers, body), so a test can
assert what reached it and what did not.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import serve_in_thread


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int  # DROP.status: close the connection without answering
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


DROP = Answer(0)


Respond = Callable[[Seen], Answer]


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, respond: Respond, url_host: str, scheme: str) -> None:
        super().__init__((host, 0), _Handler)
        self.respond = respond
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = f"{scheme}://{url_host}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length) if length else b"",
        )
        with self.server.lock:
            self.server.seen.append(seen)
        answer = self.server.respond(seen)
        if answer.status == DROP.status:
            self.close_connection = True
            return
        self.send_response(answer.status)
        headers = {"Content-Type": "application/json", **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@contextmanager
def serving(
    respond: Respond,
    *,
    host: str = "127.0.0.1",
    url_host: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Server]:
    """Serve on `host`, an ephemeral port; `url` names it as `url_host` (default: host)."""
    server = Server(host, respond, url_host or host, "https" if tls else "http")
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    with serve_in_thread(server):
        yield server


_FORWARDED = ("authorization", "content-type", "accept")
_RETURNED = ("content-type", "retry-after", "link")


@contextmanager
def forwarding(base_url: str, fail: Callable[[Seen], Answer | None]) -> Iterator[Server]:
    """A proxy in front of `base_url`: `fail(seen)` may answer instead of the upstream."""
    with httpx.Client(base_url=base_url, timeout=30) as upstream:

        def respond(seen: Seen) -> Answer:
            answer = fail(seen)
            if answer is not None:
                return answer
            got = upstream.request(
                seen.method,
                seen.path,
                content=seen.body or None,
                headers={k: v for k, v in seen.headers.items() if k in _FORWARDED},
            )
            headers = {k: v for k, v in got.headers.items() if k in _RETURNED}
            return Answer(got.status_code, got.content, headers)

        with serving(respond) as server:
            yield server


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(directory: Path) -> Certificate:
    """A fresh self-signed certificate for localhost and 127.0.0.1 (made by openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return Certificate(cert, key)
