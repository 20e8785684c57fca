"""Reading what the platform returns: page shapes and their claims, malformed live objects
(unreadable, with the field and why), and what the plan does with them (DESIGN §2, §3)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from reconciler.errors import ListingError
from reconciler.forms import DesiredTask, Listing, fingerprint
from reconciler.http import ApiClient
from reconciler.model import Target
from reconciler.plan import Plan, TargetPlan, diff_target
from reconciler.platforms.aitroop.provider import AitroopProvider
from reconciler.platforms.engine.provider import EngineProvider
from reconciler.platforms.rest import RestProvider, read_all_pages, read_page
from reconciler.render.plan import render_markdown, render_plan

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)

ENGINE: dict[str, Any] = {
    "id": "e1", "name": "N", "description": "", "prompt": "p", "enabled": True,
    "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "UTC"},
}  # fmt: skip
AITROOP: dict[str, Any] = {
    "id": "a1", "name": "N", "enabled": True, "schedule_type": "daily",
    "schedule_config": {"time": "09:00"}, "timezone": "UTC",
    "action_type": "send_message", "action_config": {"prompt": "p"},
}  # fmt: skip


def engine() -> EngineProvider:
    return EngineProvider(ApiClient("http://x"), Target(platform="engine", url="http://x", instance="a"),
                          target_name="t", owner="acme")  # fmt: skip


def aitroop() -> AitroopProvider:
    return AitroopProvider(ApiClient("http://x"), Target(platform="aitroop", url="http://x"),
                           target_name="t", owner="acme")  # fmt: skip


def interval(every_ms: Any) -> dict[str, Any]:
    return {"schedule": {"type": "interval", "everyMs": every_ms}}


ENGINE_BAD = [
    (interval("zz"), '`schedule.everyMs` is "zz", not a whole number'),
    (interval(True), "`schedule.everyMs` is true, not a whole number"),
    (interval(-5), "`schedule.everyMs` is -5, not a number of milliseconds of at least 1000"),
    (interval(10**30), "`schedule.everyMs` is 1000000000000000000000000000000, not a number"),
    (interval(None), "`schedule.everyMs` is missing"),
    ({"schedule": {"type": "interval", "everyMs": 60000, "anchorAt": "zz"}}, "`schedule.anchorAt` is \"zz\""),
    ({"schedule": {"type": "one-shot", "runAt": "garbage"}}, '`schedule.runAt` is "garbage", not an ISO 8601'),
    ({"schedule": {"type": "one-shot", "runAt": 5}}, "`schedule.runAt` is 5, not an ISO 8601"),
    ({"schedule": {"type": "one-shot"}}, "`schedule.runAt` is missing"),
    ({"schedule": [1, 2]}, "`schedule` is [1, 2], not an object with a type"),
    ({"schedule": "0 9 * * *"}, '`schedule` is "0 9 * * *", not an object'),
    ({"schedule": None}, "`schedule` is missing"),
    ({"schedule": {"type": "weird"}}, '`schedule.type` is "weird", none of cron, interval, one-shot'),
    ({"schedule": {"type": "cron", "expression": 5}}, "`schedule.expression` is 5, not text"),
    ({"schedule": {"type": "cron", "expression": ""}}, "`schedule.expression` is missing or empty"),
    ({"schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": 1}}, "`schedule.timezone` is 1"),
    ({"name": {"a": 1}}, '`name` is {"a": 1}, not text'),
    ({"description": ["x"]}, '`description` is ["x"], not text'),
    ({"enabled": "yes"}, '`enabled` is "yes", not true or false'),
    ({"prompt": [1]}, "`prompt` is [1], not text"),
    ({"maxRetries": "x"}, '`maxRetries` is "x", not a whole number'),
    ({"keepHistory": 0}, "`keepHistory` is 0, not true or false"),
    ({"outboundChannel": {"slack": 1}}, "`outboundChannel` is {\"slack\": 1}, not text"),
    ({"id": {"x": 1}}, '`id` is {"x": 1}, not text or a whole number'),
    ({"id": ""}, '`id` is "", not text or a whole number'),
]  # fmt: skip
AITROOP_BAD = [
    ({"schedule_type": "interval", "schedule_config": {"every": "x", "unit": "minutes"}},
     '`schedule_config.every` is "x", not a whole number'),
    ({"schedule_type": "interval", "schedule_config": {"every": 0, "unit": "hours"}},
     "`schedule_config.every` is 0, not a number of hours above 0"),
    ({"schedule_type": "interval", "schedule_config": {"every": 10**20, "unit": "hours"}},
     "`schedule_config.every` is 100000000000000000000"),
    ({"schedule_type": "interval", "schedule_config": {"every": 5, "unit": "days"}},
     '`schedule_config.unit` is "days", neither minutes nor hours'),
    ({"schedule_type": "weekly", "schedule_config": {"time": "09:00", "days": ["mon"]}},
     '`schedule_config.days` is ["mon"], not a list of weekday numbers 0-6'),
    ({"schedule_type": "weekly", "schedule_config": {"time": "09:00", "days": 3}}, "`schedule_config.days` is 3"),
    ({"schedule_type": "weekly", "schedule_config": {"time": "09:00", "days": []}}, "`schedule_config.days` is []"),
    ({"schedule_type": "weekly", "schedule_config": {"time": "09:00", "days": [True]}}, "is [true]"),
    ({"schedule_type": "monthly", "schedule_config": {"time": "09:00", "day": "x"}},
     '`schedule_config.day` is "x", not a whole number'),
    ({"schedule_type": "monthly", "schedule_config": {"time": "09:00", "day": 40}},
     "`schedule_config.day` is 40, not a day of the month 1-31"),
    ({"schedule_config": [1]}, "`schedule_config` is [1], not an object"),
    ({"schedule_config": {"time": "25:99"}}, '`schedule_config.time` is "25:99", not a time HH:MM'),
    ({"schedule_config": {"time": 9}}, "`schedule_config.time` is 9, not a time HH:MM"),
    ({"schedule_type": "hourly"}, '`schedule_type` is "hourly", none of interval, daily, weekly, monthly'),
    ({"schedule_type": None}, "`schedule_type` is missing"),
    ({"action_config": "x"}, '`action_config` is "x", not an object'),
    ({"action_type": "run_app", "action_config": {"app_id": "a", "app_input": [1]}},
     "`action_config.app_input` is [1], not an object"),
    ({"action_type": "run_app", "action_config": {"app_id": 7}}, "`action_config.app_id` is 7, not text"),
    ({"action_type": "dance"}, '`action_type` is "dance", neither send_message nor run_app'),
    ({"action_config": {"prompt": 5}}, "`action_config.prompt` is 5, not text"),
    ({"timezone": 5}, "`timezone` is 5, not text"),
    ({"name": {"a": 1}}, '`name` is {"a": 1}, not text'),
    ({"enabled": "yes"}, '`enabled` is "yes", not true or false'),
    ({"id": {"x": 1}}, '`id` is {"x": 1}, not text or a whole number'),
    ({"id": 1.5}, "`id` is 1.5, not text or a whole number"),
]  # fmt: skip


def cases() -> list[Any]:
    return [pytest.param(engine, ENGINE, patch, why, id=f"engine: {why[:40]}") for patch, why in ENGINE_BAD] + [
        pytest.param(aitroop, AITROOP, patch, why, id=f"aitroop: {why[:40]}") for patch, why in AITROOP_BAD
    ]  # fmt: skip


@pytest.mark.parametrize(("make", "base", "patch", "why"), cases())
def test_a_malformed_live_object_is_unreadable_with_the_field_and_why(
    make: Any, base: dict[str, Any], patch: dict[str, Any], why: str
) -> None:
    provider: RestProvider = make()
    task = provider.live({**base, **patch})
    assert task.unreadable is not None and why in task.unreadable, task.unreadable
    assert task.document == {} and task.normalized == {"unreadable": task.unreadable}
    # ... and it is an object, not a crash, all the way through the plan's diff
    plan = diff_target(
        "t", provider.name, [], Listing([task], 1, fingerprint([task])), owner="acme"
    )
    assert [u.reason for u in plan.unreadable] == [task.unreadable] and not plan.changes


@pytest.mark.parametrize(
    ("make", "remote"),
    [
        (engine, {**ENGINE, "id": 7, "schedule": {"type": "interval", "everyMs": 900000.0}}),
        (engine, {**ENGINE, "name": None, "description": None, "enabled": None, "prompt": None}),
        (engine, {"id": "e2", "schedule": {"type": "one-shot", "runAt": "2031-01-01T09:00:00+01:00"}}),
        (aitroop, {**AITROOP, "schedule_config": {"time": "09:00:00"}}),
        (aitroop, {**AITROOP, "action_type": None, "action_config": None, "timezone": None}),
        (aitroop, {**AITROOP, "action_type": "run_app", "action_config": {"app_id": "a"}}),
        (aitroop, {**AITROOP, "schedule_type": "weekly", "schedule_config": {"time": "08:30", "days": [5, 1, 1]}}),
    ],
)  # fmt: skip
def test_odd_but_meaningful_live_objects_stay_readable(make: Any, remote: dict[str, Any]) -> None:
    task = make().live(remote)
    assert task.unreadable is None and task.document["schedule"]
    if remote.get("schedule_config", {}).get("time") == "09:00:00":
        assert task.document["schedule"]["daily"] == "09:00"


def desired_of(provider: RestProvider, key: str, live: dict[str, Any]) -> DesiredTask:
    """The desired form of `key` that `live` (made from it) matches exactly."""
    payload = {k: v for k, v in live.items() if k != "id"}
    document = provider.from_remote(payload)
    from reconciler.forms import normalize

    return DesiredTask(key, "N", payload, document, normalize(document, provider.defaults), "f:1")


def test_an_unreadable_object_of_ours_blocks_its_key_and_is_never_pruned() -> None:
    e = engine()
    mine = lambda key, **patch: {**ENGINE, "description": f"[schedctl:acme/{key}]", **patch}  # noqa: E731
    healthy = mine("beta", id="h1")
    tasks = [
        e.live(mine("alpha", id="b1", schedule="x")),  # ours, desired: blocked
        e.live(mine("alpha", id="h2")),  # a readable copy of the same key: not touched either
        e.live(mine("gone", id="b2", enabled="no")),  # ours, not desired: kept even with prune
        e.live(mine("gone", id="h3")),  # a readable orphan of the same key: pruned as usual
        e.live(healthy),
    ]
    desired = [desired_of(e, "alpha", mine("alpha")), desired_of(e, "beta", healthy)]
    listing = Listing(tasks, 1, fingerprint(tasks))
    plan = diff_target("t", "engine", desired, listing, owner="acme", prune=True)
    assert [(c.action, c.key, c.remote_id) for c in plan.changes] == [
        ("conflict", "alpha", "b1"),
        ("delete", "gone", "h3"),
    ]
    assert '`schedule` is "x"' in plan.changes[0].reason
    assert [u.id for u in plan.unreadable] == ["b1", "b2"] and plan.in_sync == 1
    # the notes survive a saved plan, and every format shows them
    whole = Plan([plan], owner="acme")
    again = Plan.from_dict(whole.to_dict()).targets[0]
    assert again.unreadable == plan.unreadable
    note = "unreadable live object id b2 'N' (marker acme/gone): `enabled` is \"no\""
    assert f"  note: {note}, not true or false; left alone" in render_plan(whole).splitlines()
    assert note.replace('"', "&quot;").replace("'", "&#x27;") in render_markdown(whole, NOW)
    assert TargetPlan.from_dict({"target": "t"}).unreadable == []  # older saved plans


def test_the_fingerprint_sees_an_unreadable_object_change() -> None:
    a = engine().live({**ENGINE, "enabled": "yes"})
    b = engine().live({**ENGINE, "enabled": "no"})
    assert fingerprint([a]) != fingerprint([b])


def test_in_sync_objects_still_skip_the_conversion() -> None:
    e = engine()
    remote = {**ENGINE, "description": "[schedctl:acme/alpha]"}
    hint = desired_of(e, "alpha", remote)
    assert e.live(remote, {"alpha": hint}).normalized is hint.normalized


# -- pages and their claims -------------------------------------------------------------------


def test_paging_fields_are_read_on_top_or_nested() -> None:
    assert read_page({"items": [], "nextCursor": "c"}).next == "c"
    assert read_page({"data": [], "meta": {"next_cursor": "c"}}).next == "c"
    assert read_page({"data": [], "pagination": {"next": "/p2"}}).next == "/p2"
    assert read_page({"data": [], "_links": {"next": {"href": "/p2"}}}).next == "/p2"
    assert read_page({"items": [], "next_cursor": "c", "hasMore": False}).next is None
    page = read_page({"items": [], "meta": {"hasNextPage": True, "totalCount": "12"}})
    assert (page.more, page.more_key, page.total, page.total_key) == (
        True, "meta.hasNextPage", 12, "meta.totalCount",
    )  # fmt: skip
    assert read_page({"items": [], "total": True, "count": -1}).total is None


def pages(table: dict[str, httpx.Response]) -> ApiClient:
    """A client whose server answers `table[path?query]`."""

    def handler(request: httpx.Request) -> httpx.Response:
        return table[request.url.raw_path.decode()]

    return ApiClient("http://h/base/", transport=httpx.MockTransport(handler))


def test_relative_links_resolve_against_the_page_that_named_them() -> None:
    client = pages({
        "/base/tasks": httpx.Response(200, json={"items": [{"id": 1}], "next": "?page=2"}),
        "/base/tasks?page=2": httpx.Response(200, json={"items": [{"id": 2}]}, headers={"Link": '<tasks?page=3>; rel="next"'}),
        "/base/tasks?page=3": httpx.Response(200, json={"items": [{"id": 3}], "next": "/base/tasks?page=4"}),
        "/base/tasks?page=4": httpx.Response(200, json={"items": [{"id": 4}]}),
    })  # fmt: skip
    items, count = read_all_pages(client, "tasks")
    assert [i["id"] for i in items] == [1, 2, 3, 4] and count == 4


def test_one_page_written_two_ways_is_a_loop() -> None:
    client = pages({
        "/base/tasks": httpx.Response(200, json={"items": [{"id": 1}], "next_cursor": "b"}),
        "/base/tasks?cursor=b": httpx.Response(200, json={"items": [{"id": 2}], "next": "http://H:80/base/tasks?cursor=b"}),
    })  # fmt: skip
    with pytest.raises(ListingError, match=r"page 2 names a next page already read"):
        read_all_pages(client, "tasks")


def test_a_listing_nested_too_deeply_is_a_listing_error_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    client = pages({"/base/tasks": httpx.Response(200, content=deep.encode())})
    with pytest.raises(ListingError, match="unreadable listing: nested too deeply"):
        read_all_pages(client, "tasks")


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        ([{"id": "a"}, {"id": "b"}], [{"id": "c"}], None),
        ([{"id": 1}, {"id": "2"}], [{"id": 3}], None),  # numbers and text
        ([{"id": "a"}, {"id": "a"}], [{"id": "c"}], "page 1 lists id 'a' again"),
        ([{"id": "a"}, {"id": "b"}], [{"id": "c"}, {"id": "b"}], "page 2 lists id 'b' again"),
        ([{"id": 7}], [{"id": "7"}], "page 2 lists id '7' again"),  # one id, written two ways
        ([{"id": "a"}, {"name": "no id"}], [], "a listed item has no id: {'name': 'no id'}"),
        ([{"id": "a"}, ["a", "list"]], [], r"a listed item has no id: \['a', 'list'\]"),
        # ids neither text nor whole numbers are not compared (never equal to one that is)
        ([{"id": None}, {"id": 1.5}, {"id": True}], [{"id": None}, {"id": "x"}], None),
    ],
)
def test_each_listed_id_is_checked_however_the_page_holds_them(
    first: list[Any], second: list[Any], error: str | None
) -> None:
    client = pages({
        "/base/tasks": httpx.Response(200, json={"items": first, "next_cursor": "b"}),
        "/base/tasks?cursor=b": httpx.Response(200, json={"items": second}),
    })  # fmt: skip
    if error is None:
        items, count = read_all_pages(client, "tasks")
        assert items == first + second and count == 2
    else:
        with pytest.raises(ListingError, match=error):
            read_all_pages(client, "tasks")
