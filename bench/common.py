"""Shared benchmark plumbing: each bench module's `run()` returns Results; run_all prints them.

Figures are ratios against a reference measured in the same run, because this machine is
shared and noisy: absolute seconds mean little, the ratio is the claim.
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    name: str  # what is measured
    measured: float
    reference: float  # the reference or the floor, same unit
    unit: str
    limit: float  # the figure for measured/reference (or for measured when absolute)
    reference_name: str
    absolute: bool = False  # limit applies to `measured` itself (e.g. req/s), not the ratio
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        return self.measured / self.reference if self.reference else float("inf")

    @property
    def ok(self) -> bool:
        value = self.measured if self.absolute else self.ratio
        return value >= self.limit if self.higher_is_better else value <= self.limit


def median_time(func: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_command(args: Sequence[str], **kwargs: object) -> None:
    subprocess.run(list(args), check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def compile_package() -> None:
    """Byte-compile the reconciler package, as installing it does.

    An editable install under PYTHONDONTWRITEBYTECODE (this machine sets it) would otherwise
    compile every module from source on every start, a cost no installed copy has and the
    references measured beside it (check-jsonschema, installed by pip) do not pay.
    """
    compileall.compile_dir(ROOT / "reconciler", quiet=1)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def print_results(results: Sequence[Result]) -> None:
    header = f"{'benchmark':<52} {'measured':>12} {'reference':>12} {'ratio':>8} {'limit':>10}  ok"
    print(header)
    print("-" * len(header))
    for r in results:
        limit = (">=" if r.higher_is_better else "<=") + f"{r.limit:.3g}"
        limit += "" if not r.absolute else f" {r.unit}"
        limit = "info" if r.limit == float("inf") else limit
        print(
            f"{r.name:<52} {r.measured:>10.4g}{r.unit[:2]:>2} {r.reference:>10.4g}{r.unit[:2]:>2} "
            f"{r.ratio:>8.3f} {limit:>10}  {'yes' if r.ok else 'NO'}"
        )
