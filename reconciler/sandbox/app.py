"""Build the FastAPI application for one platform: the shared server around its sandbox API."""

from __future__ import annotations

import random
import secrets
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from reconciler import platforms
from reconciler.clock import VirtualClock

from .firing import Firing, Scheduler
from .gate import Gate
from .options import Faults, RunFaults, SandboxOptions
from .problems import ErrorBody, MessageStyle, Problem, error_body, is_query_error, shown
from .service import SandboxState
from .store import Store
from .wire import iso, parse_iso, utc_now


class SandboxApi(Protocol):
    """A platform's emulated API, as its folder's sandbox.py builds it over a SandboxState."""

    title: str  # of the OpenAPI document
    style: MessageStyle  # how its 422 answers name fields

    def router(self) -> APIRouter: ...


def create_app(opts: SandboxOptions) -> FastAPI:
    build_api = platforms.get(opts.platform).sandbox_api()
    if build_api is None:  # SandboxOptions checked it: a bug if reached
        raise ValueError(f"platform {opts.platform!r} has no sandbox API")
    store = Store(opts.db, opts.platform, opts.seed)
    salt = secrets.token_hex(8) if opts.seed is None else str(opts.seed)
    ctx = SandboxState(
        store,
        Faults.from_options(opts),
        opts.clock or utc_now,
        random.Random(opts.seed),
        runs=opts.runs,
        salt=salt,
    )
    virtual = None
    if opts.clock is None and opts.clock_kind == "virtual":
        virtual = VirtualClock(Scheduler.start_time(ctx, opts.start))
        ctx.clock = virtual.now
    api = build_api(ctx)
    # A pinned clock (tests of server-computed times) fires nothing: time is the test's.
    scheduler = None
    if opts.clock is None and isinstance(api, Firing):
        ctx.fires = True
        scheduler = Scheduler(ctx, api, opts.clock_kind, virtual)

    app = FastAPI(title=api.title, version="1", redoc_url=None)
    app.state.sandbox = ctx
    app.state.scheduler = scheduler
    app.include_router(_side_routes(ctx, scheduler, opts.token))
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


def _side_routes(ctx: SandboxState, scheduler: Scheduler | None, token: str | None) -> APIRouter:
    """`/__sandbox/...`: the sandbox's own controls, outside the emulated API (not in its
    OpenAPI document, past the Gate's faults). They take the token too, when one is set."""

    async def allowed(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is not None and authorization != f"Bearer {token}":
            raise Problem(401, "missing or wrong bearer token")

    router = APIRouter(
        prefix="/__sandbox", include_in_schema=False, dependencies=[Depends(allowed)]
    )

    def running() -> Scheduler:
        if scheduler is None:
            raise Problem(409, "this sandbox has no scheduler (its clock is pinned by the caller)")
        return scheduler

    @router.get("/clock")
    async def get_clock() -> dict[str, Any]:
        kind = "pinned" if scheduler is None else scheduler.kind
        return {"now": iso(ctx.now()), "clock": kind}

    @router.post("/clock")
    async def move_clock(
        body: Annotated[dict[str, Any], Body()],
    ) -> dict[str, object]:
        sched = running()
        example = 'e.g. {"advance": "7d"} or {"to": "2026-03-09T00:00:00Z"}'
        if set(body) not in ({"advance"}, {"to"}):
            raise Problem(422, f"send exactly one of advance or to, {example}")
        try:
            if "advance" in body:
                from reconciler.timing import parse_duration

                to = ctx.now() + parse_duration(body["advance"])
            else:
                if not isinstance(body["to"], str):
                    raise ValueError(f"to must be an ISO 8601 timestamp, not {body['to']!r}")
                to = parse_iso(body["to"])
            return sched.advance(to).to_json()
        except (ValueError, OverflowError) as exc:
            raise Problem(422, f"{exc}; {example}") from None

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return ctx.runs.to_json()

    @router.post("/faults")
    async def set_faults(
        body: Annotated[dict[str, Any], Body()],
    ) -> dict[str, Any]:
        try:
            runs = RunFaults.parse(body, "POST /__sandbox/faults", base=ctx.runs)
        except ValueError as exc:
            raise Problem(422, str(exc)) from None
        with ctx.lock:
            ctx.runs = runs
        return runs.to_json()

    return router
