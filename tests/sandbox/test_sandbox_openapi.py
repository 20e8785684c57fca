"""The OpenAPI document: it lists every endpoint, and the servers keep to it under fuzzing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.openapi import from_url

from reconciler.sandbox import SandboxOptions, running_sandbox
from reconciler.sandbox.server import RunningSandbox

from .helpers import client

ENDPOINTS = {
    "engine": {
        ("get", "/api/instances/{slug}/scheduled-tasks"),
        ("post", "/api/instances/{slug}/scheduled-tasks"),
        ("get", "/api/instances/{slug}/scheduled-tasks/runs"),
        ("get", "/api/instances/{slug}/scheduled-tasks/{task_id}"),
        ("patch", "/api/instances/{slug}/scheduled-tasks/{task_id}"),
        ("delete", "/api/instances/{slug}/scheduled-tasks/{task_id}"),
        ("post", "/api/instances/{slug}/scheduled-tasks/{task_id}/run"),
        ("get", "/api/instances/{slug}/scheduled-tasks/{task_id}/runs"),
    },
    "aitroop": {
        ("get", "/api/scheduled-tasks"),
        ("post", "/api/scheduled-tasks"),
        ("put", "/api/scheduled-tasks/{task_id}"),
        ("delete", "/api/scheduled-tasks/{task_id}"),
        ("post", "/api/scheduled-tasks/{task_id}/run"),
        ("get", "/api/scheduled-tasks/{task_id}/runs"),
    },
}


def test_document_lists_every_endpoint(
    engine_sandbox: RunningSandbox, aitroop_sandbox: RunningSandbox
) -> None:
    for platform, sandbox in (("engine", engine_sandbox), ("aitroop", aitroop_sandbox)):
        with client(sandbox) as c:
            spec = c.get("/openapi.json").json()
        found = {(method, path) for path, item in spec["paths"].items() for method in item}
        assert found == ENDPOINTS[platform]


@pytest.fixture(scope="module", params=["engine", "aitroop"])
def live_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    db = tmp_path_factory.mktemp("fuzz") / f"{request.param}.db"
    with running_sandbox(SandboxOptions(platform=request.param, db=db, seed=0)) as sandbox:
        yield from_url(sandbox.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_no_server_errors_and_no_off_document_answers(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_headers_conformance,
            checks.response_schema_conformance,
            checks.negative_data_rejection,
        ]
    )
