"""classify(): what one attempt's outcome means for the request, read from a table."""

from __future__ import annotations

import httpx
import pytest

from reconciler.errors import AmbiguousWrite, ApiError
from reconciler.http import Verdict, classify

REQUEST = httpx.Request("POST", "http://127.0.0.1/tasks")
CONNECT = httpx.ConnectError("refused", request=REQUEST)
READ_TIMEOUT = httpx.ReadTimeout("slow", request=REQUEST)
RESET = httpx.RemoteProtocolError("peer closed", request=REQUEST)

OK, FAIL = Verdict(None), Verdict(ApiError)
RETRY, AMBIGUOUS = Verdict(ApiError, retry=True), Verdict(AmbiguousWrite)
RETRY_THEN_AMBIGUOUS = Verdict(AmbiguousWrite, retry=True)


@pytest.mark.parametrize(
    ("method", "outcome", "verdict"),
    [
        ("GET", 200, OK),
        ("POST", 201, OK),
        ("DELETE", 204, OK),
        ("GET", 304, OK),
        ("GET", 404, FAIL),
        ("PUT", 409, FAIL),
        ("POST", 400, FAIL),
        ("POST", 500, FAIL),
        ("GET", 500, FAIL),
        ("GET", 429, RETRY),
        ("GET", 502, RETRY),
        ("PATCH", 503, RETRY),
        ("DELETE", 504, RETRY),
        ("post", 429, RETRY_THEN_AMBIGUOUS),  # refused: safe to send again
        ("POST", 503, RETRY_THEN_AMBIGUOUS),
        ("POST", 502, AMBIGUOUS),  # a proxy lost the answer: it may have happened
        ("POST", 504, AMBIGUOUS),
        ("GET", CONNECT, RETRY),
        ("POST", CONNECT, RETRY),  # never reached the server
        ("GET", READ_TIMEOUT, RETRY),
        ("POST", READ_TIMEOUT, AMBIGUOUS),
        ("POST", RESET, AMBIGUOUS),
        ("PUT", RESET, RETRY),
    ],
)
def test_classify(method: str, outcome: int | Exception, verdict: Verdict) -> None:
    assert classify(method, outcome) == verdict
