"""Issue 5: plan and apply overhead against a 20 ms-per-request platform.

Issue 16 adds a plan of 10,000 schedules made by 100 templates x 100 items (H times, half
of them spread) against the sandbox, judged by the same floor and limit.

    plan of 2,000 schedules      floor = pages x latency            limit 1.3x
    apply of 1,000 creates       floor = ceil(1000 / 16) x latency  limit 1.5x (concurrency 16)

The floor is what an infinitely fast client and server would take, so two servers are used,
each in its own process (as a remote platform would be):

    lean      a minimal asyncio HTTP/1.1 server (below) that sleeps 20 ms and echoes: what
              remains above the floor is schedctl's own overhead. The issue's limits apply here.
    sandbox   the emulated platform (FastAPI + SQLite), with latency_ms=20: its own per-request
              cost adds to the figures; shown for reference.

Measured: make_plan (desired forms, the paged listing, the diff) and apply_plan; reading the
YAML files is validate's cost and is left out (bench_validate measures it). The page size is
the platform's: 50 (a common API default) and 100 are both shown. Each request costs about
2 ms above the latency in httpx and the server alone, so larger pages leave less room.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Result, print_results

LATENCY_MS = 20
PAGE_SIZE = 50  # a common API default; 100 is measured too
CONCURRENCY = 16
FORMS = [
    '{cron: "0 9 * * 1-5"}',
    "{every: 15m}",
    '{daily: "09:00"}',
    '{weekly: {at: "08:30", days: [mon, wed, fri]}}',
    '{monthly: {at: "09:00", day: 1}}',
]
SERVER = (
    "import sys; from reconciler.sandbox import SandboxOptions, serve; "
    "serve(SandboxOptions(platform=sys.argv[1], latency_ms=int(sys.argv[2]), page_size=int(sys.argv[3])), "
    "announce=lambda url: print(url, flush=True))"
)


LEAN_SERVER = r"""
import asyncio, json, sys
LATENCY, PAGE = int(sys.argv[2]) / 1000, int(sys.argv[3])
tasks = []

def answer(status, body):
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
    return head.encode() + data

async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        method, target, _ = line.decode().split(" ", 2)
        length = 0
        while (header := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        await asyncio.sleep(LATENCY)
        if method == "GET":
            start = int(target.partition("cursor=")[2] or 0)
            nxt = start + PAGE if start + PAGE < len(tasks) else None
            out = answer(200, {"items": tasks[start:start + PAGE], "next_cursor": nxt and str(nxt)})
        else:
            task = {**json.loads(body), "id": f"t{len(tasks)}", "createdAt": "2026-01-01T00:00:00Z"}
            tasks.append(task)
            out = answer(201, task)
        writer.write(out)
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
        f"owner: bench\ndefaults: {{timezone: Europe/Rome, targets: [t]}}\n"
        f"targets:\n  t:\n    platform: {platform}\n    url: '{url}'{instance}\n"
    )
    (root / "schedules").mkdir()


def add_schedules(root: Path, start: int, stop: int) -> None:
    for chunk in range(start, stop, 100):
        docs = [
            f"name: task-{i:05d}\ntitle: Task {i}\nschedule: {FORMS[i % len(FORMS)]}\n"
            f"action: {{prompt: 'Do task {i}.'}}\n"
            for i in range(chunk, min(chunk + 100, stop))
        ]
        (root / "schedules" / f"s{chunk:05d}.yaml").write_text("---\n".join(docs))


def bench_platform(
    platform: str, server_code: str, label: str, page_size: int = PAGE_SIZE
) -> list[Result]:
    from reconciler.loader import load_project
    from reconciler.reconcile import apply_plan, make_plan
    from reconciler.targets import connect

    server = subprocess.Popen(
        [sys.executable, "-c", server_code, platform, str(LATENCY_MS), str(page_size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repo(root, url, platform)
            add_schedules(root, 0, 1000)
            project = load_project([], str(root / "schedctl.yaml"))
            assert not project.errors, project.errors[:3]
            with connect(project.config, project.root, ["t"], concurrency=CONCURRENCY) as conns:
                plan = make_plan(project, conns)
                start = time.perf_counter()
                result = apply_plan(plan, conns, concurrency=CONCURRENCY)
                apply_time = time.perf_counter() - start
                assert result.ok and len(result.results) == 1000

            add_schedules(root, 1000, 2000)
            project = load_project([], str(root / "schedctl.yaml"))
            with connect(project.config, project.root, ["t"], concurrency=CONCURRENCY) as conns:
                apply_plan(make_plan(project, conns), conns, concurrency=CONCURRENCY)
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    plan = make_plan(project, conns)
                    times.append(time.perf_counter() - start)
                assert not plan.pending and plan.targets[0].in_sync == 2000
                pages = plan.targets[0].pages
    finally:
        server.terminate()
        server.wait(10)
    plan_floor = pages * LATENCY_MS / 1000
    apply_floor = math.ceil(1000 / CONCURRENCY) * LATENCY_MS / 1000
    return [
        Result(f"{label}: plan 2,000 schedules ({pages} pages)", sorted(times)[1], plan_floor, "s", 1.3,
               "pages x latency"),
        Result(f"{label}: apply 1,000 creates, concurrency {CONCURRENCY}", apply_time, apply_floor, "s", 1.5,
               "ceil(n/16) x latency"),
    ]  # fmt: skip


# Preset forms with H: both platforms take them.
FLEET_FORMS = ['{daily: "H(6-18):H"}', '{weekly: {at: "H:H", days: [mon, thu]}}',
               '{monthly: {at: "H(8-11):H", day: DAY}}', '{daily: "09:H"}']  # fmt: skip


def add_fleets(root: Path, templates: int, items: int) -> None:
    for t in range(templates):
        form = FLEET_FORMS[t % len(FLEET_FORMS)].replace("DAY", str(t % 28 + 1))
        listed = "".join(f"  - {{slug: c{i:03d}, name: Customer {i}}}\n" for i in range(items))
        (root / "schedules" / f"fleet{t:03d}.yaml").write_text(
            f"fleet: report{t}\nfor_each:\n{listed}template:\n"
            f"  name: 'r{t}-{{{{ item.slug }}}}'\n  title: '{{{{ item.name }}}}: report {t}'\n"
            f"  schedule: {form}\n"
            f"  action: {{prompt: 'Summarise area {t} for {{{{ item.name }}}}.'}}\n"
            f"  spread: {'true' if t % 2 else 'false'}\n"
        )


def bench_fleet_plan(platform: str, templates: int = 100, items: int = 100) -> list[Result]:
    """make_plan of templates x items schedules, all in sync, against the sandbox."""
    from reconciler.loader import load_project
    from reconciler.reconcile import apply_plan, make_plan
    from reconciler.targets import connect

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, platform, str(LATENCY_MS), str(PAGE_SIZE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    count = templates * items
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repo(root, url, platform)
            add_fleets(root, templates, items)
            project = load_project([], str(root / "schedctl.yaml"))
            assert not project.errors, project.errors[:3]
            assert len(project.schedules) == count
            with connect(project.config, project.root, ["t"], concurrency=CONCURRENCY) as conns:
                result = apply_plan(make_plan(project, conns), conns, concurrency=CONCURRENCY)
                assert result.ok, result.failed[:3]
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    plan = make_plan(project, conns)
                    times.append(time.perf_counter() - start)
                assert not plan.pending and plan.targets[0].in_sync == count
                pages = plan.targets[0].pages
    finally:
        server.terminate()
        server.wait(10)
    floor = pages * LATENCY_MS / 1000
    return [
        Result(f"{platform} (sandbox, page {PAGE_SIZE}): plan {templates} templates x {items} items "
               f"({pages} pages)", sorted(times)[1], floor, "s", 1.3, "pages x latency"),
    ]  # fmt: skip


def run() -> list[Result]:
    results = []
    for platform in ("engine", "aitroop"):
        for size in (50, 100):
            results += bench_platform(
                platform, LEAN_SERVER, f"{platform} (lean, page {size})", size
            )
    for platform in ("engine", "aitroop"):
        results += bench_platform(platform, SERVER, f"{platform} (sandbox, page {PAGE_SIZE})")
    for platform in ("engine", "aitroop"):
        results += bench_fleet_plan(platform)
    return results


if __name__ == "__main__":
    results = run()
    print_results(results)
    print("Limits apply to the lean-server rows and the fleet plans; other sandbox rows include")
    print("the emulator's own cost.")
    sys.exit(0 if all(r.ok for r in results if "lean" in r.name or "templates" in r.name) else 1)
