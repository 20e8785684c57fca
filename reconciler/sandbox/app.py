"""Build the FastAPI application for one platform."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from .aitroop import AitroopApi
from .clock import utc_now
from .engine import EngineApi
from .gate import Gate
from .options import Faults, SandboxOptions
from .problems import ErrorBody, Problem, error_body
from .service import Context
from .store import Store

_TITLES = {
    "engine": "engine scheduled tasks (schedctl sandbox)",
    "aitroop": "aitroop schedules (schedctl sandbox)",
}


@dataclass
class SandboxState:
    """What a running sandbox exposes to its host (RunningSandbox, tests): on app.state.sandbox."""

    store: Store
    faults: Faults
    request_log: list[tuple[str, str]] = field(default_factory=list)


def create_app(opts: SandboxOptions) -> FastAPI:
    store = Store(opts.db, opts.platform, opts.seed)
    faults = Faults.from_options(opts)
    state = SandboxState(store, faults)
    ctx = Context(store, faults, opts.clock or utc_now)
    api = EngineApi(ctx) if opts.platform == "engine" else AitroopApi(ctx)

    app = FastAPI(title=_TITLES[opts.platform], version="1", redoc_url=None)
    app.state.sandbox = state
    # The Gate middleware enforces the token; this dependency only documents the scheme.
    documented_auth = [Depends(HTTPBearer(auto_error=False))] if opts.token else []
    errors: dict[int | str, dict[str, object]] = {422: {"model": ErrorBody}}
    if opts.token:
        errors[401] = {"model": ErrorBody}
    app.include_router(api.router(), dependencies=documented_auth, responses=errors)

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return JSONResponse(error_body(exc.message), exc.status, headers=exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, detail = api.style.summarize(exc.errors())
        return JSONResponse(error_body(message, detail), 422)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)  # unknown routes, wrong methods: same shape
        return JSONResponse(error_body(str(exc.detail)), exc.status_code, headers=exc.headers)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)
    app.add_middleware(
        Gate, faults=faults, token=opts.token, seed=opts.seed, request_log=state.request_log
    )
    return app
