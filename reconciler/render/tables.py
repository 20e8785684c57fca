"""Tables for the terminal (rich), plain columns when output is not a terminal.

Every cell passes through render.text.printable: cells hold names and fields of live objects,
and a terminal must show their control characters, never obey them.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from datetime import timezone
from typing import TYPE_CHECKING, Any

from reconciler.render.text import printable

if TYPE_CHECKING:
    from reconciler.upcoming import Upcoming


def render_table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, color: bool
) -> str:
    """A rich table rendered to text (no colour codes unless `color` and a terminal)."""
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=None if title is None else printable(title),
        title_justify="left",
        show_header=True,
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else printable(str(cell)) for cell in row))
    buffer = io.StringIO()
    tty = sys.stdout.isatty()
    terminal = color and tty
    # On a terminal, fit its width; elsewhere (pipes, CI logs, tests) never fold a cell.
    width = shutil.get_terminal_size().columns if tty else 10_000
    console = Console(file=buffer, force_terminal=terminal, no_color=not terminal, width=width)
    console.print(table)
    return buffer.getvalue().rstrip("\n")


def render_upcoming(items: Sequence[Upcoming], *, color: bool) -> str:
    blocks = []
    for item in items:
        rows = [
            (
                f.strftime("%Y-%m-%d %a %H:%M %Z")
                + f" ({f.strftime('%z')[:3]}:{f.strftime('%z')[3:]})",
                f.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            )
            for f in item.fires
        ]
        title = printable(f"{item.name} [{item.target}]: {item.description} ({item.timezone})")
        table = render_table(
            None, ("local time", "UTC"), rows or [("no more fires", "")], color=color
        )
        notes = "".join(f"\n  note: {printable(n)}" for n in item.notes)
        blocks.append(title + "\n  " + table.replace("\n", "\n  ") + notes)
    return "\n\n".join(blocks)
