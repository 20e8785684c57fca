"""`python -m reconciler.sandbox`: the same server as `schedctl sandbox`, without the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from reconciler.errors import SandboxError

from . import PLATFORMS, SandboxOptions, serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reconciler.sandbox")
    parser.add_argument("--platform", choices=PLATFORMS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", default=":memory:")
    parser.add_argument("--token")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--ambiguous-rate", type=float, default=0.0)
    parser.add_argument("--page-size", type=int)
    parser.add_argument("--retry-after", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        opts = SandboxOptions(
            platform=args.platform,
            db=args.db,
            token=args.token,
            seed=args.seed,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            ambiguous_rate=args.ambiguous_rate,
            page_size=args.page_size,
            retry_after=args.retry_after,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve(opts, args.host, args.port)
    except SandboxError as exc:
        parser.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main()
