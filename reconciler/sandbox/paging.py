"""List answers for both platforms: a bare array, or a page object when paging is on.

Paging is on when the server runs with a page size or the client sends `limit`; a `cursor`
continues a listing. Cursors are opaque to clients and only name a position in creation order,
so they stay valid while other tasks come and go.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Query, Response
from pydantic import BaseModel

from .problems import Problem, shown
from .store import Page

ItemT = TypeVar("ItemT")

Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
Limit = Annotated[
    int | None,
    Query(
        ge=1,
        le=1000,
        description="Page size for this request (pages the answer even when the server does not).",
    ),
]

_CURSOR_PREFIX = "after:"
_MAX_POSITION = 2**63 - 1  # SQLite's largest INTEGER
_MAX_DIGITS = len(str(_MAX_POSITION))


class ListPage(BaseModel, Generic[ItemT]):
    """The paged shape: these items, and the cursor for the next page (null on the last)."""

    items: list[ItemT]
    next_cursor: str | None


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor names; anything this server did not hand out is a 400."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except ValueError:  # binascii.Error and UnicodeDecodeError both are
        text = ""
    digits = text.removeprefix(_CURSOR_PREFIX)
    # Digits only (int() would take "-5", "+5", " 5", "5_0"), within SQLite's integer range,
    # and in the one spelling encode_cursor gives (b64decode skips stray characters).
    if text.startswith(_CURSOR_PREFIX) and digits.isdigit() and len(digits) <= _MAX_DIGITS:
        position = int(digits)
        if position <= _MAX_POSITION and encode_cursor(position) == cursor:
            return position
    raise Problem(
        400,
        f"invalid query parameter 'cursor': {shown(cursor)} is not a next_cursor from this "
        "listing (leave it out to start from the first page)",
    )


def json_response(body: str, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type="application/json")


def list_response(
    fetch: Callable[[int | None, int | None], Page],
    cursor: str | None,
    limit: int | None,
    page_size: int | None,
) -> Response:
    """Fetch one page with `fetch(position, size)` and answer in the shape the request calls for."""
    size = limit if limit is not None else page_size
    page = fetch(None if cursor is None else decode_cursor(cursor), size)
    items = "[" + ",".join(page.bodies) + "]"  # stored bodies are already the wire JSON
    if size is None and cursor is None:
        return json_response(items)
    next_cursor = None if page.next_after is None else encode_cursor(page.next_after)
    return json_response(f'{{"items":{items},"next_cursor":{json.dumps(next_cursor)}}}')
