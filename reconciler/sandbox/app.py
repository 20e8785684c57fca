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
from .problems import ErrorBody, MessageStyle, Problem, error_body, is_query_error, shown
from .service import SandboxState
from .store import Store


class SandboxApi(Protocol):
    """A platform's emulated API, as its folder's sandbox.py builds it over a SandboxState."""

    title: str  # of the OpenAPI document
    style: MessageStyle  # how its 422 answers name fields

    def router(self) -> APIRouter: ...


def create_app(opts: SandboxOptions) -> FastAPI:
    build_api = platforms.get(opts.platform).sandbox
    if build_api is None:  # SandboxOptions checked it: a bug if reached
        raise ValueError(f"platform {opts.platform!r} has no sandbox API")
    store = Store(opts.db, opts.platform, opts.seed)
    ctx = SandboxState(
        store, Faults.from_options(opts), opts.clock or utc_now, random.Random(opts.seed)
    )
    api = build_api(ctx)

    app = FastAPI(title=api.title, version="1", redoc_url=None)
    app.state.sandbox = ctx
    # The Gate middleware enforces the token; this dependency only documents the scheme.
    documented_auth = [Depends(HTTPBearer(auto_error=False))] if opts.token else []
    # 400: a bad query parameter, or a body that is not even JSON; 408: a request not sent
    # whole in time; 413: a body over the size limit; 422: everything else that is invalid.
    errors: dict[int | str, dict[str, object]] = {
        status: {"model": ErrorBody} for status in (400, 408, 413, 422)
    }
    if opts.token:
        errors[401] = {"model": ErrorBody}
    app.include_router(api.router(), dependencies=documented_auth, responses=errors)

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return JSONResponse(error_body(exc.message), exc.status, headers=exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        message, detail = api.style.summarize(errors)
        if errors and all(is_query_error(e) for e in errors):
            return JSONResponse(error_body(message, detail), 400)
        if errors and isinstance(errors[0].get("input"), bytes):
            # Raw bytes: FastAPI decodes a body as JSON only when the request says it is JSON.
            sent = request.headers.get("content-type")
            message = detail[0]["msg"] = (
                "request body must be JSON, sent with Content-Type: application/json "
                + (f"(got {shown(sent)})" if sent else "(no Content-Type sent)")
            )
        return JSONResponse(error_body(message, detail), 422)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)  # unknown routes, wrong methods: same shape
        message = str(exc.detail)
        cause = exc.__cause__
        if exc.status_code == 400 and cause is not None:
            # FastAPI's words for a body json.loads gave up on; say why instead.
            why = "nested too deeply" if isinstance(cause, RecursionError) else str(cause)
            message = f"invalid JSON body: {why.split(':', 1)[0]}"
        return JSONResponse(error_body(message), exc.status_code, headers=exc.headers)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)
    app.add_middleware(Gate, ctx=ctx, token=opts.token, max_body=opts.max_body)
    return app
