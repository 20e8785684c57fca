"""The second floor of the plan and apply figures: a minimal keep-alive httpx client.

It sends the requests schedctl sends (the same paths, bodies and headers, one shared
connection pool), against the same server in the same run, and does nothing else: no
retries, no conversion, no diff. What schedctl takes above it is schedctl's own cost on
that server, whatever the server spends per request.

    python bench/bare_client.py URL PATH    # walk a listing as a program of its own

prints {"total": s, "walk": s, "pages": n} as JSON: `total` runs from this file's first line
(before `import httpx`) to the last page, so it holds what any client program pays beyond the
interpreter's start (importing httpx, building the client, the walk), as `schedctl plan` less
`schedctl validate` does; `walk` is the walk alone. As lean as schedctl's own client: httpx's
command-line module is not imported, and an http:// client builds no verifying TLS context.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # a client program's own cost starts here

import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

sys.modules["httpx._main"] = None  # type: ignore[assignment]  # see reconciler/http.py
import httpx  # noqa: E402

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
    verify = base_url.startswith("https:")  # the TLS context only where TLS is used
    with httpx.Client(base_url=base_url, headers=HEADERS, verify=verify) as client:
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
    verify = base_url.startswith("https:")
    with httpx.Client(
        base_url=base_url, headers=HEADERS, limits=limits, timeout=60, verify=verify
    ) as client:

        def one(request: Request) -> None:
            method, path, body = request
            client.request(method, path, json=body).raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, requests))
        return time.perf_counter() - start


if __name__ == "__main__":
    seconds, pages = walk(sys.argv[1], sys.argv[2])
    total = time.perf_counter() - STARTED
    print(json.dumps({"total": total, "walk": seconds, "pages": pages}))
