#!/usr/bin/env python
"""The reliability figures of the README's "Reliability" section, counted from real runs.

    python bench/reliability_tally.py            # the whole corpus, both platforms (minutes)
    python bench/reliability_tally.py --fast     # a sample, as tests/reliability/test_tally.py

Prints one markdown table (figure | value | how counted) and exits 1 when any of tracebacks,
duplicates, lost objects, left over or secret leaks is not 0, or when a run on bad input was
not a clean error. The machinery is tests/reliability/tally.py, next to the helpers it reuses.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.tally import FAST, FULL, table, tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a sample: seconds, not minutes")
    args = parser.parse_args()
    size = FAST if args.fast else FULL
    start = time.monotonic()
    result = tally(size, progress=lambda step: print(f"... {step}", file=sys.stderr, flush=True))
    print(table(result, size))
    print(f"\n{time.monotonic() - start:.0f} s", file=sys.stderr)
    for line in result.unclean + result.leaked:
        print(f"NOT CLEAN: {line}", file=sys.stderr)
    if result.failing:
        print(f"FAILED: {', '.join(result.failing)} not 0", file=sys.stderr)
    return 1 if result.failing or result.unclean else 0


if __name__ == "__main__":
    sys.exit(main())
