"""Apply progress: a rich progress bar on a terminal, one plain line per change elsewhere.

    with apply_progress(total, color=..., verbose=...) as on_result:
        apply_plan(plan, conns, on_result=on_result)

Each result is one line (`+ prod/morning-digest create: ok`) either way. The bar is drawn only
for more than a few changes, on a terminal, with colour allowed (NO_COLOR / --no-color mean
plain output: a bar needs cursor control sequences) and without -v (request log lines would
tear it). With stdout a terminal, bar and lines share it (lines scroll above the bar); with
stdout piped and stderr a terminal, the lines go to the pipe and the bar to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from reconciler.reconcile import ChangeResult
from reconciler.render.plan import result_line

FEW = 5  # up to this many changes, lines alone say enough


def bar_stream(total: int, *, color: bool, verbose: int = 0) -> TextIO | None:
    """The terminal stream a progress bar of `total` changes goes to, or None for none."""
    if total <= FEW or not color or verbose or os.environ.get("TERM") == "dumb":
        return None
    for stream in (sys.stdout, sys.stderr):
        if stream.isatty():
            return stream
    return None


@contextmanager
def apply_progress(
    total: int, *, color: bool, verbose: int = 0
) -> Iterator[Callable[[ChangeResult], None]]:
    """An `on_result` callback for apply_plan that prints each result (and moves the bar)."""
    colored = color and sys.stdout.isatty()
    stream = bar_stream(total, color=color, verbose=verbose)
    if stream is None:
        yield lambda result: click.echo(result_line(result, colored), color=colored)
        return

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    shared = stream is sys.stdout  # lines and bar on one terminal: print lines through rich
    progress = Progress(
        TextColumn("applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = progress.add_task("apply", total=total)

    def on_result(result: ChangeResult) -> None:
        progress.advance(task)
        line = result_line(result, colored)
        if shared:
            progress.console.print(Text.from_ansi(line), soft_wrap=True)
        else:
            click.echo(line, color=colored)

    with progress:
        yield on_result
