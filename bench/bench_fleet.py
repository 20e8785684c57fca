"""Issue 16 alone: 100 templates x 100 items validated (vs check-jsonschema on the 10,000
expanded files) and planned against the sandbox (vs pages x latency). The same rows are part
of bench_validate and bench_reconcile, so `run_all.py` shows them in a full run; this suite
is for `run_all.py --only fleet`."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_reconcile import bench_fleet_plan
from bench.bench_validate import run_fleet
from bench.common import Result, print_results


def run() -> list[Result]:
    return [*run_fleet(), *bench_fleet_plan("engine"), *bench_fleet_plan("aitroop")]


if __name__ == "__main__":
    results = run()
    print_results(results)
    sys.exit(0 if all(r.ok for r in results) else 1)
