"""Pure parts: markers, tolerant listing, the normalized form, round trips, the plan diff, renderers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from reconciler.errors import ListingError, UsageError
from reconciler.forms import DesiredTask, FieldChange, Listing, LiveTask, Marker, normalize
from reconciler.http import ApiClient
from reconciler.model import Target
from reconciler.plan import Change, Plan, TargetPlan, diff_target
from reconciler.platforms.aitroop.provider import AitroopProvider
from reconciler.platforms.engine.provider import EngineProvider
from reconciler.platforms.rest import MarkerStyle, read_all_pages, split_page
from reconciler.render.plan import render_markdown, render_plan

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def engine() -> EngineProvider:
    return EngineProvider(ApiClient("http://x"), Target(platform="engine", url="http://x", instance="a"),
                          target_name="t", owner="acme")  # fmt: skip


def aitroop() -> AitroopProvider:
    return AitroopProvider(ApiClient("http://x"), Target(platform="aitroop", url="http://x"),
                           target_name="t", owner="acme")  # fmt: skip


# -- markers ----------------------------------------------------------------------------------


def test_markers_attach_and_detach() -> None:
    style = MarkerStyle("[schedctl:", "]", "\n\n")
    text = style.attach("Some text.\n", Marker("acme", "daily-digest"))
    assert text == "Some text.\n\n[schedctl:acme/daily-digest]"
    assert style.detach(text) == ("Some text.", Marker("acme", "daily-digest"))
    assert style.detach("[schedctl:acme/k]") == ("", Marker("acme", "k"))
    assert style.detach("mentions [schedctl:acme/k] mid-text")[1] is None
    assert style.detach("[schedctl:Bad Owner/k]")[1] is None
    name = MarkerStyle("[[", "]]", " ")
    assert name.detach("Report [[acme/report]]") == ("Report", Marker("acme", "report"))
    assert name.detach("Report [[report]]") == ("Report [[report]]", None)  # no owner: not ours


# -- tolerant listing -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["items", "data", "tasks", "scheduled_tasks", "results"])
def test_a_list_may_sit_under_any_known_key(key: str) -> None:
    assert split_page([{"id": 1}]) == ([{"id": 1}], None)
    assert split_page({key: [{"id": 1}], "next_cursor": "c2"}) == ([{"id": 1}], "c2")
    assert split_page({key: [], "cursor": None, "next": "/p2"}) == ([], "/p2")
    assert split_page({key: [], "links": {"next": "https://x/p3"}}) == ([], "https://x/p3")
    assert split_page({key: [], "next_cursor": "c", "has_more": False}) == ([], None)
    with pytest.raises(ValueError, match="no list"):
        split_page({"other": []})


def paged(handler: Callable[[httpx.Request], httpx.Response]) -> ApiClient:
    return ApiClient("http://h", transport=httpx.MockTransport(handler))


def test_cursors_links_and_link_headers_are_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if request.url.path == "/tasks" and cursor is None:
            return httpx.Response(200, json={"data": [{"id": 1}], "next_cursor": "b"})
        if cursor == "b":
            return httpx.Response(200, json={"data": [{"id": 2}], "next": "/tasks/page3"})
        if request.url.path == "/tasks/page3":
            return httpx.Response(
                200, json={"data": [{"id": 3}]}, headers={"Link": '<http://h/tasks/p4>; rel="next"'}
            )
        return httpx.Response(200, json=[{"id": 4}])

    items, pages = read_all_pages(paged(handler), "tasks")
    assert [i["id"] for i in items] == [1, 2, 3, 4] and pages == 4


def test_a_looping_failing_or_odd_listing_is_a_listing_error() -> None:
    loop = paged(lambda r: httpx.Response(200, json={"items": [{"id": 1}], "next_cursor": "same"}))
    with pytest.raises(ListingError, match="loop"):
        read_all_pages(loop, "tasks")
    broken = paged(lambda r: httpx.Response(200, json={"items": [{"id": 1}], "next_cursor": "x"})
                   if "cursor" not in r.url.params else httpx.Response(404, json={"error": "gone"}))  # fmt: skip
    with pytest.raises(ListingError, match="after 1 page"):
        read_all_pages(broken, "tasks")
    with pytest.raises(ListingError, match="no id"):
        read_all_pages(paged(lambda r: httpx.Response(200, json=[{"name": "x"}])), "tasks")


# -- normalized form and round trips ------------------------------------------------------------


def doc(**schedule: Any) -> dict[str, Any]:
    return {"name": "k", "title": "T", "schedule": schedule, "action": {"prompt": "p"}}


def test_equivalent_schedules_compare_equal() -> None:
    e = engine()
    norm = lambda d: normalize(e.from_remote(e.to_remote(d, "UTC", "k")), e.defaults)  # noqa: E731
    assert norm(doc(cron="0 9 * * MON-FRI")) == norm(doc(cron="0 9 * * 1-5"))
    assert norm(doc(daily="09:00")) == norm(doc(cron="0 9 * * *"))
    assert norm(doc(weekly={"at": "08:30", "days": ["fri", "mon"]})) == norm(
        doc(cron="30 8 * * 1,5")
    )
    assert norm(doc(every="60m")) == norm(doc(every="1h"))
    a = aitroop()
    anorm = lambda d: normalize(a.from_remote(a.to_remote(d, "UTC", "k")), a.defaults)  # noqa: E731
    assert anorm(doc(cron="30 8 * * 1,3,5")) == anorm(
        doc(weekly={"at": "08:30", "days": ["mon", "wed", "fri"]})
    )
    assert a.to_remote(doc(cron="0 9 1 * *"), "UTC", "k")["schedule_type"] == "monthly"
    # server defaults equal omitted fields
    assert normalize({"name": "k", "schedule": {"daily": "09:00"}}, a.defaults) == normalize(
        {
            "name": "k",
            "title": "k",
            "enabled": True,
            "schedule": {"daily": "09:00", "timezone": "UTC"},
        },
        a.defaults,
    )


SERVER_FIELDS = {"id": "x1", "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z",
                 "nextRunAt": "2026-06-01T09:00:00Z", "runCount": 4, "lastStatus": "ok", "conversationId": "c"}  # fmt: skip


@pytest.mark.parametrize(
    "remote",
    [
        {"name": "A", "description": "d\n\n[schedctl:acme/a]", "prompt": "p", "enabled": False,
         "schedule": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/Rome"},
         "outboundChannel": "slack", "outboundTarget": "C1", "keepHistory": False, "deleteAfterRun": False, "maxRetries": 7},
        {"name": "B", "description": "[schedctl:acme/b]", "prompt": "p", "enabled": True,
         "schedule": {"type": "interval", "everyMs": 5_400_000, "anchorAt": "2026-01-01T00:00:00Z"},
         "outboundChannel": None, "outboundTarget": None, "keepHistory": True, "deleteAfterRun": False, "maxRetries": 3},
        {"name": "C", "description": "[schedctl:acme/c]", "prompt": "p", "enabled": True,
         "schedule": {"type": "one-shot", "runAt": "2031-01-15T08:00:00Z"},
         "outboundChannel": None, "outboundTarget": None, "keepHistory": True, "deleteAfterRun": True, "maxRetries": 0},
    ],
)  # fmt: skip
def test_engine_round_trip_is_lossless(remote: dict[str, Any]) -> None:
    e = engine()
    document = e.from_remote({**remote, **SERVER_FIELDS})
    assert "id" not in document and "nextRunAt" not in json.dumps(document)
    key = document["name"]
    assert e.to_remote(document, "UTC", key) == remote


@pytest.mark.parametrize(
    "remote",
    [
        {"name": "A [[acme/a]]", "enabled": True, "schedule_type": "interval", "schedule_config": {"every": 15, "unit": "minutes"},
         "timezone": "UTC", "action_type": "send_message", "action_config": {"prompt": "p"}},
        {"name": "B [[acme/b]]", "enabled": False, "schedule_type": "weekly", "schedule_config": {"time": "08:30", "days": [0, 6]},
         "timezone": "America/Los_Angeles", "action_type": "run_app", "action_config": {"app_id": "app", "app_input": {"x": [1]}}},
        {"name": "C [[acme/c]]", "enabled": True, "schedule_type": "monthly", "schedule_config": {"time": "09:00", "day": 28},
         "timezone": "UTC", "action_type": "send_message", "action_config": {"prompt": "p"}},
        {"name": "D [[acme/d]]", "enabled": True, "schedule_type": "interval", "schedule_config": {"every": 2, "unit": "hours"},
         "timezone": "UTC", "action_type": "send_message", "action_config": {"prompt": "p"}},
    ],
)  # fmt: skip
def test_aitroop_round_trip_is_lossless(remote: dict[str, Any]) -> None:
    a = aitroop()
    server = {
        "id": "t1",
        "cron_expr": "label",
        "session_id": "s",
        "run_count": 2,
        "next_run_at": "2026-06-01T00:00:00Z",
    }
    document = a.from_remote({**remote, **server})
    assert a.to_remote(document, "UTC", document["name"]) == remote


# -- the plan diff -------------------------------------------------------------------------------


def live(task_id: str, title: str, marker: Marker | None, prompt: str = "p") -> LiveTask:
    document = {"title": title, "schedule": {"daily": "09:00"}, "action": {"prompt": prompt}}
    return LiveTask(task_id, title, marker, document, normalize(document, {}))


def desired(key: str, title: str, prompt: str = "p") -> DesiredTask:
    document = {"title": title, "schedule": {"daily": "09:00"}, "action": {"prompt": prompt}}
    return DesiredTask(
        key, title, {"body": key}, document, normalize(document, {}), f"{key}.yaml:1"
    )


def listing(*tasks: LiveTask) -> Listing:
    return Listing(list(tasks), 1, "fp")


def test_the_plan_diff_covers_every_kind_of_change() -> None:
    me, other = "acme", "team-b"
    live_tasks = listing(
        live("1", "Same", Marker(me, "same")),
        live("2", "Edited", Marker(me, "edited"), prompt="old"),
        live("3", "Gone", Marker(me, "gone")),
        live("4", "Clash", None),
        live("5", "Dup", Marker(me, "dup")),
        live("6", "Dup", Marker(me, "dup"), prompt="other"),
        live("7", "New", Marker(other, "new")),  # another owner's, on a desired key: a conflict
        live("8", "Unrelated", None),
    )
    want = [desired("same", "Same"), desired("edited", "Edited", "new"), desired("clash", "Clash"),
            desired("dup", "Dup"), desired("new", "New"), desired("fresh", "Fresh")]  # fmt: skip
    plan = diff_target("t", "engine", want, live_tasks, owner=me, prune=True)
    by = {(c.action, c.key): c for c in plan.changes}
    assert set(by) == {("update", "edited"), ("conflict", "clash"), ("duplicate", "dup"), ("conflict", "new"),
                       ("create", "fresh"), ("delete", "gone")}  # fmt: skip
    assert by["update", "edited"].fields == (FieldChange("action.prompt", "old", "new"),)
    assert (
        by["duplicate", "dup"].remote_id == "6" and by["duplicate", "dup"].delete
    )  # the oldest (first listed) is kept
    assert by["conflict", "clash"].remote_id == "4"
    assert by["conflict", "new"].remote_id == "7" and "'team-b'" in by["conflict", "new"].reason
    assert plan.in_sync == 2
    touched = {c.remote_id for c in plan.changes if c.writes}
    assert not touched & {"4", "7", "8"}
    unpruned = diff_target("t", "engine", want, live_tasks, owner=me)
    assert [c.key for c in unpruned.orphans] == ["gone"] and not any(
        c.writes and c.action == "delete" for c in unpruned.changes
    )
    with pytest.raises(UsageError, match="allow-empty"):
        diff_target("t", "engine", [], live_tasks, owner=me, prune=True)


def test_a_plan_round_trips_through_json() -> None:
    plan = diff_target("t", "engine", [desired("a", "A")], listing(live("9", "B", Marker("acme", "b"))),
                       owner="acme", prune=True)  # fmt: skip
    whole = Plan([plan], owner="acme", prune=True, config="/x/schedctl.yaml")
    data = json.loads(json.dumps(whole.to_dict()))
    assert data["format_version"] == "3"
    assert data["targets"][0]["summary"] == {
        "create": 1,
        "update": 0,
        "delete": 1,
        "conflict": 0,
        "duplicate": 0,
        "rename": 0,
        "blocked-delete": 0,
        "ignored-drift": 0,
        "pause": 0,
        "resume": 0,
        "paused": 0,
        "orphan": 0,
    }
    again = Plan.from_dict(data)
    assert again.to_dict() == whole.to_dict()
    with pytest.raises(UsageError):
        Plan.from_dict({"format_version": "0"})


def test_markdown_stays_under_the_comment_limit_and_says_what_it_left_out() -> None:
    big = "x" * 5_000
    # Each shown value is cut at 200 characters: many fields make each block long instead.
    fields = tuple(FieldChange(f"action.prompt{j}", None, big) for j in range(10))
    changes = [Change("create", f"k{i}", f"T{i}", fields=fields,
                      after={"schedule": {"cron": "*/5 * * * *"}, "action": {"prompt": big}}) for i in range(40)]  # fmt: skip
    plan = Plan([TargetPlan("t", "engine", changes=changes)], owner="acme")
    text = render_markdown(plan, NOW)
    assert len(text) <= 65_536
    assert "more change(s) left out" in text
    assert "| target | create |\n" in text and "| `t` | 40 |\n" in text  # no all-zero column
    assert "+11520 added" in text  # 40 x 288 a day: every change counts, shown or left out
    small = render_markdown(
        Plan([TargetPlan("t", "engine", changes=changes[:1])], owner="acme"), NOW
    )
    assert "<details>" in small and "Next fires after: 2026-06-01 00:05 UTC" in small
    assert "left out" not in small


def test_text_plan_uses_terraform_symbols() -> None:
    changes = [Change("create", "a", "A"), Change("update", "b", "B", "2", (FieldChange("enabled", True, False),)),
               Change("delete", "c", "C", "3", reason="no longer in the repository")]  # fmt: skip
    text = render_plan(Plan([TargetPlan("t", "engine", changes=changes)], owner="acme"))
    assert "  + a  'A'" in text and "  ~ b  'B'  (id 2)" in text and "  - c  'C'  (id 3)" in text
    assert "enabled: true -> false" in text
    assert text.endswith(
        "Plan: 1 to create, 1 to update, 1 to delete, 0 conflict(s), 0 duplicate(s)."
    )


def test_markdown_counts_runs_removed_and_leaves_conflicts_at_zero() -> None:
    daily = {"schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
    changes = [
        Change("delete", "a", "A", "1", before=daily),
        Change("conflict", "b", "B", "2", before=daily, after=daily, reason="unmarked"),
        Change("update", "c", "C", "3", before=daily, after={**daily, "enabled": False}),
    ]
    text = render_markdown(Plan([TargetPlan("t", "engine", changes=changes)], owner="acme"), NOW)
    assert "0 added, -2 removed (net -2)" in text
    assert text.count("Next fires after: none") == 2  # the delete and the disabled update


def test_a_partial_listing_stops_that_target_and_nothing_is_written(tmp_path: Any) -> None:
    from reconciler.loader import load_project
    from reconciler.reconcile import apply_plan, make_plan
    from reconciler.targets import Connection

    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedctl.yaml").write_text(
        "owner: acme\ntargets:\n  t: {platform: engine, url: 'http://h', instance: a}\n"
    )
    (tmp_path / "schedules" / "x.yaml").write_text(
        "name: x\nschedule: {daily: '09:00'}\naction: {prompt: p}\n"
    )
    project = load_project([], str(tmp_path / "schedctl.yaml"))
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        if "cursor" in request.url.params:
            return httpx.Response(500, json={"error": "boom"})
        return httpx.Response(200, json={"items": [], "next_cursor": "p2"})

    client = ApiClient("http://h", transport=httpx.MockTransport(handler))
    target = project.config.targets["t"]
    conn = Connection(
        "t", target, EngineProvider(client, target, target_name="t", owner="acme"), client
    )
    plan = make_plan(project, {"t": conn})
    assert plan.failed and "listing failed after 1 page" in str(plan.targets[0].error)
    assert "500: boom" in str(plan.targets[0].error) and not plan.targets[0].changes
    result = apply_plan(plan, {"t": conn})
    assert not result.ok and result.errors and set(sent) == {"GET"}


def test_import_skips_what_it_cannot_express(tmp_path: Any) -> None:
    from reconciler.importer import import_target
    from reconciler.targets import Connection

    listed = [
        {"id": "1", "name": "Odd", "prompt": "p", "schedule": {"type": "lunar", "phase": "full"}},
        {"id": "2", "name": "Gone", "prompt": "p", "schedule": {"type": "one-shot", "runAt": "2020-01-01T00:00:00Z"}},
        {"id": "3", "name": "Theirs", "prompt": "p", "description": "[schedctl:other/x]",
         "schedule": {"type": "cron", "expression": "0 9 * * *"}},
        {"id": "4", "name": "Fine", "prompt": "p", "schedule": {"type": "cron", "expression": "0 9 * * *"}},
    ]  # fmt: skip
    client = ApiClient(
        "http://h", transport=httpx.MockTransport(lambda r: httpx.Response(200, json=listed))
    )
    target = Target(platform="engine", url="http://h", instance="a")
    conn = Connection(
        "t", target, EngineProvider(client, target, target_name="t", owner="acme"), client
    )
    results = import_target(conn, tmp_path / "out", schema_root=tmp_path, now=NOW)
    assert [(r.title, r.status) for r in results] == [
        ("Odd", "skipped"), ("Gone", "skipped"), ("Theirs", "skipped"), ("Fine", "written"),
    ]  # fmt: skip
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["fine.yaml"]
