"""The shared emulated-platform server: `schedctl sandbox`, `sandbox:` targets and the tests.

Each platform's API lives in its folder (reconciler/platforms/NAME/sandbox.py) and is found
through the registry; this package serves it: store, faults, paging, errors, uvicorn.

Importing this package stays cheap (no FastAPI, no uvicorn): the functions below load the
server modules when called.

    with running_sandbox(SandboxOptions(platform="engine", db=path)) as sandbox:
        httpx.get(sandbox.url + "/api/instances/acme/scheduled-tasks")
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from .options import Faults, SandboxOptions

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .server import RunningSandbox

__all__ = [
    "Faults",
    "RunningSandbox",
    "SandboxOptions",
    "create_app",
    "running_sandbox",
    "serve",
]


def create_app(opts: SandboxOptions) -> FastAPI:
    from .app import create_app as build

    return build(opts)


def running_sandbox(
    opts: SandboxOptions, host: str = "127.0.0.1", port: int = 0
) -> AbstractContextManager[RunningSandbox]:
    """uvicorn in a background thread on a loopback port, for the duration of a `with`."""
    from .server import running_sandbox as run

    return run(opts, host, port)


def serve(
    opts: SandboxOptions,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Blocking, for `schedctl sandbox`: announce the base URL (default: print it, flushed)
    as the first line, then serve until SIGINT / SIGTERM."""
    from .server import serve as run

    if announce is None:
        run(opts, host, port)
    else:
        run(opts, host, port, announce)


def __getattr__(name: str) -> object:
    if name == "RunningSandbox":
        from .server import RunningSandbox

        return RunningSandbox
    raise AttributeError(name)
