"""The second floor of the plan and apply figures: a minimal keep-alive httpx client.

It sends the requests schedctl sends (the same paths, bodies and headers, one shared
connection pool), against the same server in the same run, and does nothing else: no
retries, no conversion, no diff. What schedctl takes above it is schedctl's own cost on
that server, whatever the server spends per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

HEADERS = {"Accept": "application/json", "User-Agent": "schedctl"}
Request = tuple[str, str, Any]  # method, path under the base URL, JSON body


def _next(body: Any) -> str | None:
    """The next cursor or link of the page shapes the benchmark servers answer with."""
    if not isinstance(body, dict) or body.get("has_more") is False:
        return None
    nxt = body.get("next_cursor") or body.get("next")
    return str(nxt) if nxt else None


def walk(base_url: str, path: str, keep: list[bytes] | None = None) -> tuple[float, int]:
    """(seconds, pages) to read every page of a listing; each page's bytes go to `keep`."""
    with httpx.Client(base_url=base_url, headers=HEADERS) as client:
        url, params, pages = path, None, 0
        start = time.perf_counter()
        while True:
            response = client.get(url, params=params).raise_for_status()
            body = response.json()
            pages += 1
            if keep is not None:
                keep.append(response.content)
            nxt = _next(body)
            if nxt is None:
                return time.perf_counter() - start, pages
            url, params = (nxt, None) if nxt.startswith("/") else (path, {"cursor": nxt})


def send_all(base_url: str, requests: Sequence[Request], concurrency: int) -> float:
    """Seconds to send `requests`, `concurrency` at a time over one keep-alive pool."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base_url, headers=HEADERS, limits=limits, timeout=60) as client:

        def one(request: Request) -> None:
            method, path, body = request
            client.request(method, path, json=body).raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, requests))
        return time.perf_counter() - start
