"""The run log's fast paths: the next page asked for ahead, rows read the cheap way.

Each must give what the plain way gives; these pin the cases where the two could part.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from reconciler.audit import SlotCache, slots_of
from reconciler.errors import ListingError
from reconciler.http import ApiClient, RetryPolicy
from reconciler.model import ScheduleSpec
from reconciler.platforms.rest import _tail_cursor, iter_pages


@pytest.mark.parametrize(
    ("body", "cursor"),
    [
        (b'{"items":[{"id":"a"}],"next_cursor":"abc"}', "abc"),
        (b'{"items": [], "nextCursor": "x-1"}\n', "x-1"),
        (b'{"items": [], "next_page_token": 42 }', "42"),
        (b'{"items":[],"next_cursor":null}', None),  # the last page
        (b'{"items":[],"next":"/runs?cursor=2"}', None),  # a link: not a cursor to send
        (b'{"items":[],"next":"https://h/runs?cursor=2"}', None),
        (b'{"items":[],"next_cursor":"a\\"b"}', None),  # escaped: left to the decoder
        (b'{"items":[],"next_cursor":""}', None),  # empty: no next page
        (b'{"next_cursor":"a","items":[]}', None),  # not the last member
        (b'{"items":[],"meta":{"next_cursor":"a"}}', None),  # nested
        (b'{"items":[],"next_cursor":true}', None),
        (b'[{"id":"a","next_cursor":"b"}]', None),  # a bare array
        (b"", None),
    ],
)
def test_the_cursor_guessed_from_a_pages_last_bytes(body: bytes, cursor: str | None) -> None:
    assert _tail_cursor(body) == cursor


def chain(
    pages: list[dict[str, Any]], *, fail: frozenset[str] = frozenset()
) -> tuple[ApiClient, list[str]]:
    """A client over pages keyed by cursor ("" for the first); `fail`: cursors answered 500."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor", "")
        asked.append(cursor)
        if cursor in fail:
            return httpx.Response(500, json={"error": "boom"})
        index = int(cursor or 0)
        return httpx.Response(200, content=json.dumps(pages[index]).encode())

    api = ApiClient(
        "http://h",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=1),
        sleep=lambda s: None,
    )
    return api, asked


def numbered(n: int) -> list[dict[str, Any]]:
    return [
        {
            "items": [{"id": f"r{p}-{i}"} for i in range(3)],
            "next_cursor": str(p + 1) if p + 1 < n else None,
        }
        for p in range(n)
    ]


def test_ahead_asks_for_each_next_page_before_handing_this_one_over() -> None:
    api, asked = chain(numbered(4))
    events: list[str] = []
    for page in iter_pages(api, "runs", ahead=True):
        events.append(f"asked {len(asked)} when page {page[0]['id'][1]} came")
    assert asked == ["", "1", "2", "3"]  # every page once, none past the last
    assert events == [
        "asked 2 when page 0 came",
        "asked 3 when page 1 came",
        "asked 4 when page 2 came",
        "asked 4 when page 3 came",
    ]
    plain, asked_plain = chain(numbered(4))
    assert list(iter_pages(plain, "runs")) == list(iter_pages(api, "runs", ahead=True))
    assert asked_plain == ["", "1", "2", "3"]


def test_a_guess_the_decoded_page_does_not_confirm_is_not_used() -> None:
    # The page ends with a cursor, but says there is no more: the listing ends there, and the
    # page asked for ahead (answered 500 here) is neither used nor an error.
    pages = [{"items": [{"id": "a"}], "has_more": False, "next_cursor": "1"}]
    api, asked = chain(pages, fail=frozenset({"1"}))
    assert list(iter_pages(api, "runs", ahead=True)) == [[{"id": "a"}]]
    assert asked == ["", "1"]


def test_a_page_asked_for_ahead_that_fails_is_the_listings_error_as_without_ahead() -> None:
    messages = []
    for ahead in (False, True):
        api, _ = chain(numbered(3), fail=frozenset({"2"}))
        with pytest.raises(ListingError) as caught:
            list(iter_pages(api, "runs", ahead=ahead))
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "listing failed after 2 page(s)" in messages[0]


def test_ahead_asks_for_no_page_already_read_and_stops_a_loop_as_before() -> None:
    pages = [
        {"items": [{"id": "a"}], "next_cursor": "1"},
        {"items": [{"id": "b"}], "next_cursor": "1"},  # names itself again
    ]
    api, asked = chain(pages)
    with pytest.raises(ListingError, match="already read"):
        list(iter_pages(api, "runs", ahead=True))
    assert asked == ["", "1"]


WEEK_START = datetime(2026, 3, 23, tzinfo=timezone.utc).timestamp()  # Europe's DST week
WEEK_END = WEEK_START + 7 * 86_400


@pytest.mark.parametrize(
    ("form", "zone", "created"),
    [
        ({"cron": "30 2 * * *"}, "Europe/Rome", None),  # the gap on the 29th
        ({"cron": "30 2 * * *"}, "UTC", WEEK_START - 3600),
        ({"every": "100m"}, "UTC", WEEK_START - 86_400),
        ({"every": "100m"}, "UTC", WEEK_START - 86_400 + 60),  # another anchor
        ({"every": "100m"}, "UTC", WEEK_START + 3 * 86_400 + 7),  # created in the window
        ({"daily": "09:00"}, "America/New_York", WEEK_START + 86_400),
    ],
)
def test_slots_from_the_shared_cache_are_the_slots_computed_alone(
    form: dict[str, Any], zone: str, created: float | None
) -> None:
    cache: SlotCache = {}
    start = WEEK_START if created is None else max(WEEK_START, created)
    # The cache is filled by every other case first: only equal triggers may share.
    for other, other_zone, other_created in CASES:
        other_start = WEEK_START if other_created is None else max(WEEK_START, other_created)
        slots_of(
            ScheduleSpec.model_validate(other),
            other_zone,
            other_created,
            other_start,
            WEEK_END,
            cache,
        )
    alone = slots_of(ScheduleSpec.model_validate(form), zone, created, start, WEEK_END)
    shared = slots_of(ScheduleSpec.model_validate(form), zone, created, start, WEEK_END, cache)
    assert shared == alone
    assert alone[1]  # fires in the week
    shared[1].clear()  # a caller's list is its own
    assert (
        slots_of(ScheduleSpec.model_validate(form), zone, created, start, WEEK_END, cache) == alone
    )


CASES = [
    ({"cron": "30 2 * * *"}, "Europe/Rome", None),
    ({"cron": "30 2 * * *"}, "UTC", None),
    ({"cron": "30 2 * * *"}, "UTC", WEEK_START + 86_400 + 9000),  # created after its slot
    ({"every": "100m"}, "UTC", WEEK_START - 86_400 + 30),
    ({"every": "100m"}, "UTC", None),
    ({"daily": "09:00"}, "Europe/Rome", WEEK_START + 86_400),
]
