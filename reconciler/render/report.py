"""`schedctl report`: the Report (reconciler/report.py) as one self-contained HTML file or JSON.

    FORMATS[name](report, style) -> str (see reconciler.render)

The HTML is the Jinja2 templates in reconciler/templates/report/, autoescaped (titles, errors
and keys come from platforms): inline CSS and SVG, no script, no font, no request. The
templates only place and word what the report holds: positions on the time axis (`x`), times
in the schedule's zone and in UTC, numbers in short form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.render import Formats
from reconciler.render.audit import _number, slot_text
from reconciler.render.tables import zone_of
from reconciler.render.text import clip, printable
from reconciler.report import BAD

if TYPE_CHECKING:
    import jinja2

    from reconciler.report import Load, Mark, Report, Row

WIDTH = 1000.0  # the time axis's user units: a row's SVG is stretched to its box
LOAD_HEIGHT = 100.0
CROWDED_SHOWN = 50  # crowded minutes listed; the JSON has all
COST_ROWS = 50  # schedules in the cost table, most tokens first
ERROR_LIMIT = 300
CLIP_NOTE = "… ({} more characters: the JSON report has them)"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("reconciler", "templates/report"),
        autoescape=True,  # platform text is untrusted, in text and in attributes alike
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Axis:
    """The window [since, until] on WIDTH units."""

    def __init__(self, since: float, until: float) -> None:
        self.since = since
        self.span = max(until - since, 1.0)

    def x(self, epoch: float) -> str:
        return f"{(epoch - self.since) / self.span * WIDTH:.1f}"

    def width(self, start: float, end: float, least: float = 1.5) -> str:
        return f"{max((end - start) / self.span * WIDTH, least):.1f}"


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%a %m-%d %H:%M UTC")


def when(epoch: float, zone: str) -> str:
    """A slot in its schedule's zone and in UTC: `Mon 03-23 10:00 CET (09:00 UTC)`."""
    utc = datetime.fromtimestamp(epoch, timezone.utc)
    if zone == "UTC":
        return f"{utc:%a %m-%d %H:%M} UTC"
    local = utc.astimezone(zone_of(zone))
    same = local.date() == utc.date()
    return f"{local:%a %m-%d %H:%M %Z} ({utc:%H:%M} UTC)" if same else (
        f"{local:%a %m-%d %H:%M %Z} ({utc:%a %m-%d %H:%M} UTC)"
    )  # fmt: skip


def drawn(row: Row) -> list[Mark]:
    """A row's marks in drawing order: the future's outlines, then the past, what went wrong
    last (on top, where a merged streak cannot hide it)."""
    return [
        *row.future,
        *(m for m in row.marks if m.outcome not in BAD),
        *(m for m in row.marks if m.outcome in BAD),
    ]


def text(value: str | None, limit: int = ERROR_LIMIT) -> str:
    """Platform text as shown: printable, clipped (escaping is the template engine's)."""
    return printable(clip(value or "", limit, CLIP_NOTE))


def load_paths(load: Load, axis: Axis) -> dict[str, Any]:
    """The load chart's bars as SVG path data: one path per series, not one element a minute."""
    top = max(load.peak, load.started_peak, load.capacity or 0, 1) * 1.15

    def y(n: float) -> str:
        return f"{LOAD_HEIGHT - n / top * LOAD_HEIGHT:.1f}"

    cap = load.capacity
    ok = " ".join(
        f"M{axis.x(m)} {LOAD_HEIGHT:.0f}V{y(n)}" for m, n in load.due if not cap or n <= cap
    )
    over = " ".join(
        f"M{axis.x(m)} {LOAD_HEIGHT:.0f}V{y(n)}" for m, n in load.due if cap and n > cap
    )
    started = " ".join(f"M{axis.x(m)} {y(n)}h2" for m, n in load.started)
    return {
        "ok": ok,
        "over": over,
        "started": started,
        "capacity_y": y(cap) if cap else None,
        "top": top,
    }


def spark(values: Sequence[float | None], limit: float | None) -> dict[str, Any]:
    """Per-day bars on a 0..100 x 0..24 box, and the budget's line where there is one."""
    top = max([v or 0 for v in values] + [limit or 0, 1]) * 1.1
    width = 100 / max(len(values), 1)
    bars = [
        (f"{i * width + width * 0.1:.1f}", f"{width * 0.8:.1f}", f"{24 - (v or 0) / top * 24:.1f}")
        for i, v in enumerate(values)
    ]
    return {"bars": bars, "limit_y": None if not limit else f"{24 - limit / top * 24:.1f}"}


def render_html(report: Report) -> str:
    axis = Axis(report.since, report.until)
    rows = sorted((r for r in report.rows if r.tokens is not None), key=lambda r: -(r.tokens or 0))
    day_starts = [
        datetime.fromisoformat(d).replace(tzinfo=timezone.utc).timestamp() for d in report.days
    ]
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report,
        axis=axis,
        days=list(zip(report.days, day_starts, strict=True)),
        zone_text=slot_text,
        when=when,
        drawn=drawn,
        utc_text=utc_text,
        number=_number,
        text=text,
        load_paths=load_paths,
        spark=spark,
        cost_rows=rows[:COST_ROWS],
        cost_more=max(len(rows) - COST_ROWS, 0),
        crowded_shown=CROWDED_SHOWN,
        version=__version__,
        generated=utc_text(report.now),
        load_height=LOAD_HEIGHT,
        bad=BAD,
    )


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=1, ensure_ascii=False)


FORMATS: Formats[Report] = {
    "html": lambda report, _: render_html(report),
    "json": lambda report, _: render_json(report),
}
