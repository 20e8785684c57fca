#!/usr/bin/env python
"""Every benchmark of the issues, side by side with its reference, as one table of ratios.

    python bench/run_all.py                 # all of them (about 25 minutes on 2 cores)
    python bench/run_all.py --only validate,timing --markdown bench-results/table.md

Each row: what is measured, the reference measured in the same run (check-jsonschema, the
latency floor, a bare interpreter start) or the issue's absolute figure, their ratio, the limit
the issue sets, and whether it is met. Not a test: the machine is shared and noisy, so read the
ratios, and run it again before believing a single miss.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Result, print_results

SUITES = ("validate", "timing", "sandbox", "firing", "reconcile", "runner", "audit", "report")


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load_average():.1f} at start"
    )


def markdown(results: list[Result], header: str) -> str:
    lines = [
        header,
        "",
        "| benchmark | measured | reference | ratio | limit | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        op = ">=" if r.higher_is_better else "<="
        info = r.limit == float("inf")
        limit = "info" if info else f"{op} {r.limit:.3g}" + (f" {r.unit}" if r.absolute else "")
        met = "—" if info else "yes" if r.ok else "NO"
        lines.append(
            f"| {r.name} | {r.measured:.4g} {r.unit} | {r.reference:.4g} {r.unit} ({r.reference_name}) "
            f"| {r.ratio:.3f} | {limit} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SUITES)}")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as markdown")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SUITES)
    header = f"Machine: {machine()}."
    results: list[Result] = []
    started = time.perf_counter()
    for name in chosen:
        print(f"== {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        results.extend(module.run())
    header += f" Load average {load_average():.1f} at the end."  # the machine is shared
    print()
    print(header)
    print_results(results)
    print(
        f"\n{sum(r.ok for r in results)} of {len(results)} figures met, in {time.perf_counter() - started:.0f} s"
    )
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(results, header))
    raise SystemExit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
