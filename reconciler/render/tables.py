"""Tables for the terminal (rich), plain columns when output is not a terminal.

Every cell passes through render.text.printable: cells hold names and fields of live objects,
and a terminal must show their control characters, never obey them.

Tables fit the terminal (or $COLUMNS): the columns named `keep` (keys, timestamps) are never
cut or wrapped; the one named `squeeze` (a title, an error) is shortened with an ellipsis.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from reconciler.render.text import printable

if TYPE_CHECKING:
    from reconciler.upcoming import Upcoming

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sorts `task-2` before `task-10`: runs of digits compare as numbers."""
    return tuple(
        (1, int(part)) if part.isdigit() else (0, part.casefold())
        for part in _DIGITS.split(text)
        if part
    )


def instant(value: Any) -> datetime | None:
    """A platform's timestamp (ISO text, or epoch seconds or milliseconds) as an aware time."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, timezone.utc)
        from reconciler.timing import parse_instant

        return parse_instant(str(value).strip())
    except (ValueError, OverflowError, OSError):
        return None


def relative(when: datetime, now: datetime) -> str:
    """`in 3h`, `25m ago`, `now`: the largest whole unit."""
    seconds = (when - now).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "now"
    for unit, span in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if size >= span * (2 if unit == "d" else 1):
            amount = f"{int(size // span)}{unit}"
            return f"in {amount}" if seconds > 0 else f"{amount} ago"
    return "now"  # unreachable: a minute or more always has a unit


def zone_of(name: str | None) -> tzinfo:
    """A schedule's zone by name; UTC when it has none or an unknown one."""
    if not name:
        return timezone.utc
    from reconciler.timing import get_zone

    try:
        return get_zone(name)
    except ValueError:
        return timezone.utc


def when_cell(
    value: Any, zone: tzinfo, now: datetime, *, wide: bool = False, short: bool = False
) -> str:
    """A timestamp, compact in the schedule's zone (`in 3h (09:00 CET)`, `Jun 05 09:00 CET`), or with
    `wide` the full ISO time in that zone and in UTC; `short`: only how long ago or ahead."""
    if value is None or value == "":
        return "-"
    when = instant(value)
    if when is None:
        return str(value)  # shown as the platform sent it (escaped later)
    local = when.astimezone(zone)
    if wide:
        utc = when.astimezone(timezone.utc)
        return f"{local.isoformat(timespec='seconds')} ({utc:%Y-%m-%d %H:%M} UTC)"
    if short:
        return relative(when, now)
    zone_name = local.strftime("%Z")
    if abs(when - now) < timedelta(hours=24):
        return f"{relative(when, now)} ({local:%H:%M} {zone_name})"
    day = f"{local:%b %d}" if local.year == now.year else f"{local:%Y-%m-%d}"
    return f"{day} {local:%H:%M} {zone_name}"


def _width() -> int:
    """The terminal's width; $COLUMNS when set; elsewhere (pipes, CI logs) no limit."""
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").strip().isdigit():
        return shutil.get_terminal_size().columns
    return 10_000


def render_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    color: bool,
    keep: Collection[str] = (),
    squeeze: str | None = None,
) -> str:
    """A rich table rendered to text (no colour codes unless `color` and a terminal)."""
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=None if title is None else printable(title),
        title_justify="left",
        show_header=True,
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    cells = [["" if cell is None else printable(str(cell)) for cell in row] for row in rows]
    width = _width()
    # Each column's natural width (markup does not count); what is left is the squeezed one's.
    natural = [
        max([len(column), *(Text.from_markup(row[index]).cell_len for row in cells)])
        for index, column in enumerate(columns)
    ]
    gaps = 2 * (len(columns) - 1)
    for index, column in enumerate(columns):
        if column in keep:  # never cut, never wrapped
            table.add_column(column, no_wrap=True, min_width=natural[index])
        elif column == squeeze:
            room = width - gaps - sum(natural) + natural[index]
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=max(8, room))
        else:  # words: wrapped at spaces when they must be, never inside a word
            longest = max([len(column), *(len(w) for row in cells for w in row[index].split())])
            table.add_column(column, min_width=longest)
    for row in cells:
        table.add_row(*row)
    buffer = io.StringIO()
    terminal = color and sys.stdout.isatty()
    console = Console(file=buffer, force_terminal=terminal, no_color=not terminal, width=width)
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n"))


def render_upcoming(
    items: Sequence[Upcoming], *, color: bool, wide: bool = False, now: datetime | None = None
) -> str:
    now = now or datetime.now(timezone.utc)
    blocks = []
    for item in sorted(items, key=lambda i: (natural_key(i.name), natural_key(i.target))):
        rows = []
        for f in item.fires:
            utc = f.astimezone(timezone.utc)
            if wide:
                rows.append((f.isoformat(), utc.isoformat(), relative(f, now)))
                continue
            offset = f.strftime("%z")
            rows.append(
                (
                    f.strftime("%Y-%m-%d %a %H:%M %Z") + f" ({offset[:3]}:{offset[3:]})",
                    utc.strftime("%Y-%m-%d %H:%M UTC"),
                    relative(f, now),
                )
            )
        title = printable(f"{item.name} [{item.target}]: {item.description} ({item.timezone})")
        table = render_table(
            None,
            ("local time", "UTC", "from now"),
            rows or [("no more fires", "", "")],
            color=color,
            keep=("local time", "UTC", "from now"),
        )
        notes = "".join(f"\n  note: {printable(n)}" for n in item.notes)
        blocks.append(title + "\n  " + table.replace("\n", "\n  ") + notes)
    return "\n\n".join(blocks)
