"""Build the FastAPI application for one platform."""

from __future__ import annotations

import random

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from reconciler.platforms.aitroop.sandbox import AitroopApi
from reconciler.platforms.engine.sandbox import EngineApi

from .clock import utc_now
from .gate import Gate
from .options import Faults, SandboxOptions
from .problems import ErrorBody, Problem, error_body
from .service import Context
from .store import Store

_TITLES = {
    "engine": "engine scheduled tasks (schedctl sandbox)",
    "aitroop": "aitroop schedules (schedctl sandbox)",
}


def create_app(opts: SandboxOptions) -> FastAPI:
    store = Store(opts.db, opts.platform, opts.seed)
    ctx = Context(store, Faults.from_options(opts), opts.clock or utc_now, random.Random(opts.seed))
    api = EngineApi(ctx) if opts.platform == "engine" else AitroopApi(ctx)

    app = FastAPI(title=_TITLES[opts.platform], version="1", redoc_url=None)
    app.state.sandbox = ctx
    # The Gate middleware enforces the token; this dependency only documents the scheme.
    documented_auth = [Depends(HTTPBearer(auto_error=False))] if opts.token else []
    # 400: a body FastAPI cannot even decode (not UTF-8); 422: everything else that is invalid.
    errors: dict[int | str, dict[str, object]] = {
        400: {"model": ErrorBody},
        422: {"model": ErrorBody},
    }
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
    app.add_middleware(Gate, ctx=ctx, token=opts.token)
    return app
