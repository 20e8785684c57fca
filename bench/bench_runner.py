#!/usr/bin/env python
"""Local runner benchmarks (issue 6): each figure printed against its limit. Not a test.

    python bench/bench_runner.py            # all figures
    python bench/bench_runner.py --quick    # shorter lateness and idle windows

Figures:
  load      10,000 schedules (100 files) through load_selection (load + validate) and
            Runner.start (state rows in a new runs.db, the heap): <= 2 s, <= 150 MB resident.
            Measured in a fresh process, so the resident figure is the whole process.
  idle CPU  that runner serving, in a window where nothing is due: near zero (<= 1 % of a core).
  lateness  a live runner (real clock, print executor, max 3 at once) firing 300 interval
            schedules spread over each second: started_at - scheduled_for, p99 <= 50 ms.
            A burst of 100 fires at one instant is shown too, for information: there the
            wait is the queue in front of 3 workers, not the scheduler.
  simulate  a week of 1,000 schedules (the mix below) on the virtual clock: <= 5 s.

Side by side with APScheduler 3.11 (BackgroundScheduler, CronTrigger, memory job store, its
default pool of 10 threads), each in a fresh process, on the same 100 files of 10,000 cron
schedules (200 of them `* * * * *`, the rest at random daily minutes):
  load      from the files to a started scheduler. APScheduler gets the files through
            PyYAML's C loader (it has no file format of its own); schedctl loads, validates,
            syncs 10,000 state rows in runs.db (SQLite, every claim committed) and plans.
  memory    the whole process's peak resident memory after that.
  lateness  started - scheduled, over the 200 fires of one minute boundary (two without
            --quick), print executor / an empty job; p99.
  (info)    APScheduler with the jobs built in Python, no files: its own floor.
PostgreSQL claims: three processes offering the same slots to one throw-away server
(tests/pgserver.py), each claim a committed row, each closed at once: claims per second.

The schedule mix, for load and simulate: 35 % daily, 15 % weekdays, 15 % weekly, 5 % monthly,
10 % hourly cron, 15 % every 15m..6h, 3 % every 5m, 2 % one-shot; zones from a short list.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.common, tests.pgserver

LIMITS = {
    "load_s": 2.0,
    "rss_mb": 150.0,
    "idle_cpu_pct": 1.0,
    "lateness_p99_ms": 50.0,
    "simulate_s": 5.0,
}
ZONES = ["UTC", "Europe/Rome", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
WEEK_START = datetime(2026, 3, 2, tzinfo=timezone.utc)


def mix(n: int, rng: random.Random, avoid_minutes: set[int] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """n schedule documents; cron minutes in `avoid_minutes` are not used (a quiet idle window)."""
    minutes = [m for m in range(60) if m not in avoid_minutes]
    docs = []
    for i in range(n):
        r = rng.random()
        hh, mm = rng.randrange(24), rng.choice(minutes)
        at = f"{hh:02d}:{mm:02d}"
        if r < 0.35:
            spec: dict[str, Any] = {"daily": at}
        elif r < 0.50:
            spec = {"cron": f"{mm} {hh} * * 1-5"}
        elif r < 0.65:
            spec = {
                "weekly": {
                    "at": at,
                    "days": rng.sample(
                        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], rng.randint(1, 3)
                    ),
                }
            }
        elif r < 0.70:
            spec = {"monthly": {"at": at, "day": rng.randint(1, 28)}}
        elif r < 0.80:
            spec = {"cron": f"{mm} * * * *"}
        elif r < 0.95:
            spec = {"every": rng.choice(["15m", "30m", "1h", "2h", "6h"])}
        elif r < 0.98:
            spec = {"every": "5m"}
        else:
            spec = {
                "at": (
                    WEEK_START + timedelta(days=rng.randint(0, 6), minutes=rng.randrange(1440))
                ).isoformat()
            }
        spec["timezone"] = rng.choice(ZONES)
        docs.append({"name": f"job-{i:05d}", "schedule": spec,
                     "action": {"prompt": f"Summarise what changed for team {i % 97} since the last run."}})  # fmt: skip
    return docs


def write_project(root: Path, docs: list[dict[str, Any]], per_file: int = 100) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "schedctl.yaml").write_text(
        "defaults: {targets: [local]}\ntargets:\n  local: {platform: engine, sandbox: .schedctl/sandbox.db}\n"
    )
    folder = root / "schedules"
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(docs), per_file):
        (folder / f"batch-{start // per_file:03d}.yaml").write_text(
            yaml.safe_dump_all(docs[start : start + per_file], sort_keys=False)
        )


# -- phases (each runs in its own process: `--phase NAME DIR`) -----------------------------------


def phase_load(root: Path, idle_seconds: float) -> dict[str, Any]:
    os.chdir(root)
    import reconciler.runner.project as project
    from reconciler.runner import Runner, RunnerOptions, load_selection
    from reconciler.tuning import tuned

    parts: dict[str, float] = {}

    def timed(name: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                parts[name] = time.perf_counter() - t0
                parts[name + "_rss"] = _rss_mb()

        return wrapper

    # Attribute the figure: the loader, validation (both shared code), the runner's own start.
    project.load_project = timed("loader", project.load_project)  # type: ignore[assignment]
    project.check_project = timed("validate", project.check_project)  # type: ignore[assignment]
    started, cpu0 = time.perf_counter(), time.process_time()
    with tuned():  # as `schedctl run` is, until it serves
        selection = load_selection([], None, None)
        selection.take_warnings()  # `schedctl run` says them, then lets them go
        runner = Runner(selection.schedules, RunnerOptions(db_path=root / ".schedctl" / "runs.db"))
        timed("runner_start", runner.start)()
    load_s, load_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    assert not selection.errors and len(selection.schedules) == 10_000, selection.errors[:3]
    rss_mb = _rss_mb()

    serving = threading.Thread(target=runner.serve)
    serving.start()
    time.sleep(0.5)  # past the start-up work
    cpu0, wall0, fired0 = time.process_time(), time.monotonic(), runner.counters.fired
    time.sleep(idle_seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    fired = runner.counters.fired - fired0
    runner.stop()
    serving.join()
    runner.shutdown()
    return {"load_s": load_s, "load_cpu_s": load_cpu_s, "rss_mb": rss_mb, "idle_cpu_pct": 100 * cpu / wall,
            "idle_s": wall, "idle_fires": fired, **parts}  # fmt: skip


def phase_lateness(root: Path, seconds: float) -> dict[str, Any]:
    from reconciler.model import Schedule
    from reconciler.runner import Runner, RunnerOptions, list_runs

    class Item:
        def __init__(self, name: str, spec: dict[str, Any]) -> None:
            self.key, self.timezone = name, "UTC"
            self.schedule = Schedule.model_validate(
                {"name": name, "schedule": spec, "action": {"prompt": "p"}}
            )

    anchor = datetime(2020, 1, 1, tzinfo=timezone.utc)

    def measure(items: list[Item], db: Path) -> list[float]:
        runner = Runner(items, RunnerOptions(db_path=db))
        runner.start()
        serving = threading.Thread(target=runner.serve)
        serving.start()
        time.sleep(seconds)
        runner.stop()
        serving.join()
        runner.shutdown()
        runs = list_runs(db, None, 1_000_000)
        return [
            (r.started_at - r.scheduled_for).total_seconds() * 1000
            for r in runs
            if r.status == "ok" and r.started_at and r.scheduled_for
        ]

    spread = [
        Item(
            f"spread-{i}",
            {
                "every": f"{1 + i % 3}s",
                "anchor": (anchor + timedelta(microseconds=3_333 * i)).isoformat(),
            },
        )
        for i in range(300)
    ]
    burst = [Item(f"burst-{i}", {"every": "2s", "anchor": anchor.isoformat()}) for i in range(100)]
    late = sorted(measure(spread, root / "spread.db"))
    burst_late = sorted(measure(burst, root / "burst.db"))
    return {
        "lateness_p50_ms": statistics.median(late),
        "lateness_p99_ms": late[int(0.99 * (len(late) - 1))],
        "lateness_max_ms": late[-1],
        "lateness_fires": len(late),
        "burst_p99_ms": burst_late[int(0.99 * (len(burst_late) - 1))],
        "burst_fires": len(burst_late),
    }


def phase_simulate(root: Path) -> dict[str, Any]:
    from reconciler.model import Schedule
    from reconciler.runner import RunnerOptions, simulate

    class Item:
        def __init__(self, doc: dict[str, Any]) -> None:
            self.key, self.timezone = doc["name"], "UTC"
            self.schedule = Schedule.model_validate(doc)

    items = [Item(d) for d in mix(1_000, random.Random(7))]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    records = simulate(items, WEEK_START, WEEK_START + timedelta(days=7), RunnerOptions())
    return {
        "simulate_s": time.perf_counter() - wall0,
        "simulate_cpu_s": time.process_time() - cpu0,
        "simulate_fires": len(records),
    }


# -- side by side with APScheduler 3.11 (the `bench` extra) ------------------------------------

HOT = 200  # schedules firing at every measured minute boundary
CLAIMS_NEEDED = 30.0  # claims/s of the replica test: 300 schedules every 10 s
DAYS = ["*", "1-5", "1,3,5", "0,6"]


def cron_docs(n: int, rng: random.Random, hot_cron: str) -> list[dict[str, Any]]:
    """n cron schedules: HOT of them `hot_cron`, the rest at a random minute of the day."""
    docs = []
    for i in range(n):
        cron = (
            hot_cron
            if i < HOT
            else f"{rng.randrange(60)} {rng.randrange(24)} * * {rng.choice(DAYS)}"
        )
        docs.append({"name": f"cron-{i:05d}", "schedule": {"cron": cron, "timezone": rng.choice(ZONES)},
                     "action": {"prompt": f"Summarise what changed for team {i % 97} since the last run."}})  # fmt: skip
    return docs


def _boundaries(count: int, parity: int | None, after: float) -> list[float]:
    """The next `count` minute boundaries (epoch seconds) at least 3 s after `after`, every
    other minute when `parity` is given (0 even, 1 odd minutes)."""
    out: list[float] = []
    t = (int(after + 3) // 60 + 1) * 60
    while len(out) < count:
        if parity is None or (t // 60) % 2 == parity:
            out.append(float(t))
        t += 60
    return out


def _late_ms(starts: list[float], boundaries: list[float]) -> list[float]:
    late = []
    for t in starts:
        edge = max((b for b in boundaries if b <= t), default=None)
        if edge is not None and t - edge < 30:
            late.append((t - edge) * 1000)
    return sorted(late)


def _rss_mb() -> float:
    """This process's peak resident memory, MB. VmHWM rather than ru_maxrss: Linux carries
    ru_maxrss over execve from the process that started this one (spawned by vfork, the bench
    driver's whole peak), so every phase would report at least the driver's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def phase_aps(root: Path, boundaries: int, parity: int | None, from_files: bool) -> dict[str, Any]:
    """APScheduler: the files (C YAML loader) or the same list in Python -> a started scheduler."""
    started = time.perf_counter()
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    fired: list[float] = []

    def job(name: str) -> None:
        fired.append(time.time())

    if from_files:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        docs = [d for f in sorted((root / "schedules").glob("*.yaml"))
                for d in yaml.load_all(f.read_text(), Loader=loader)]  # fmt: skip
    else:
        docs = cron_docs(10_000, random.Random(1), "* * * * *")
    scheduler = BackgroundScheduler()
    for d in docs:
        spec = d["schedule"]
        trigger = CronTrigger.from_crontab(spec["cron"], timezone=spec.get("timezone", "UTC"))
        scheduler.add_job(job, trigger, args=[d["name"]], id=d["name"], name=d["name"])
    scheduler.start()
    load_s, rss = time.perf_counter() - started, _rss_mb()
    assert len(scheduler.get_jobs()) == 10_000
    edges = _boundaries(boundaries, parity, time.time())
    if boundaries:
        time.sleep(max(0.0, edges[-1] + 5 - time.time()))
    scheduler.shutdown(wait=True)
    late = _late_ms(fired, edges)
    return {"load_s": load_s, "rss_mb": rss, **_late_figures(late)}


def _late_figures(late: list[float]) -> dict[str, Any]:
    if not late:
        return {"late_fires": 0}
    return {"late_p50_ms": statistics.median(late), "late_p99_ms": late[int(0.99 * (len(late) - 1))],
            "late_max_ms": late[-1], "late_fires": len(late)}  # fmt: skip


def phase_schedctl(root: Path, boundaries: int, parity: int | None) -> dict[str, Any]:
    """`schedctl run` on the files: load, validate, runs.db in SQLite, a started runner."""
    started = time.perf_counter()
    os.chdir(root)
    from reconciler.runner import Runner, RunnerOptions, list_runs, load_selection
    from reconciler.tuning import tuned

    db = root / ".schedctl" / "runs.db"
    with tuned():  # as `schedctl run` is, until it serves
        selection = load_selection([], None, None)
        selection.take_warnings()  # `schedctl run` says them, then lets them go
        runner = Runner(selection.schedules, RunnerOptions(db_path=db))
        runner.start()
    serving = threading.Thread(target=runner.serve)
    serving.start()
    load_s, rss = time.perf_counter() - started, _rss_mb()
    assert not selection.errors and len(selection.schedules) == 10_000, selection.errors[:3]
    edges = _boundaries(boundaries, parity, time.time())
    if boundaries:
        time.sleep(max(0.0, edges[-1] + 5 - time.time()))
    runner.stop()
    serving.join()
    runner.shutdown()
    runs = list_runs(db, None, 1_000_000) if boundaries else []
    starts = [r.started_at.timestamp() for r in runs if r.status == "ok" and r.started_at]
    late = [
        (r.started_at - r.scheduled_for).total_seconds() * 1000
        for r in runs
        if r.status == "ok" and r.started_at and r.scheduled_for
        and r.scheduled_for.timestamp() in edges
    ]  # fmt: skip
    assert len(late) >= len(_late_ms(starts, edges)) * 0.9  # the fires are the boundary's
    return {
        "load_s": load_s,
        "rss_mb": rss,
        "db_mb": db.stat().st_size / 1e6,
        **_late_figures(sorted(late)),
    }


def phase_claims(url: str, seconds: float, barrier_at: float) -> dict[str, Any]:
    """One replica offering slot after slot of 1,000 schedules, as fast as it can."""
    from reconciler.runner.postgres import PostgresRunStore
    from reconciler.runner.store import Claim

    store = PostgresRunStore(url)
    store.join("runner", 30)
    keys = [f"k{i:04d}" for i in range(1_000)]
    store.sync_states([(k, "spec", "def") for k in keys], WEEK_START)
    time.sleep(max(0.0, barrier_at - time.time()))
    won = offered = 0
    end = time.monotonic() + seconds
    slot = WEEK_START
    while time.monotonic() < end:
        slot += timedelta(seconds=1)
        for key in keys:
            offered += 1
            got = store.claim(key, slot, "scheduler", "none", slot)
            if isinstance(got, Claim):
                won += 1
                store.finish(got, "ok", output="", error=None, started_at=slot, completed_at=slot)
            if time.monotonic() >= end:
                break
    store.leave(datetime.now(timezone.utc))
    store.close()
    return {"won": won, "offered": offered, "seconds": seconds}


def measure_claims(seconds: float = 5.0, replicas: int = 3) -> dict[str, Any]:
    """Claims per second of `replicas` processes on one throw-away PostgreSQL (none: no server)."""
    from tests.pgserver import PgServer, missing_reason

    if missing_reason() is not None:
        return {"claims_skipped": missing_reason()}
    server = PgServer()
    try:
        server.start()
        url = server.database("bench")
        from reconciler.runner.postgres import PostgresRunStore

        PostgresRunStore(url).close()  # the schema, once, before the race
        at = time.time() + 3
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--phase",
                    "claims",
                    url,
                    "--seconds",
                    str(seconds),
                    "--at",
                    str(at),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(replicas)
        ]
        results = [json.loads((p.communicate()[0] or "{}").strip().splitlines()[-1]) for p in procs]
    finally:
        server.stop()
    won = sum(r["won"] for r in results)
    return {"claims_per_s": won / seconds, "claim_offers_per_s": sum(r["offered"] for r in results) / seconds,
            "claim_replicas": replicas}  # fmt: skip


def measure_side_by_side(quick: bool = False) -> dict[str, Any]:
    """Load and memory one process at a time; lateness with both up, bursting in turn."""
    boundaries = 1 if quick else 2
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="schedctl-bench-aps-") as tmp:
        root = Path(tmp)
        for name, cron in (("even", "*/2 * * * *"), ("odd", "1-59/2 * * * *")):
            write_project(root / name, cron_docs(10_000, random.Random(1), cron))
        for key, args in (("aps", ["aps", str(root / "even")]), ("aps_code", ["aps-code", str(root / "even")]),
                          ("sc", ["schedctl", str(root / "odd")])):  # fmt: skip
            got = run_phase(*args, "--boundaries", "0")
            out |= {f"{key}_{k}": v for k, v in got.items()}
        late = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--phase",
                    name,
                    folder,
                    "--boundaries",
                    str(boundaries),
                    "--parity",
                    parity,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, folder, parity in (
                ("aps", str(root / "even"), "0"),
                ("schedctl", str(root / "odd"), "1"),
            )
        ]
        for key, proc in zip(("aps", "sc"), late, strict=True):
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"lateness phase failed:\n{stderr}")
            got = json.loads(stdout.strip().splitlines()[-1])
            out |= {f"{key}_{k}": v for k, v in got.items() if k.startswith("late")}
    return out


def run_phase(name: str, root: Path | str, *extra: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, str(root), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(quick: bool = False) -> dict[str, Any]:
    seconds = "4" if quick else "10"
    with tempfile.TemporaryDirectory(prefix="schedctl-bench-") as tmp:
        root = Path(tmp)
        now = datetime.now(timezone.utc)
        quiet = {(now.minute + k) % 60 for k in range(3)}  # no cron minute inside the idle window
        write_project(root / "load", mix(10_000, random.Random(1), quiet))
        figures = run_phase("load", root / "load", "--seconds", seconds)
        (root / "late").mkdir()
        figures |= run_phase("lateness", root / "late", "--seconds", seconds)
        figures |= run_phase("simulate", root)
    return figures


def run(quick: bool = False) -> list[Any]:
    """The figures as bench.common Results (issue limits or APScheduler as the reference)."""
    from bench.common import Result

    figures = measure(quick)
    rows = [
        ("runner: load 10,000 schedules", "load_s", "s"),
        ("runner: peak resident memory", "rss_mb", "MB"),
        ("runner: CPU between fires", "idle_cpu_pct", "%"),
        ("runner: fire lateness p99", "lateness_p99_ms", "ms"),
        ("runner: simulated week of 1,000 schedules", "simulate_s", "s"),
    ]
    results = [
        Result(label, figures[key], LIMITS[key], unit, LIMITS[key], "issue figure", absolute=True)
        for label, key, unit in rows
    ]
    return results + side_by_side_results(measure_side_by_side(quick) | measure_claims())


def side_by_side_results(f: dict[str, Any]) -> list[Any]:
    from bench.common import Result

    aps = "APScheduler 3.11, same files"
    out = [
        Result("runner vs APScheduler: load 10,000 cron schedules", f["sc_load_s"], f["aps_load_s"], "s", 1.0, aps),
        Result("runner vs APScheduler: peak resident memory", f["sc_rss_mb"], f["aps_rss_mb"], "MB", 1.0, aps),
        Result("runner vs APScheduler: lateness p99, 200 due at once", f["sc_late_p99_ms"], f["aps_late_p99_ms"],
               "ms", 1.0, aps),
        Result("runner vs APScheduler (info): load", f["sc_load_s"], f["aps_code_load_s"], "s", float("inf"),
               "APScheduler, jobs built in Python"),
        Result("runner vs APScheduler (info): memory", f["sc_rss_mb"], f["aps_code_rss_mb"], "MB", float("inf"),
               "APScheduler, jobs built in Python"),
    ]  # fmt: skip
    if "claims_per_s" in f:
        out.append(Result("runner: PostgreSQL claims/s, 3 replicas", f["claims_per_s"], CLAIMS_NEEDED, "/s",
                          CLAIMS_NEEDED, "300 schedules every 10 s", absolute=True, higher_is_better=True))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--phase", nargs=2, metavar=("NAME", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--boundaries", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--parity", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, folder = args.phase
        root = Path(folder)
        result = {"load": lambda: phase_load(root, args.seconds), "lateness": lambda: phase_lateness(root, args.seconds),
                  "simulate": lambda: phase_simulate(root),
                  "aps": lambda: phase_aps(root, args.boundaries, args.parity, from_files=True),
                  "aps-code": lambda: phase_aps(root, args.boundaries, args.parity, from_files=False),
                  "schedctl": lambda: phase_schedctl(root, args.boundaries, args.parity),
                  "claims": lambda: phase_claims(folder, args.seconds, args.at)}[name]()  # fmt: skip
        print(json.dumps(result))
        return

    figures = measure(quick=args.quick)
    print(
        f"schedctl runner benchmark (python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f})"
    )
    rows = [
        ("load 10,000 schedules", figures["load_s"], "s", "load_s",
         f"{figures['load_cpu_s']:.2f} s CPU: loader {figures['loader']:.2f} s, validate {figures['validate']:.2f} s, "
         f"runner start {figures['runner_start']:.2f} s"),
        ("peak resident memory", figures["rss_mb"], "MB", "rss_mb",
         f"whole process; after loader {figures['loader_rss']:.0f} MB, after validate {figures['validate_rss']:.0f} MB"),
        ("CPU between fires", figures["idle_cpu_pct"], "%", "idle_cpu_pct",
         f"{figures['idle_s']:.1f} s window, {figures['idle_fires']} fires in it"),
        ("fire lateness p99", figures["lateness_p99_ms"], "ms", "lateness_p99_ms",
         f"p50 {figures['lateness_p50_ms']:.1f} ms, max {figures['lateness_max_ms']:.1f} ms, {figures['lateness_fires']} fires"),
        ("simulated week, 1,000", figures["simulate_s"], "s", "simulate_s",
         f"{figures['simulate_fires']:,} fires, {figures['simulate_cpu_s']:.2f} s CPU"),
    ]  # fmt: skip
    failed = False
    for label, value, unit, key, note in rows:
        ok = value <= LIMITS[key]
        failed |= not ok
        print(
            f"  {label:<24} {value:>9.2f} {unit:<3} limit {LIMITS[key]:>6g} {unit:<3} {'ok' if ok else 'OVER'}  {note}"
        )
    print(
        f"  (info) burst of 100 fires at one instant, 3 workers: p99 {figures['burst_p99_ms']:.1f} ms over {figures['burst_fires']} fires"
    )
    side = measure_side_by_side(quick=args.quick) | measure_claims()
    print(json.dumps(side, indent=1))
    for r in side_by_side_results(side):
        failed |= not r.ok
        print(f"  {r.name:<52} {r.measured:>9.2f} {r.unit:<3} vs {r.reference:>9.2f} ({r.reference_name}): "
              f"ratio {r.ratio:.3f} {'ok' if r.ok else 'OVER'}")  # fmt: skip
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
