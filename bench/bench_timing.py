"""Benchmark reconciler.timing: next-fire computations per second, and 1,000 fires of 1,000 schedules.

    python bench/bench_timing.py [--quick]

Targets (issue 3): >= 30,000 next_after() per second for typical expressions; the next 1,000
fires of 1,000 mixed schedules in under 5 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler.timing import CronTrigger, IntervalTrigger, OnceTrigger, Trigger, preset_to_cron

TYPICAL = ("0 9 * * 1-5", "*/15 * * * *", "30 8 * * 1,3,5", "0 0 1 * *")
ZONES = (
    "UTC",
    "Europe/Rome",
    "America/Los_Angeles",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Europe/London",
)
MIXED_CRON = (
    *TYPICAL,
    "0 * * * *",
    "*/5 9-17 * * 1-5",
    "0 0 * * 0",
    "15 2 * * *",
    "30 1 * * *",
    "0 0 1,15 * sun",
    "0 12 * * 6,0",
    "@daily",
    "0 0 1 1 *",
    "0 6,18 * * *",
    "45 23 L * *".replace("L", "28-31"),
)


def random_instants(rng: random.Random, n: int) -> list[datetime]:
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return [base + timedelta(seconds=rng.randrange(366 * 86400)) for _ in range(n)]


def bench_next_after(rng: random.Random, count: int) -> float:
    print(f"next_after(): {count} calls per expression, zones {', '.join(ZONES[:4])}")
    starts = random_instants(rng, count)
    total_calls, total_time, total_cpu = 0, 0.0, 0.0
    for expr in TYPICAL:
        triggers = [CronTrigger(expr, ZONES[i % 4]) for i in range(4)]
        t0, c0 = time.perf_counter(), time.process_time()
        for i, start in enumerate(starts):
            triggers[i % 4].next_after(start)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        total_calls += count
        total_time += elapsed
        total_cpu += cpu
        print(f"  {expr:<16} {count / elapsed:>10,.0f} /s   (per CPU second {count / cpu:>10,.0f})")
    print(
        f"  {'all':<16} {total_calls / total_time:>10,.0f} /s   "
        f"(per CPU second {total_calls / total_cpu:>10,.0f}; target >= 30,000 /s)"
    )
    return total_calls / total_time


def mixed_schedules(rng: random.Random, n: int) -> list[Trigger]:
    out: list[Trigger] = []
    anchor = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for i in range(n):
        kind = i % 10
        zone = rng.choice(ZONES)
        if kind < 6:
            out.append(CronTrigger(rng.choice(MIXED_CRON), zone))
        elif kind == 6:
            every = timedelta(minutes=rng.choice((5, 15, 30, 60, 90, 240, 1440)))
            out.append(IntervalTrigger(every, anchor + timedelta(minutes=rng.randrange(1440))))
        elif kind == 7:
            out.append(
                CronTrigger(
                    preset_to_cron("daily", f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"),
                    zone,
                )
            )
        elif kind == 8:
            days = sorted(rng.sample(range(7), rng.randint(1, 5)))
            out.append(CronTrigger(preset_to_cron("weekly", "08:30", days), zone))
        else:
            if rng.random() < 0.2:
                out.append(OnceTrigger(anchor + timedelta(days=rng.randrange(800))))
            else:
                out.append(
                    CronTrigger(preset_to_cron("monthly", "09:00", day=rng.randint(1, 31)), zone)
                )
    return out


def bench_many(rng: random.Random, schedules: int, fires: int) -> float:
    triggers = mixed_schedules(rng, schedules)
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    t0, c0 = time.perf_counter(), time.process_time()
    produced = 0
    for trig in triggers:
        produced += len(trig.fires(start, fires))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"fires(): next {fires} fires of {schedules} mixed schedules: {elapsed:.2f} s "
        f"(CPU {cpu:.2f} s; {produced:,} fires, {produced / elapsed:,.0f} fires/s; target < 5 s)"
    )
    return elapsed


def run(seed: int = 3) -> list[Any]:
    """The two figures as bench.common Results, for run_all."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import Result

    rng = random.Random(seed)
    rate = bench_next_after(rng, 20_000)
    many = bench_many(rng, 1000, 1000)
    return [
        Result("timing: next fire computations per second", rate, 30_000, "/s", 30_000,
               "issue figure", absolute=True, higher_is_better=True),
        Result("timing: next 1,000 fires of 1,000 schedules", many, 5.0, "s", 5.0,
               "issue figure", absolute=True),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = 2_000 if args.quick else 20_000
    bench_next_after(rng, n)
    size = 100 if args.quick else 1000
    bench_many(rng, size, size)


if __name__ == "__main__":
    main()
