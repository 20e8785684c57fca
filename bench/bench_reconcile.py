"""Plan and apply against 20 ms-per-request platforms, each figure against the larger of two floors.

    python bench/bench_reconcile.py [--servers lean,stdlib,sandbox] [--quick]

Figures, both platforms, pages of 100, writes 16 at a time (limits from the speed issue):

    plan - validate     `schedctl plan` less `schedctl validate` of the same files, as
                        commands: 2,000 and 20,000 tasks in sync            limit 1.2x
    apply creates       apply_plan of 1,000 creates                         limit 1.3x
    apply updates       apply_plan of 5,000 updates (every prompt edited)    limit 1.3x
    read + diff         one live task's share of reading a listing and diffing it, from
                        recorded pages (no network): in sync, and edited     limit 25 us
    fleet plan          make_plan of 100 templates x 100 items (10,000 schedules, H times,
                        half of them spread), in sync, on the sandbox, against the larger
                        of a bare walk of the listing and pages x latency    limit 1.3x

The two floors of each plan and apply figure, measured in the same run on the same server:
the latency floor (pages x latency, or ceil(writes / 16) x latency: an infinitely fast client
and server) and a bare keep-alive httpx client sending the same requests (bare_client.py: what
the server itself costs). The reference is the larger one; both are shown.

Servers, each in its own process as a remote platform would be:

    lean      a minimal asyncio server (below) that sleeps and echoes: almost no work per page
    stdlib    platform_server.py: validates, keeps full task objects of both platforms and
              serializes each page from them; written independently of the sandbox and of lean
    sandbox   the emulated platform (FastAPI + SQLite), `latency_ms=20`

The commands run as a user runs them, on the reconciler package compiled to bytecode as an
install leaves it. Tasks are seeded without the benchmark's latency (a seed file, or the
sandbox's API before it restarts with latency on the same database).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bare_client
from bench.common import Result, compile_package, print_results, python_cmd

if TYPE_CHECKING:
    from reconciler.plan import Plan
    from reconciler.targets import Connection

LATENCY_MS = 20
PAGE_SIZE = 100
CONCURRENCY = 16
PLAN_SIZES = (2_000, 20_000)
CREATES = 1_000
UPDATES = 5_000
PER_TASK_US = 25.0
SERVERS = ("lean", "stdlib", "sandbox")
PLATFORMS = ("engine", "aitroop")
INSTANCE = "bench"  # the engine instance; platform_server.py seeds into it
FORMS = [
    '{cron: "0 9 * * 1-5"}',
    "{every: 15m}",
    '{daily: "09:00"}',
    '{weekly: {at: "08:30", days: [mon, wed, fri]}}',
    '{monthly: {at: "09:00", day: 1}}',
]
HERE = Path(__file__).resolve().parent

SANDBOX = (
    "import sys; from reconciler.sandbox import SandboxOptions, serve; "
    "serve(SandboxOptions(platform=sys.argv[1], latency_ms=int(sys.argv[2]), "
    "page_size=int(sys.argv[3]), db=sys.argv[4]), announce=lambda url: print(url, flush=True))"
)

LEAN_SERVER = r"""
import asyncio, json, sys
LATENCY, PAGE = int(sys.argv[2]) / 1000, int(sys.argv[3])
tasks = []
if len(sys.argv) > 4:
    for body in json.load(open(sys.argv[4])):
        tasks.append({**body, "id": f"t{len(tasks)}", "createdAt": "2026-01-01T00:00:00Z"})

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
        elif method == "POST":
            task = {**json.loads(body), "id": f"t{len(tasks)}", "createdAt": "2026-01-01T00:00:00Z"}
            tasks.append(task)
            out = answer(201, task)
        else:  # PATCH or PUT of /.../t<index>
            index = int(target.rsplit("/t", 1)[1])
            tasks[index] = {**tasks[index], **json.loads(body)}
            out = answer(200, tasks[index])
        writer.write(out)
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


# ---------------------------------------------------------------------------------------------
# Servers


def collection(platform: str) -> str:
    return (
        f"api/instances/{INSTANCE}/scheduled-tasks"
        if platform == "engine"
        else "api/scheduled-tasks"
    )


@contextmanager
def _process(cmd: Sequence[str]) -> Iterator[str]:
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"server {cmd[:3]} did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def server(kind: str, platform: str, seed: Sequence[dict[str, Any]] = ()) -> Iterator[str]:
    """The base URL of a fresh `kind` server holding the tasks created by `seed` (bodies)."""
    args = [platform, str(LATENCY_MS), str(PAGE_SIZE)]
    with tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp:
        if kind == "sandbox":
            db = str(Path(tmp) / "sandbox.db")
            if seed:
                with _process(python_cmd("-c", SANDBOX, platform, "0", str(PAGE_SIZE), db)) as url:
                    creates = [("POST", collection(platform), body) for body in seed]
                    bare_client.send_all(url, creates, 8)
            cmd = python_cmd("-c", SANDBOX, *args, db)
        else:
            if seed:
                seed_file = Path(tmp) / "seed.json"
                seed_file.write_text(json.dumps(list(seed)))
                args.append(str(seed_file))
            code = ("-c", LEAN_SERVER) if kind == "lean" else (str(HERE / "platform_server.py"),)
            cmd = python_cmd(*code, *args)
        with _process(cmd) as url:
            yield url


# ---------------------------------------------------------------------------------------------
# Repositories


def write_repo(root: Path, platform: str, count: int, variant: int = 0, url: str = "") -> Path:
    """A repository of `count` schedules, 100 to a file; `variant` changes every prompt."""
    if (root / "schedules").exists():
        for old in (root / "schedules").iterdir():
            old.unlink()
    (root / "schedules").mkdir(parents=True, exist_ok=True)
    set_url(root, platform, url or "http://127.0.0.1:9")
    edit = f" (edit {variant})" if variant else ""
    for chunk in range(0, count, 100):
        docs = [
            f"name: task-{i:05d}\ntitle: Task {i}\nschedule: {FORMS[i % len(FORMS)]}\n"
            f"action: {{prompt: 'Do task {i}{edit}.'}}\n"
            for i in range(chunk, min(chunk + 100, count))
        ]
        (root / "schedules" / f"s{chunk:05d}.yaml").write_text("---\n".join(docs))
    return root


def set_url(root: Path, platform: str, url: str) -> None:
    instance = f"\n    instance: {INSTANCE}" if platform == "engine" else ""
    (root / "schedctl.yaml").write_text(
        f"owner: bench\ndefaults: {{timezone: Europe/Rome, targets: [t]}}\n"
        f"targets:\n  t:\n    platform: {platform}\n    url: '{url}'{instance}\n"
    )


@contextmanager
def connected(root: Path) -> Iterator[tuple[Any, Connection]]:
    from reconciler.loader import load_project
    from reconciler.targets import connect

    project = load_project([], str(root / "schedctl.yaml"))
    assert not project.errors, project.errors[:3]
    with connect(project.config, project.root, ["t"], concurrency=CONCURRENCY) as conns:
        yield project, conns["t"]


def payloads(root: Path) -> list[dict[str, Any]]:
    """The create bodies schedctl would send for the repository (no request is made)."""
    with connected(root) as (project, conn):
        return [conn.provider.desired(s).payload for s in project.for_target("t")]


def requests_of(plan: Plan, conn: Connection) -> list[bare_client.Request]:
    """The writes a plan makes, as (method, path, body): what the bare client sends."""
    provider: Any = conn.provider  # a RestProvider: its paths are the requests' paths
    out: list[bare_client.Request] = []
    for change in plan.targets[0].changes:
        if change.action == "create":
            out.append(("POST", provider.collection_path(), change.payload))
        else:
            assert change.action == "update" and change.remote_id is not None
            out.append(
                (provider.update_method, provider.item_path(change.remote_id), change.payload)
            )
    return out


def cli(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(python_cmd("-m", "reconciler", *args), cwd=root, check=True, capture_output=True)
    return time.perf_counter() - start


def _floors(bare: float, floor: float, bare_name: str, floor_name: str) -> tuple[float, str]:
    """The reference of a figure, the larger floor, and a name that shows both."""
    return max(bare, floor), f"larger of: bare {bare_name}, {floor_name} {floor:.3f} s"


# ---------------------------------------------------------------------------------------------
# Figures


def bench_plan(kind: str, platform: str, count: int, repeat: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp:
        root = write_repo(Path(tmp), platform, count)
        with server(kind, platform, payloads(root)) as url:
            set_url(root, platform, url)
            plans, bares, walks = [], [], []
            pages = 0
            for _ in range(repeat):
                bare = json.loads(
                    subprocess.run(
                        python_cmd(str(HERE / "bare_client.py"), url, collection(platform)),
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                )
                bares.append(bare["total"])
                walks.append(bare["walk"])
                pages = bare["pages"]
                # Exit 0 with --detailed-exitcode: the listing is read whole and in sync.
                plan = cli(root, "--no-color", "plan", "--detailed-exitcode")
                plans.append(plan - cli(root, "validate"))
    walk = f"httpx client {statistics.median(bares):.3f} s (walk alone {statistics.median(walks):.3f} s)"
    reference, name = _floors(
        statistics.median(bares), pages * LATENCY_MS / 1000, walk, "pages x latency"
    )
    label = f"{platform} ({kind}): plan - validate, {count:,} tasks ({pages} pages)"
    return Result(label, statistics.median(plans), reference, "s", 1.2, name)


def _apply(root: Path, count: int, action: str) -> float:
    from reconciler.reconcile import apply_plan, make_plan

    with connected(root) as (project, conn):
        plan = make_plan(project, {"t": conn})
        assert plan.summary[action] == count, plan.summary
        start = time.perf_counter()
        result = apply_plan(plan, {"t": conn}, concurrency=CONCURRENCY)
        seconds = time.perf_counter() - start
    assert result.ok and len(result.results) == count, result.counts()
    return seconds


def _bare_writes(root: Path, url: str, count: int, action: str) -> float:
    from reconciler.reconcile import make_plan

    with connected(root) as (project, conn):
        plan = make_plan(project, {"t": conn})
        assert plan.summary[action] == count, plan.summary
        requests = requests_of(plan, conn)
    return bare_client.send_all(url, requests, CONCURRENCY)


def bench_creates(kind: str, platform: str, count: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp:
        root = write_repo(Path(tmp), platform, count)
        with server(kind, platform) as url:
            set_url(root, platform, url)
            bare = _bare_writes(root, url, count, "create")
        with server(kind, platform) as url:
            set_url(root, platform, url)
            ours = _apply(root, count, "create")
    floor = math.ceil(count / CONCURRENCY) * LATENCY_MS / 1000
    reference, name = _floors(
        bare, floor, f"httpx POSTs {bare:.3f} s", f"ceil(n/{CONCURRENCY}) x latency"
    )
    label = f"{platform} ({kind}): apply {count:,} creates, concurrency {CONCURRENCY}"
    return Result(label, ours, reference, "s", 1.3, name)


def bench_updates(kind: str, platform: str, count: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp:
        root = write_repo(Path(tmp), platform, count)
        with server(kind, platform, payloads(root)) as url:
            # The bare client sends the updates of one edit, schedctl applies the next one.
            bare = _bare_writes(write_repo(root, platform, count, 1, url), url, count, "update")
            ours = _apply(write_repo(root, platform, count, 2, url), count, "update")
    floor = math.ceil(count / CONCURRENCY) * LATENCY_MS / 1000
    reference, name = _floors(
        bare, floor, f"httpx writes {bare:.3f} s", f"ceil(n/{CONCURRENCY}) x latency"
    )
    label = f"{platform} ({kind}): apply {count:,} updates, concurrency {CONCURRENCY}"
    return Result(label, ours, reference, "s", 1.3, name)


def bench_per_task(platform: str, count: int = 2_000, repeat: int = 7) -> list[Result]:
    """A live task's share of list_tasks + diff_target over recorded pages (no network).

    In sync, each task takes its desired form; edited (every prompt changed on the platform, a
    plain field: RestProvider.plain_fields), each is read from its desired form with the new
    prompt, its encoding put in place, its diff the one path. The desired forms are built
    before the clock and nothing is cached on them across the repeats.
    """
    from reconciler import platforms
    from reconciler.http import ApiClient
    from reconciler.plan import diff_target
    from reconciler.tuning import tuned

    with tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp:
        root = write_repo(Path(tmp), platform, count)
        pages: list[bytes] = []
        with server("stdlib", platform, payloads(root)) as url:
            bare_client.walk(url, collection(platform), keep=pages)
        served: list[Iterator[bytes]] = [iter(())]  # the pages of the run under way

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=next(served[0]))

        results = []
        for variant, state in ((0, "in sync"), (1, "edited")):
            write_repo(root, platform, count, variant)
            with connected(root) as (project, conn):
                schedules = project.for_target("t")
                target = conn.target
            client = ApiClient("http://bench.invalid", transport=httpx.MockTransport(answer))
            provider = platforms.get(platform).provider(
                client, target, target_name="t", owner="bench"
            )
            known = functools.cache(lambda: {s.key: provider.desired(s) for s in schedules})  # noqa: B023
            desired = list(known().values())  # built before the clock: not a live task's cost
            times = []
            for _ in range(repeat):
                served[0] = iter(pages)
                with tuned():
                    start = time.process_time()
                    listing = provider.list_tasks(known)
                    plan = diff_target("t", platform, desired, listing, owner="bench")
                    times.append(time.process_time() - start)
            expected = 0 if variant == 0 else count
            assert len(listing.tasks) == count and plan.summary["update"] == expected
            per_task = statistics.median(times) / count * 1e6
            results.append(
                Result(f"{platform}: read + diff one live task, {state}", per_task, PER_TASK_US,
                       "us", PER_TASK_US, "issue figure", absolute=True)
            )  # fmt: skip
    return results


# Preset forms with H: both platforms take them.
FLEET_FORMS = ['{daily: "H(6-18):H"}', '{weekly: {at: "H:H", days: [mon, thu]}}',
               '{monthly: {at: "H(8-11):H", day: DAY}}', '{daily: "09:H"}']  # fmt: skip


def write_fleets(root: Path, platform: str, templates: int, items: int, url: str) -> Path:
    """`templates` template files of `items` items each, every schedule with an H time."""
    write_repo(root, platform, 0, url=url)
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
    return root


def bench_fleet_plan(platform: str, templates: int = 100, items: int = 100) -> Result:
    """make_plan of templates x items schedules, all in sync, against the sandbox, beside a
    bare httpx walk of the same listing on the same server (what the server itself costs)."""
    from reconciler.reconcile import apply_plan, make_plan

    count = templates * items
    with (
        tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp,
        server("sandbox", platform) as url,
    ):
        root = write_fleets(Path(tmp), platform, templates, items, url)
        with connected(root) as (project, conn):
            assert len(project.schedules) == count
            result = apply_plan(
                make_plan(project, {"t": conn}), {"t": conn}, concurrency=CONCURRENCY
            )
            assert result.ok, result.failed[:3]
            times, walks = [], []
            for _ in range(3):
                walks.append(bare_client.walk(url, collection(platform))[0])
                start = time.perf_counter()
                plan = make_plan(project, {"t": conn})
                times.append(time.perf_counter() - start)
            assert not plan.pending and plan.targets[0].in_sync == count
            pages = plan.targets[0].pages
    label = f"{platform} (sandbox): plan {templates} templates x {items} items ({pages} pages)"
    walk = statistics.median(walks)
    reference, name = _floors(
        walk, pages * LATENCY_MS / 1000, f"httpx walk {walk:.3f} s", "pages x latency"
    )
    return Result(label, statistics.median(times), reference, "s", 1.3, name)


def measure(part: str, quick: bool = False) -> list[Result]:
    """The figures of one part: "per-task", or a server's plans and applies on both platforms."""
    from reconciler.tuning import tuned

    with tuned():  # in process, as a command runs (see cli.main)
        return _measure(part, quick)


def _measure(part: str, quick: bool) -> list[Result]:
    if part == "per-task":
        return [r for platform in PLATFORMS for r in bench_per_task(platform)]
    if part == "fleet":
        return [bench_fleet_plan(platform) for platform in PLATFORMS]
    results = []
    for platform in PLATFORMS:
        print(f"   {part} {platform}", file=sys.stderr, flush=True)
        for count in PLAN_SIZES[:1] if quick else PLAN_SIZES:
            results.append(bench_plan(part, platform, count, 5 if count <= 2_000 else 3))
        results.append(bench_creates(part, platform, CREATES))
        results.append(bench_updates(part, platform, 1_000 if quick else UPDATES))
    return results


def run(servers: Sequence[str] = SERVERS, quick: bool = False) -> list[Result]:
    """Each part in a process of its own: a fresh interpreter for every server's figures, and
    the caller (run_all) does not grow by the tens of thousands of tasks held here. On Linux a
    child inherits its parent's peak resident size, which later suites measure."""
    compile_package()
    results = []
    for part in ("per-task", *servers, *(() if quick else ("fleet",))):
        args = [str(Path(__file__).resolve()), "--json", "--part", part]
        out = subprocess.run(
            python_cmd(*args, *(["--quick"] if quick else [])),
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        results += [Result(**fields) for fields in json.loads(out.stdout)]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset")
    parser.add_argument("--quick", action="store_true", help="2,000-task plans, 1,000 updates")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # run() runs each part so
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        results = measure(args.part, args.quick)
    else:
        results = run(args.servers.split(","), args.quick)
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in results]))
        return
    print_results(results)
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
