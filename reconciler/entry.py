"""The `schedctl` command: `schedctl --help` is answered from its rendered text, the rest by click.

The interpreter starts in about a tenth of the time `check-jsonschema --version` takes, and
importing click alone takes as long again: the help that a newcomer's first command prints
is kept as click renders it (`reconciler/_help.py`, written by the tests, which fail when it
is stale) and printed without importing click, where the terminal's width is one it was
rendered at. Anything else, any other width, and shell completion go through click.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

HELP_OPTIONS = ("--help", "-h")
MAX_WIDTH = 100  # the group's max_content_width
WIDTHS = (78, 98)  # rendered: a pipe or an 80-column terminal, and any terminal of 100 or more
COMPLETE_VAR = "_SCHEDCTL_COMPLETE"


def help_width() -> int:
    """The width click wraps help at: `shutil.get_terminal_size()` as click reads it,
    without importing shutil (which imports the compressors)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return max(min(columns, MAX_WIDTH) - 2, 50)


def main() -> NoReturn:
    if len(sys.argv) == 2 and sys.argv[1] in HELP_OPTIONS and COMPLETE_VAR not in os.environ:
        width = help_width()
        if width in WIDTHS:
            from reconciler._help import TEXT

            try:
                sys.stdout.write(TEXT[width])
                sys.stdout.flush()
            except BrokenPipeError:  # `schedctl --help | head`: as the CLI answers it
                raise SystemExit(1) from None
            raise SystemExit(0)
    from reconciler.cli import main as cli_main

    cli_main()
