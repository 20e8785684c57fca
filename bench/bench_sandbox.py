"""Issue 4: sandbox throughput, list + create requests per second, one uvicorn worker.

    python bench/bench_sandbox.py [--quick]

The sandbox runs as `python -m reconciler.sandbox` in its own process (one worker, SQLite
file in WAL mode); the client alternates a create and a list over real HTTP with httpx.
Engine creates rotate over instances of 50 tasks and aitroop lists ask for `?limit=50`, so a
list stays the size a real listing has instead of growing with the benchmark.

Target: >= 500 req/s. Figures per platform:
- "1 conn, wall": requests / elapsed seconds for one client connection, as the client saw
  it. On a small shared machine the client and other processes compete with the server for
  the cores, so this one is noisy;
- "server CPU": requests / CPU seconds the server process used (Linux /proc), i.e. what one
  worker sustains with a core to itself; stable whatever else runs. Measured for the one
  connection and for 16 concurrent requests (asyncio), whose wall figure is not reported:
  httpx's async client spends more CPU per request than the server does, so on two cores it
  measures the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Result, print_results

TARGET = 500.0
CONCURRENCY = 16

ENGINE_TASK = {
    "name": "bench",
    "prompt": "Summarise the last day.",
    "schedule": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/Rome"},
}
AITROOP_TASK = {
    "name": "bench",
    "schedule_type": "weekly",
    "schedule_config": {"time": "08:30", "days": [1, 3, 5]},
    "timezone": "America/Los_Angeles",
    "action_type": "send_message",
    "action_config": {"prompt": "Summarise the last day."},
}


@contextmanager
def sandbox(platform: str, db: Path) -> Iterator[tuple[str, int]]:
    """(base URL, pid) of a sandbox server process."""
    cmd = [sys.executable, "-m", "reconciler.sandbox", "--platform", platform, "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip(), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pair(platform: str, i: int) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(create path, body, list path, list params) for the i-th create + list."""
    if platform == "engine":
        path = f"/api/instances/bench-{i // 50}/scheduled-tasks"
        return path, ENGINE_TASK, path, {}
    return "/api/scheduled-tasks", AITROOP_TASK, "/api/scheduled-tasks", {"limit": 50}


def sequential(url: str, platform: str, pairs: int) -> float:
    with httpx.Client(base_url=url) as c:
        c.get("/openapi.json")  # connect and warm up outside the clock
        start = time.perf_counter()
        for i in range(pairs):
            create, body, listing, params = _pair(platform, i)
            assert c.post(create, json=body).status_code == 201
            assert c.get(listing, params=params).status_code == 200
        return 2 * pairs / (time.perf_counter() - start)


def concurrent(url: str, platform: str, pairs: int) -> float:
    async def main() -> float:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=url, limits=limits) as c:
            await asyncio.gather(*(c.get("/openapi.json") for _ in range(CONCURRENCY)))
            queue = iter(range(pairs))

            async def worker() -> None:
                for i in queue:
                    create, body, listing, params = _pair(platform, i)
                    assert (await c.post(create, json=body)).status_code == 201
                    assert (await c.get(listing, params=params)).status_code == 200

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            return 2 * pairs / (time.perf_counter() - start)

    return asyncio.run(main())


def run(quick: bool = False) -> list[Result]:
    pairs = 500 if quick else 2000
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for platform in ("engine", "aitroop"):
            for mode, measure in (
                ("1 conn", sequential),
                (f"{CONCURRENCY} concurrent", concurrent),
            ):
                with sandbox(platform, Path(tmp) / f"{platform}-{mode[:2]}.db") as (url, pid):
                    cpu_before = cpu_seconds(pid)
                    rate = measure(url, platform, pairs)
                    cpu_after = cpu_seconds(pid)
                figures = [("wall", rate)] if measure is sequential else []
                if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
                    figures.append(("server CPU", 2 * pairs / (cpu_after - cpu_before)))
                results += [
                    Result(
                        name=f"sandbox {platform} list+create, {mode}, {kind}",
                        measured=value,
                        reference=TARGET,
                        unit="/s",
                        limit=TARGET,
                        reference_name="target",
                        absolute=True,
                        higher_is_better=True,
                    )
                    for kind, value in figures
                ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    print_results(run(quick=args.quick))


if __name__ == "__main__":
    main()
