"""`schedctl next --load`: each target's due tasks per minute as a heat strip (one row per hour,
one character per minute), against the platform's per-tick capacity."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import timedelta

import click

from reconciler.render import Formats
from reconciler.upcoming import TargetLoad

LEVELS = "▁▂▃▄▅▆▇█"
NONE, OVER = "·", "!"
MAX_LISTED = 10


def cell(due: int, capacity: int | None) -> str:
    """One minute: `·` nothing, a block for the share of capacity used, `!` over capacity.
    Without a known capacity: the count (`+` above 9)."""
    if due == 0:
        return NONE
    if capacity is None:
        return str(due) if due < 10 else "+"
    if due > capacity:
        return OVER
    return LEVELS[max(0, math.ceil(len(LEVELS) * due / capacity) - 1)]


def render_load(loads: Sequence[TargetLoad], *, color: bool = False) -> str:
    blocks = []
    ruler = "".join(f":{m:02d}".ljust(10) for m in range(0, 60, 10))
    for load in loads:
        if load.capacity is not None:
            limit = (
                f"at most {load.capacity} due a minute (one tick starts {load.capacity}, "
                f"every {load.tick_seconds} s)"
            )
        else:
            limit = "capacity unknown: counts shown"
        lines = [f"{load.platform} target {load.target!r}: {limit}"]
        peak = load.peak
        span = f"{load.start:%Y-%m-%d %H:%M} .. {load.until:%Y-%m-%d %H:%M} UTC"
        if peak is None:
            lines.append(f"  {span}: nothing due")
            blocks.append("\n".join(lines))
            continue
        over = load.over
        lines.append(
            f"  {span}: peak {len(peak.keys)}{'/' + str(load.capacity) if load.capacity else ''}"
            f" at {peak.minute:%Y-%m-%d %H:%M}, {len(over)} minute(s) over capacity"
        )
        lines.append(f"  {'':12} {ruler}".rstrip())
        by_minute = {m.minute: len(m.keys) for m in load.minutes}
        hour = load.start
        empty = 0
        while hour < load.until:
            counts = [by_minute.get(hour + timedelta(minutes=i), 0) for i in range(60)]
            if any(counts):
                strip = "".join(cell(c, load.capacity) for c in counts)
                if color:
                    strip = strip.replace(OVER, click.style(OVER, fg="red", bold=True))
                lines.append(f"  {hour:%m-%d %a %H} {strip}  max {max(counts)}")
            else:
                empty += 1
            hour += timedelta(hours=1)
        if empty:
            lines.append(f"  ({empty} hour(s) with nothing due not shown)")
        for m in over[:MAX_LISTED]:
            named = ", ".join(m.keys[:5]) + (
                f" and {len(m.keys) - 5} more" if len(m.keys) > 5 else ""
            )
            lines.append(
                f"  over: {m.minute:%Y-%m-%d %H:%M} UTC {len(m.keys)}/{load.capacity} ({named})"
            )
        if len(over) > MAX_LISTED:
            lines.append(f"  over: ... and {len(over) - MAX_LISTED} more minute(s)")
        blocks.append("\n".join(lines))
    legend = f"{NONE} nothing due   {LEVELS} share of the capacity   {OVER} over capacity (some wait a tick)"
    return "\n\n".join(blocks) + ("\n\n" + legend if blocks else "no targets")


FORMATS: Formats[Sequence[TargetLoad]] = {
    "text": lambda loads, style: render_load(loads, color=style.color),
    "json": lambda loads, _: json.dumps([t.to_dict() for t in loads], indent=2),
}
