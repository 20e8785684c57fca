"""Issue 14: `audit --since 7d` of 1,000 tasks (about 100,000 runs) at 20 ms per request.

    engine    the listing beside the instance's global run log (cursor pages, one chain)
              floor = max(listing pages, log pages) x latency
    aitroop   the listing, then each task's run log, `CONCURRENCY` at once
              floor = (listing pages + ceil(tasks / concurrency)) x latency
    limit     1.3x the floor

The server is a minimal asyncio HTTP/1.1 one in its own process (as a remote platform would
be) that sleeps 20 ms per request and serves pages it encodes once (a platform's own encoding is
part of its latency; an untimed first audit has every page made): what remains above the floor
is schedctl's own cost (reading 100,000 run rows, the expected fires of 1,000 schedules, the
matching). Each task runs every 100 minutes from its creation a day before the window, 12 s
after each slot: about 100 runs each in the week. Measured: audit_project (listing, run logs,
the audit); loading the YAML is validate's cost and is left out. schedctl asks for a task's
log as soon as the listing page naming it is read, so the two overlap; the aitroop floor still
counts them one after the other (a lower bound only for a client that waits for the listing).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Result, print_results

LATENCY_MS = 20
TASKS = 1000
TASK_PAGE = 100
CONCURRENCY = 16
EVERY_MINUTES = 100
UNTIL = datetime(2026, 6, 8, tzinfo=timezone.utc)
SINCE = UNTIL - timedelta(days=7)
CREATED = SINCE - timedelta(days=1)

SERVER = r"""
import asyncio, json, sys
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, parse_qs
PLATFORM, LATENCY, TASKS, PAGE, EVERY = sys.argv[1], int(sys.argv[2]) / 1000, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
CREATED, UNTIL = datetime.fromisoformat(sys.argv[6]), datetime.fromisoformat(sys.argv[7])
stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
tasks, runs = [], {}
for i in range(TASKS):
    tid = f"t{i:05d}"
    key = f"task-{i:05d}"
    if PLATFORM == "engine":
        tasks.append({"id": tid, "name": f"Task {i}", "description": f"[schedctl:bench/{key}]",
                      "prompt": f"Do task {i}.", "enabled": True, "keepHistory": True,
                      "deleteAfterRun": False, "maxRetries": 3, "createdAt": stamp(CREATED),
                      "schedule": {"type": "interval", "everyMs": EVERY * 60_000}})
    else:
        tasks.append({"id": tid, "name": f"Task {i} [[bench/{key}]]", "enabled": True,
                      "schedule_type": "interval", "schedule_config": {"every": EVERY, "unit": "minutes"},
                      "timezone": "UTC", "action_type": "send_message",
                      "action_config": {"prompt": f"Do task {i}."}, "created_at": stamp(CREATED)})
    slot, rows = CREATED + timedelta(minutes=EVERY), []
    while slot <= UNTIL:
        start = slot + timedelta(seconds=12)
        if PLATFORM == "engine":
            rows.append({"runId": f"r{tid}-{len(rows)}", "taskId": tid, "triggerType": "scheduler",
                         "status": "ok", "startedAt": stamp(start), "completedAt": stamp(start + timedelta(seconds=3)),
                         "durationMs": 3000, "output": "ok", "error": None, "conversationId": "c",
                         "tokenUsage": {"inputTokens": 900, "outputTokens": 100, "totalTokens": 1000}})
        else:
            rows.append({"id": f"r{tid}-{len(rows)}", "task_id": tid, "triggered": "scheduler", "status": "ok",
                         "started_at": stamp(start), "completed_at": stamp(start + timedelta(seconds=3)),
                         "duration_ms": 3000, "output": "ok", "error": None, "session_id": "s"})
        slot += timedelta(minutes=EVERY)
    runs[tid] = rows[::-1]  # newest first
everything = sorted((r for rows in runs.values() for r in rows), key=lambda r: r.get("startedAt") or r["started_at"], reverse=True)

def page(items, query, size):
    start = int(query.get("cursor", ["0"])[0])
    size = int(query.get("limit", [size])[0])
    nxt = start + size if start + size < len(items) else None
    return {"items": items[start:start + size], "next_cursor": None if nxt is None else str(nxt)}

def answer(body):
    data = json.dumps(body).encode()
    return f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n".encode() + data

made = {}

async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        _, target, _ = line.decode().split(" ", 2)
        while (header := await reader.readline()) not in (b"\r\n", b""):
            pass
        await asyncio.sleep(LATENCY)
        data = made.get(target)
        if data is None:  # made once: encoding is the platform's cost, inside its latency
            url = urlsplit(target)
            query, parts = parse_qs(url.query), url.path.strip("/").split("/")
            if parts[-1] != "runs":
                body = page(tasks, query, PAGE)
            elif parts[-2] == "scheduled-tasks":  # engine's instance log
                body = page(everything, query, 500)
            else:
                body = page(runs[parts[-2]], query, 50)
            data = made[target] = answer(body)
        writer.write(data)
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def write_repo(root: Path, url: str, platform: str) -> None:
    instance = "\n    instance: bench" if platform == "engine" else ""
    (root / "schedctl.yaml").write_text(
        f"owner: bench\ndefaults: {{timezone: UTC, targets: [t]}}\n"
        f"targets:\n  t:\n    platform: {platform}\n    url: '{url}'{instance}\n"
    )
    (root / "schedules").mkdir()
    for chunk in range(0, TASKS, 100):
        docs = [
            f"name: task-{i:05d}\ntitle: Task {i}\nschedule: {{every: {EVERY_MINUTES}m}}\n"
            f"action: {{prompt: 'Do task {i}.'}}\n"
            for i in range(chunk, min(chunk + 100, TASKS))
        ]
        (root / "schedules" / f"s{chunk:05d}.yaml").write_text("---\n".join(docs))


def bench_platform(platform: str) -> Result:
    from reconciler.loader import load_project
    from reconciler.runlog import PAGE_LIMIT, audit_project
    from reconciler.targets import connect
    from reconciler.tuning import tuned

    args = [
        platform,
        LATENCY_MS,
        TASKS,
        TASK_PAGE,
        EVERY_MINUTES,
        CREATED.isoformat(),
        UNTIL.isoformat(),
    ]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, *map(str, args)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repo(root, url, platform)
            project = load_project([], str(root / "schedctl.yaml"))
            assert not project.errors, project.errors[:3]
            times = []
            with (
                connect(project.config, project.root, ["t"], concurrency=CONCURRENCY) as conns,
                tuned(),
            ):  # as the command runs (see cli.main)
                for i in range(4):  # the first one (untimed) has the server make its pages
                    start = time.perf_counter()
                    report = audit_project(
                        project, conns, since=SINCE, until=UNTIL, concurrency=CONCURRENCY
                    )
                    if i:
                        times.append(time.perf_counter() - start)
                    (target,) = report.targets
                    assert target.error is None, target.error
                    assert target.findings == [], [f.message for f in target.findings[:3]]
                    runs = target.runs
                    assert len(target.tasks) == TASKS and runs > 95_000, runs
    finally:
        server.terminate()
        server.wait(10)
    listing = math.ceil(TASKS / TASK_PAGE)
    if platform == "engine":
        # Runs in the window plus the page that reaches back past it (newest first).
        log_pages = math.ceil(runs / PAGE_LIMIT) + 1
        pages, how = max(listing, log_pages), f"max({listing}, {log_pages}) pages x latency"
    else:
        pages = listing + math.ceil(TASKS / CONCURRENCY)
        how = f"({listing} + ceil({TASKS}/{CONCURRENCY})) pages x latency"
    floor = pages * LATENCY_MS / 1000
    name = f"{platform} (lean): audit --since 7d, {TASKS:,} tasks, {runs:,} runs"
    return Result(name, sorted(times)[1], floor, "s", 1.3, how)


def run() -> list[Result]:
    return [bench_platform(p) for p in ("engine", "aitroop")]


if __name__ == "__main__":
    results = run()
    print_results(results)
    sys.exit(0 if all(r.ok for r in results) else 1)
