"""Build the FastAPI application for one platform: the shared server around its sandbox API."""

from __future__ import annotations

import random
from typing import Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from reconciler import platforms

from .clock import utc_now
from .gate import Gate
from .options import Faults, SandboxOptions
from .problems import ErrorBody, MessageStyle, Problem, error_body
from .service import Context
from .store import Store


class SandboxApi(Protocol):
    """A platform's emulated API, as its folder's sandbox.py builds it over a Context."""

    title: str  # of the OpenAPI document
    style: MessageStyle  # how its 422 answers name fields

    def router(self) -> APIRouter: ...


def create_app(opts: SandboxOptions) -> FastAPI:
    build_api = platforms.get(opts.platform).sandbox
    if build_api is None:  # SandboxOptions checked it: a bug if reached
        raise ValueError(f"platform {opts.platform!r} has no sandbox API")
    store = Store(opts.db, opts.platform, opts.seed)
    ctx = Context(store, Faults.from_options(opts), opts.clock or utc_now, random.Random(opts.seed))
    api = build_api(ctx)

    app = FastAPI(title=api.title, version="1", redoc_url=None)
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
