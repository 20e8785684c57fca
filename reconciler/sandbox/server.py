"""Serving a sandbox app on uvicorn: in a background thread (tests, `sandbox:` targets) or in
the foreground (`schedctl sandbox`)."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.errors import SandboxError

from .app import create_app
from .firing import Advanced, Scheduler
from .gate import silence_dropped_connections
from .options import FaultKnobs, Faults, RunFaults, SandboxOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11
from .problems import error_body
from .service import SandboxState

_START_TIMEOUT = 10.0
# One in-process sandbox builds its routes at a time (see _build_routes).
_BUILD_LOCK = threading.Lock()


@dataclass
class RunningSandbox:
    url: str
    opts: SandboxOptions
    app: FastAPI

    @property
    def ctx(self) -> SandboxState:
        return _context(self.app)

    @property
    def scheduler(self) -> Scheduler | None:
        return _scheduler(self.app)

    def advance(self, to: datetime | timedelta) -> Advanced:
        """Move the virtual clock (by a span, or to an instant), firing every tick between:
        `POST /__sandbox/clock` without the HTTP."""
        scheduler = self.scheduler
        if scheduler is None:
            raise SandboxError("this sandbox has no scheduler (its clock is pinned)")
        return scheduler.advance(scheduler.now() + to if isinstance(to, timedelta) else to)

    def set_run_faults(self, **changes: object) -> RunFaults:
        """Change what runs produce (RunFaults keys, as `POST /__sandbox/faults` takes them)."""
        ctx = self.ctx
        with ctx.lock:
            ctx.runs = RunFaults.parse(changes, "set_run_faults", base=ctx.runs)
        return ctx.runs

    @property
    def request_log(self) -> list[tuple[str, str]]:
        """(method, path) of every /api request received, faulted ones included (a copy;
        the last 100,000)."""
        return list(self.ctx.request_log)

    def set_faults(self, **changes: Unpack[FaultKnobs]) -> None:
        """Change fault settings while serving; only the knobs given change."""
        self.ctx.faults.update(**changes)

    def reset(self) -> None:
        """Back to a fresh sandbox while it keeps serving: no tasks or runs, the id sequence,
        the fault stream and the fault settings as at start, an empty request log."""
        ctx = self.ctx
        with ctx.lock:
            ctx.store.wipe()
            ctx.faults.assign(Faults.from_options(self.opts))
            ctx.rng.seed(self.opts.seed)
            ctx.request_log.clear()
            ctx.runs = self.opts.runs
            scheduler = self.scheduler
            if scheduler is not None:
                scheduler.reset(Scheduler.start_time(ctx, self.opts.start))


def _context(app: FastAPI) -> SandboxState:
    ctx = app.state.sandbox
    assert isinstance(ctx, SandboxState)
    return ctx


def _scheduler(app: FastAPI) -> Scheduler | None:
    scheduler = app.state.scheduler
    assert scheduler is None or isinstance(scheduler, Scheduler)
    return scheduler


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it Nagle plus delayed ACKs add 40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening before the URL is announced: a client that connects at once is queued.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise SandboxError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop on SIGINT / SIGTERM and return normally.

        uvicorn's own version re-raises the signal once shut down, which turns a clean stop
        into a KeyboardInterrupt traceback or a death by SIGTERM.
        """
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only; a background server is stopped by flag
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _TimedH11(H11Protocol):
    """uvicorn's h11 protocol, with the read deadlines uvicorn lacks.

    uvicorn closes an idle connection only once it has answered a request on it: a client
    that connects and sends nothing, or sends part of a request and stalls, is held for ever
    (and a trickle of bytes resets any idle timer). Here a connection with no request under
    way, new or between requests, closes after the keep-alive timeout; a request must arrive
    whole, headers and body, within `request_timeout` of its first byte, else it is answered
    408 (when nothing was answered yet) and the connection closes. h11's own state says which
    phase a connection is in, which is why the sandbox pins the h11 implementation.
    """

    request_timeout = 10.0  # set per server by _protocol()
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        super().connection_made(transport)
        self._settle()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._settle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._settle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # A request h11 cannot parse: the same JSON error body as every other answer.
        self._answer(400, "Bad Request", f"invalid HTTP request: {msg.rstrip('.')}")

    def _receiving(self) -> bool:
        """Part of a request is in: its headers so far (h11 holds them until complete), or
        its headers and part of its body (read, or left unread after an early answer)."""
        their = self.conn.their_state
        return their is h11.SEND_BODY or (their is h11.IDLE and bool(self.conn.trailing_data[0]))

    def _settle(self) -> None:
        if self.transport.is_closing():
            return
        if self._receiving():
            if self._deadline is None:  # from the first byte: a trickle does not extend it
                self._deadline = self.loop.call_later(self.request_timeout, self._expire)
            return
        self._disarm()
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self.timeout_keep_alive_task is None:
            # A new connection, or one whose last request ended after its answer: idle now.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        answered = self.cycle is not None and self.cycle.response_started
        if self.conn.their_state is h11.IDLE or not answered:
            seconds = f"{self.request_timeout:g}"
            self._answer(408, "Request Timeout", f"request not received whole within {seconds} s")
        else:
            self.transport.close()

    def _answer(self, status: int, reason: str, message: str) -> None:
        """Write an error answer past h11 (whose state may not allow one) and close."""
        body = json.dumps(error_body(message)).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def _protocol(request_timeout: float) -> type[_TimedH11]:
    return type("TimedH11", (_TimedH11,), {"request_timeout": request_timeout})


def _server(app: FastAPI, opts: SandboxOptions) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        http=_protocol(opts.request_timeout),
        log_level="warning",
        access_log=False,
        lifespan="off",
        # The idle timeout (30 s by default) is well over what clients keep idle pooled
        # connections (httpx: 5 s). uvicorn's default, also 5 s, races a client reusing a
        # connection as the server closes it: a spurious reset, which to a client that must
        # not retry a POST blindly looks like an ambiguous create. The sandbox injects such
        # faults on purpose, never by accident. (Typed int, but uvicorn only hands it to
        # loop.call_later: tests use fractions.)
        timeout_keep_alive=opts.idle_timeout,  # type: ignore[arg-type]
    )
    silence_dropped_connections(logging.getLogger("uvicorn.error"))
    return _Server(config)


def _close(app: FastAPI) -> None:
    scheduler = _scheduler(app)
    if scheduler is not None:
        scheduler.stop()  # before the store closes under a tick
    _context(app).store.close()


@contextmanager
def running_sandbox(
    opts: SandboxOptions, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSandbox]:
    """Serve in a background thread for the duration of the block."""
    app = create_app(opts)
    try:
        sock = _bind(host, port)
    except SandboxError:
        _close(app)
        raise
    server = _server(app, opts)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="schedctl-sandbox", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SandboxError("the sandbox server did not start")
            thread.join(0.005)
        _build_routes(sock)
        _start_ticking(app)
        yield RunningSandbox(url=_url(sock), opts=opts, app=app)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
        _close(app)


def _start_ticking(app: FastAPI) -> None:
    """The real clock's scheduler ticks in the background from now on (a virtual one waits
    to be advanced)."""
    scheduler = _scheduler(app)
    if scheduler is not None:
        scheduler.start()


def _build_routes(sock: socket.socket) -> None:
    """Have FastAPI build the route tables now, one sandbox at a time.

    It builds them on the first request, and silences a pydantic warning meanwhile with
    warnings.catch_warnings, which is not thread-safe: two in-process sandboxes answering their
    first requests at once (a `local` engine and aitroop pair, listed side by side) could let
    the warning escape, printed or, under -W error as in the test suite, a 500. A path outside
    /api builds them without touching the request log or the fault stream.
    """
    host, port = sock.getsockname()[:2]
    with _BUILD_LOCK:
        conn = http.client.HTTPConnection(host, port, timeout=_START_TIMEOUT)
        try:
            conn.request("GET", "/.well-known/schedctl-warm-up")
            conn.getresponse().read()
        except OSError:
            pass  # best effort: the first real request builds them instead
        finally:
            conn.close()


def _print_line(text: str) -> None:
    print(text, flush=True)  # a parent reading our stdout through a pipe sees it at once


def serve(
    opts: SandboxOptions,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], None] = _print_line,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; the base URL is announced first."""
    app = create_app(opts)
    try:
        sock = _bind(host, port)
        try:
            announce(_url(sock))
            _start_ticking(app)
            _server(app, opts).run(sockets=[sock])
        finally:
            sock.close()
    finally:
        _close(app)
