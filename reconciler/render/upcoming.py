"""`schedctl next`: the upcoming fires of schedules, as a table per schedule or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.render import Formats
from reconciler.render.tables import render_upcoming

if TYPE_CHECKING:
    from reconciler.upcoming import Upcoming


def render_json(items: Sequence[Upcoming]) -> str:
    return json.dumps([u.to_dict() for u in items], indent=2)


FORMATS: Formats[Sequence[Upcoming]] = {
    "text": lambda items, style: render_upcoming(items, color=style.color, wide=style.wide),
    "json": lambda items, _: render_json(items),
}
