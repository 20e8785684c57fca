"""Issue 20: `schedctl report` of 1,000 schedules over 14 days renders in under 2 s, under 5 MB.

The window is a past week (run logs) and a coming week (outlines): 7 days back, 7 ahead. The
schedules are a mix a fleet has: 400 daily, 300 hourly, 200 every 15 minutes, 100 weekly,
in four zones (two of them change their clocks in the window), on one engine instance. Each
past slot ran 5 s late, but one in 40 failed, and one task in 25 missed a six-hour stretch.

Measured: the minute load (upcoming.load_report), the report's data (report.build_report) and
the HTML (render.report.render_html), from an audit already made (bench_audit measures the run
logs' reading); the page's size beside it. Absolute figures: the issue's 2 s and 5 MB.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Result, print_results

TASKS = 1000
NOW = datetime(2026, 3, 30, tzinfo=timezone.utc)  # Europe's clocks moved on the 29th
SINCE = NOW - timedelta(days=7)
UNTIL = NOW + timedelta(days=7)
ZONES = ("UTC", "Europe/Rome", "Europe/London", "Asia/Tokyo")
LIMIT_S = 2.0
LIMIT_MB = 5.0


def schedule_of(i: int) -> str:
    minute = i % 60
    if i < 400:
        return f"{{daily: '{6 + i % 12:02d}:{minute:02d}'"
    if i < 700:
        return f"{{cron: '{minute} * * * *'"
    if i < 900:
        return "{every: 15m, anchor: '2026-01-01T00:00:00Z'"
    return f"{{weekly: {{at: '09:{minute:02d}', days: [mon]}}"


def write_repo(root: Path) -> None:
    (root / "schedctl.yaml").write_text(
        "owner: bench\ndefaults: {timezone: UTC, targets: [t]}\n"
        "targets:\n  t:\n    platform: engine\n    url: 'http://127.0.0.1:9'\n    instance: bench\n"
    )
    (root / "schedules").mkdir()
    for chunk in range(0, TASKS, 100):
        docs = [
            f"name: task-{i:05d}\ntitle: Task {i}\n"
            f"schedule: {schedule_of(i)}, timezone: {ZONES[i % len(ZONES)]}}}\n"
            f"action: {{prompt: 'Do task {i}.'}}\n"
            for i in range(chunk, min(chunk + 100, TASKS))
        ]
        (root / "schedules" / f"s{chunk:05d}.yaml").write_text("---\n".join(docs))


def audited(root: Path):  # type: ignore[no-untyped-def]
    """The project and its audit over the past week, from synthetic run logs."""
    from reconciler.audit import AuditReport, Run, TargetInput, audit_target, slots_of
    from reconciler.forms import LiveTask, Marker
    from reconciler.loader import load_project
    from reconciler.runlog import expected_of

    project = load_project([], str(root / "schedctl.yaml"))
    expected = expected_of(project.for_target("t"), None)
    created = SINCE - timedelta(days=1)
    tasks, runs = [], []
    since, now = SINCE.timestamp(), NOW.timestamp()
    for i, exp in enumerate(expected):
        tid = f"t{i:05d}"
        tasks.append(
            LiveTask(
                tid, exp.title, Marker("bench", exp.key), {}, {}, created_at=created.isoformat()
            )
        )
        _, slots = slots_of(exp.spec, exp.timezone, created.timestamp(), since, now)
        for n, slot in enumerate(slots):
            if i % 25 == 0 and since + 2 * 86_400 <= slot < since + 2 * 86_400 + 6 * 3600:
                continue  # a six-hour hole
            failed = (i + n) % 40 == 0
            runs.append(
                Run(f"r{i}-{n}", tid, "scheduler", "error" if failed else "ok", slot + 5,
                    slot + 65, 60_000, "model timeout" if failed else None, 1200 + i % 700)
            )  # fmt: skip
    inp = TargetInput("t", "engine", "bench", timedelta(seconds=30), expected, tasks, runs, "bench")
    audit = audit_target(inp, since, now)
    return project, AuditReport("bench", since, now, [audit])


def render_once(project, report):  # type: ignore[no-untyped-def]
    from reconciler.render.report import render_html
    from reconciler.report import build_report, ceil_days
    from reconciler.upcoming import load_report

    loads = load_report(project, [], SINCE, ceil_days(SINCE.timestamp(), UNTIL.timestamp()))
    data = build_report(project, report, now=NOW.timestamp(), until=UNTIL.timestamp(), loads=loads)
    return render_html(data)


def run() -> list[Result]:
    from reconciler.tuning import tuned

    # In process, tuned as `schedctl report` is (see cli.main): no collector passes over the
    # audit's hundred thousand runs.
    with tempfile.TemporaryDirectory() as tmp, tuned():
        root = Path(tmp)
        write_repo(root)
        project, report = audited(root)
        html = render_once(project, report)  # warm: templates compiled, zones read
        times = []
        for _ in range(3):
            start = time.perf_counter()
            html = render_once(project, report)
            times.append(time.perf_counter() - start)
    size = len(html.encode()) / 1e6
    name = f"report: {TASKS:,} schedules, 14 days"
    return [
        Result(
            f"{name}, render", sorted(times)[1], LIMIT_S, "s", LIMIT_S, "issue: 2 s", absolute=True
        ),
        Result(f"{name}, page size", size, LIMIT_MB, "MB", LIMIT_MB, "issue: 5 MB", absolute=True),
    ]


if __name__ == "__main__":
    results = run()
    print_results(results)
    sys.exit(0 if all(r.ok for r in results) else 1)
