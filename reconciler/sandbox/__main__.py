"""`python -m reconciler.sandbox ...` is `schedctl sandbox ...`: one parser for both."""

from __future__ import annotations

import sys

from reconciler.cli import main

main(["sandbox", *sys.argv[1:]])
