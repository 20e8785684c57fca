"""The listing's and the loader's fast paths give what the general ones give.

A listing converts a task that matches its desired form by taking that form (and its
encoding); markers are matched at one place, not searched; paths are shown by string
operations. Each is checked here against the general path it stands in for.
"""

from __future__ import annotations

import copy
import json
import os
import re
import ssl
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import yamlpos
from reconciler.forms import (
    DesiredTask,
    FieldChange,
    Json,
    LiveTask,
    Marker,
    Pause,
    fingerprint_row,
    normalize,
)
from reconciler.http import ApiClient, decode_json
from reconciler.loader import show_path
from reconciler.model import Target
from reconciler.plan import Plan, diff_target, field_diff
from reconciler.platforms.aitroop.provider import AitroopProvider
from reconciler.platforms.engine.provider import EngineProvider
from reconciler.platforms.rest import MarkerStyle, RestProvider
from reconciler.render.plan import render_markdown, render_plan

OWNER = "team-a"


def engine() -> EngineProvider:
    target = Target(platform="engine", url="http://h", instance="acme")
    return EngineProvider(ApiClient("http://h"), target, target_name="t", owner=OWNER)


def engine_task(key: str, prompt: str = "Summarise.", **extra: Any) -> Json:
    """A task as the engine returns it: what schedctl sends, plus server fields."""
    body = {
        "name": f"Task {key}",
        "description": f"[schedctl:{OWNER}/{key}]",
        "prompt": prompt,
        "schedule": {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "Europe/Rome"},
        "enabled": True,
        "outboundChannel": None,
        "outboundTarget": None,
        "keepHistory": True,
        "deleteAfterRun": False,
        "maxRetries": 3,
    }
    return {**body, **extra}


def aitroop() -> AitroopProvider:
    target = Target(platform="aitroop", url="http://h")
    return AitroopProvider(ApiClient("http://h"), target, target_name="t", owner=OWNER)


def aitroop_task(key: str, prompt: str = "Go.", **extra: Any) -> Json:
    body = {
        "name": f"Report {key} [[{OWNER}/{key}]]",
        "enabled": True,
        "schedule_type": "weekly",
        "schedule_config": {"time": "08:30", "days": [1, 3, 5]},
        "timezone": "Europe/Rome",
        "action_type": "send_message",
        "action_config": {"prompt": prompt},
    }
    return {**body, **extra}


def desired_from(
    provider: RestProvider, key: str, payload: Json, *, split: bool = True
) -> DesiredTask:
    """The desired form of `payload` as RestProvider.desired builds it from a document;
    `split` False: without its marked text split (objects then find it by their marker's key)."""
    document = provider.from_remote(payload)
    marked = payload[provider.marker_field]
    return DesiredTask(
        key,
        payload["name"],
        payload,
        document,
        normalize(document, provider.defaults),
        marked=marked,
        marked_split=provider.marker_style.detach(marked) if split else None,
    )


def listed(provider: RestProvider, items: list[Json]) -> RestProvider:
    """The provider, listing `items` as one page."""
    page = json.dumps({"items": items, "next_cursor": None}).encode()
    provider.client = ApiClient(
        "http://h", transport=httpx.MockTransport(lambda _: httpx.Response(200, content=page))
    )
    return provider


# ---------------------------------------------------------------------------------------------
# The listing


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


def _decoded(body: bytes) -> str:
    """What a body decodes to, exactly (1 and 1.0, 0.0 and -0.0 told apart), or its error."""
    try:
        return json.dumps(decode_json(body), ensure_ascii=True)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return f"raises {type(exc).__name__}"


def _loaded(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), ensure_ascii=True)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return f"raises {type(exc).__name__}"


@given(JSON_VALUES, st.booleans(), st.sampled_from([None, 0, 2]))
def test_a_body_decodes_as_json_loads_decodes_it(value: Any, ascii: bool, indent: Any) -> None:
    body = json.dumps(value, ensure_ascii=ascii, indent=indent).encode()
    assert _decoded(body) == _loaded(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"x": NaN, "y": Infinity, "z": -Infinity}',  # not JSON, but json.loads reads them
        b'{"big": 1e400, "small": -1e400}',
        b"\xef\xbb\xbf" + b'{"bom": 1}',
        '{"utf": "16"}'.encode("utf-16"),
        b'{"lone": "\\ud800"}',
        b"[123456789012345678901234567890, -99999999999999999999]",
        b'{"a": 1, "a": 2}',
        b"[" * 900 + b"]" * 900,
        b"[" * 100_000 + b"]" * 100_000,
        b"[1] x",
        b"",
        b"\xff\xfe\xfd",
        b'{"unterminated": "',
    ],
)
def test_a_body_json_loads_reads_or_refuses_decodes_or_fails_alike(body: bytes) -> None:
    assert _decoded(body) == _loaded(body)


def test_a_fingerprint_row_is_the_json_of_id_marker_title_and_form() -> None:
    form = {"title": 'Caf\u00e9 "24/7" \\ \U0001f680', "schedule.cron": "0 9 * * *", "z": [1, None]}
    for marker in (Marker(OWNER, "k"), None):
        task = LiveTask("id-\u00e9\n", 'T\u00eftle "x"', marker, {}, form)
        expected = json.dumps(["id-\u00e9\n", str(marker or ""), task.title, form], sort_keys=True)
        assert fingerprint_row(task) == expected  # saved plans keep their fingerprints
        desired = DesiredTask("k", "t", {}, {}, form)
        assert fingerprint_row(task, desired.normalized_json) == expected


@pytest.mark.parametrize("split", [True, False], ids=["by-marked-text", "by-marker-key"])
def test_a_listing_with_hints_fingerprints_as_one_without(split: bool) -> None:
    provider = engine()
    wanted = {
        key: desired_from(provider, key, engine_task(key), split=split)
        for key in ("same", "edited", "bare")
    }
    items = [
        {**engine_task("same"), "id": "1", "nextRunAt": "2026-01-05T08:00:00Z", "runCount": 4},
        {**engine_task("edited", prompt="Changed on the platform."), "id": "2"},
        # the platform leaves out fields that are null: still the desired form
        {k: v for k, v in engine_task("bare").items() if v is not None} | {"id": "3"},
        {**engine_task("other"), "description": "[schedctl:someone-else/same]", "id": "4"},
        {**engine_task("unmarked"), "description": "", "id": "5"},
    ]
    hinted = listed(provider, items).list_tasks(lambda: wanted)
    plain = listed(provider, items).list_tasks()
    assert hinted.fingerprint == plain.fingerprint
    assert [t.normalized for t in hinted.tasks] == [t.normalized for t in plain.tasks]
    assert hinted.tasks == plain.tasks  # ids, titles, markers, forms, status
    took_form = [
        t.id
        for t in hinted.tasks
        if t.marker and t.marker.key in wanted and t.normalized is wanted[t.marker.key].normalized
    ]
    assert took_form == ["1", "3"]  # not the edited one, nor another owner's of the same key


TRICKY = 'Say "hi" \\ caf\u00e9 \U0001f680 "action.prompt": "Summarise."'  # quotes, a key's text
# Objects edited on the platform: (the edit, the paths read from the desired form, or None when
# the object is converted in full).
ENGINE_EDITS: list[tuple[Json, tuple[str, ...] | None]] = [
    ({"prompt": "Changed on the platform."}, ("action.prompt",)),
    ({"prompt": ""}, ("action.prompt",)),
    ({"prompt": TRICKY}, ("action.prompt",)),
    ({"name": "Renamed"}, ("title",)),
    ({"enabled": False}, ("enabled",)),
    ({"deleteAfterRun": True}, ("delete_after_run",)),
    ({"prompt": "Two.", "name": "Fields"}, ("title", "action.prompt")),
    ({"prompt": None}, None),  # null: from_remote reads it as ""
    ({"prompt": 5}, None),  # unreadable
    ({"enabled": "no"}, None),
    ({"maxRetries": 5}, None),
    ({"keepHistory": False}, None),
    ({"schedule": {"type": "cron", "expression": "0 10 * * *", "timezone": "UTC"}}, None),
    ({"description": f"Notes.\n\n[schedctl:{OWNER}/k]"}, None),
    ({"outboundChannel": "slack", "outboundTarget": "#ops"}, None),
]
AITROOP_EDITS: list[tuple[Json, tuple[str, ...] | None]] = [
    ({"action_config": {"prompt": "Changed."}}, ("action.prompt",)),
    ({"action_config": {"prompt": TRICKY}}, ("action.prompt",)),
    ({"enabled": False, "action_config": {"prompt": "Both."}}, ("enabled", "action.prompt")),
    ({"action_config": {"prompt": None}}, None),
    ({"action_config": {"prompt": "x", "extra": 1}}, None),
    ({"action_config": "x"}, None),  # unreadable
    ({"action_type": "run_app", "action_config": {"app_id": "a", "app_input": {}}}, None),
    ({"name": f"Other [[{OWNER}/k]]"}, None),  # the title shares its field with the marker
    ({"timezone": "UTC"}, None),
    ({"schedule_config": {"time": "09:00", "days": [1, 3, 5]}}, None),
]


@pytest.mark.parametrize("split", [True, False], ids=["by-marked-text", "by-marker-key"])
@pytest.mark.parametrize(
    ("make", "body", "edits"),
    [(engine, engine_task, e) for e in ENGINE_EDITS]
    + [(aitroop, aitroop_task, e) for e in AITROOP_EDITS],
)
def test_an_object_edited_on_the_platform_reads_as_its_full_conversion(
    make: Any, body: Any, edits: tuple[Json, tuple[str, ...] | None], split: bool
) -> None:
    provider = make()
    wanted = desired_from(provider, "k", body("k"), split=split)
    kept = copy.deepcopy((wanted.document, wanted.normalized))
    remote = {**body("k"), **edits[0], "id": "1"}
    hinted = listed(provider, [remote]).list_tasks(lambda: {"k": wanted})
    plain = listed(provider, [remote]).list_tasks()
    task, full = hinted.tasks[0], plain.tasks[0]
    assert hinted.fingerprint == plain.fingerprint  # saved plans keep their fingerprints
    assert (task.document, task.normalized, task.unreadable) == (
        full.document,
        full.normalized,
        full.unreadable,
    )
    assert list(task.document) == list(full.document)  # in the same order too
    assert list(task.normalized) == list(full.normalized)
    assert (task.title, task.marker, task.status) == (full.title, full.marker, full.status)
    # read from the desired form, or converted in full
    assert tuple(c.path for c in task.edits) == (edits[1] or ())
    if task.edits:  # the diff found while reading: the diff of the full conversion
        assert task.edits == field_diff(full.normalized, wanted.normalized)
    assert (wanted.document, wanted.normalized) == kept  # the desired form is left as it was


def test_every_plain_field_reads_from_the_desired_form_as_from_remote_reads_it() -> None:
    for provider, body in ((engine(), engine_task("k")), (aitroop(), aitroop_task("k"))):
        hints = {"k": desired_from(provider, "k", body)}
        for field_path, path in provider.plain_fields.items():
            remote = {**copy.deepcopy(body), "id": "1"}
            inner = remote
            for step in field_path[:-1]:
                inner = inner[step]
            old = inner[field_path[-1]]
            inner[field_path[-1]] = (not old) if type(old) is bool else f"{old} (edited \u00e9)"
            task = listed(provider, [remote]).list_tasks(hints.copy).tasks[0]
            full = listed(provider, [remote]).list_tasks().tasks[0]
            assert tuple(c.path for c in task.edits) == (".".join(path),), field_path
            assert (task.document, task.normalized) == (full.document, full.normalized)


def test_an_edited_form_encodes_as_the_encoder_would() -> None:
    form = {
        "title": 'Caf\u00e9 "24/7"',
        "action.app.input": {"title": 'Caf\u00e9 "24/7"', "n": [1, None]},  # the same key nested
        "action.prompt": "p",
        "enabled": True,
        "schedule.weekly.days": [1, 2],
    }
    desired = DesiredTask("k", "t", {}, {}, form)
    for values in (
        {"action.prompt": TRICKY},
        {"enabled": False},
        {"title": "New \U0001f680"},  # its old item is written twice: encoded in full
        {"action.prompt": "", "enabled": False},
        {},
    ):
        assert desired.edited_json(values) == json.dumps({**form, **values}, sort_keys=True)


def test_a_task_edited_in_two_fields_diffs_exactly_those_two_as_a_full_conversion_does() -> None:
    provider = engine()
    wanted = {k: desired_from(provider, k, engine_task(k)) for k in ("a", "b", "c")}
    items = [
        {**engine_task("a", prompt="Edited."), "name": "Renamed", "id": "1"},
        {**engine_task("b"), "enabled": False, "id": "2"},  # disabled by hand: an update
        {**engine_task("c"), "id": "3"},
    ]
    plans = [
        diff_target("t", "engine", wanted.values(), listing, owner=OWNER)
        for listing in (
            listed(provider, items).list_tasks(lambda: wanted),
            listed(provider, items).list_tasks(),
        )
    ]
    hinted, plain = plans
    assert [c.fields for c in hinted.changes] == [
        (
            FieldChange("title", "Renamed", "Task a"),
            FieldChange("action.prompt", "Edited.", "Summarise."),
        ),
        (FieldChange("enabled", False, True),),
    ]
    assert hinted.to_dict() == plain.to_dict() and hinted.in_sync == 1
    whole = [Plan([p], owner=OWNER) for p in plans]
    assert render_plan(whole[0]) == render_plan(whole[1])
    now = datetime(2026, 1, 5, tzinfo=timezone.utc)
    assert render_markdown(whole[0], now) == render_markdown(whole[1], now)


def test_a_pause_tag_edited_on_the_platform_is_still_seen() -> None:
    provider = engine()
    wanted = {"k": desired_from(provider, "k", engine_task("k"))}
    pauses = [Pause("ana", "outage"), Pause("ana", "outage: longer")]
    plans, prints = [], []
    for pause in pauses:
        tagged = provider.marker_style.attach("", Marker(OWNER, "k", pause))
        item = {**engine_task("k"), "description": tagged, "enabled": False, "id": "1"}
        listing = listed(provider, [item]).list_tasks(lambda: wanted)
        assert listing.tasks[0].marker == Marker(OWNER, "k", pause)
        prints.append(listing.fingerprint)
        plans.append(diff_target("t", "engine", wanted.values(), listing, owner=OWNER))
    assert prints[0] != prints[1]  # a saved plan made before the edit is stale
    assert [[(c.action, c.pause) for c in p.changes] for p in plans] == [
        [("paused", pauses[0])],
        [("paused", pauses[1])],
    ]


def test_markers_are_found_where_a_search_would_find_them() -> None:
    def searched(style: MarkerStyle, text: str) -> tuple[str, Marker | None]:
        pattern = re.compile(
            rf"\s*{re.escape(style.open)}(?P<owner>[a-z0-9][a-z0-9._-]{{0,62}})/"
            rf"(?P<key>[a-z0-9][a-z0-9-]{{0,62}}){re.escape(style.close)}\s*\Z"
        )
        match = pattern.search(text)
        if match is None:
            return text, None
        return text[: match.start()].rstrip(), Marker(match["owner"], match["key"])

    name, description = MarkerStyle("[[", "]]", " "), MarkerStyle("[schedctl:", "]", "\n\n")
    texts = [
        "", "[[", "[[a/b", "Report [[a/b]]", "x [[[a/b]]", "[[a/b]] [[c/d]]", "[[a/b]] tail",
        "a [[a/b]]]]", "  [[a/b]] \n\t", "[[a/b]][[c/d]]", "[[a/[[c/d]]", "T [[Bad/k]]",
        "Caf\u00e9 [[o.1/k-2]]", "[[" + "o" * 63 + "/k]]", "[[" + "o" * 64 + "/k]]",
        "Notes.\n\n[schedctl:acme/k]", "[schedctl:acme/k] mid", "[schedctl:[schedctl:a/b]",
        "[schedctl:a/b]\n\n[schedctl:c/d]  ", "[schedctl:a/b]]",
    ]  # fmt: skip
    for style in (name, description):
        for text in texts:
            assert style.detach(text) == searched(style, text), (style.open, text)


def test_a_field_diff_names_what_differs_in_path_order() -> None:
    before = {"z.path": 1, "title": "x", "action.prompt": "p", "gone": None, "same": 2}
    after = {"title": "y", "action.prompt": "q", "new": None, "added": 3, "same": 2}
    assert field_diff(before, after) == (
        FieldChange("title", "x", "y"),
        FieldChange("action.prompt", "p", "q"),
        FieldChange("added", None, 3),
        FieldChange("z.path", 1, None),
    )
    assert field_diff(before, dict(before)) == ()


def test_aitroop_takes_its_desired_form_for_an_unchanged_task() -> None:
    provider = aitroop()
    payload = aitroop_task("r")
    wanted = desired_from(provider, "r", payload)
    remote = {**payload, "id": "task_1", "cron_expr": "30 8 * * 1,3,5", "run_count": 2}
    task = provider.live(remote, {"r": wanted})
    assert task.normalized is wanted.normalized and task.document is wanted.document
    changed = provider.live({**remote, "timezone": "UTC"}, {"r": wanted})
    assert changed.normalized["schedule.timezone"] == "UTC"


# ---------------------------------------------------------------------------------------------
# The loader and the HTTP client


def test_paths_are_shown_as_pathlib_would_show_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def by_pathlib(path: Path) -> str:
        absolute = path.absolute()
        try:
            return str(absolute.relative_to(Path.cwd()))
        except ValueError:
            return str(absolute)

    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    paths = ["a.yaml", "sub/a.yaml", "../a.yaml", "sub/../a.yaml", ".", str(tmp_path / "repo"),
             str(tmp_path / "repo" / "x.yaml"), str(tmp_path / "repo-2" / "x.yaml"), "/"]  # fmt: skip
    for raw in paths:
        assert show_path(Path(raw)) == by_pathlib(Path(raw)), raw
    monkeypatch.chdir("/")
    for raw in ("a.yaml", str(tmp_path / "x.yaml"), "/"):
        assert show_path(Path(raw)) == by_pathlib(Path(raw)), raw


def test_a_file_of_many_small_documents_is_not_scanned_for_deep_nesting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = [
        f"name: t{i}\nschedule: {{cron: '0 9 * * *'}}\naction: {{prompt: [p]}}\n"
        for i in range(100)
    ]
    text = "---\n".join(docs)
    assert text.count("{") > yamlpos.MAX_DEPTH  # the whole file has many brackets

    def scan(*args: Any) -> Any:
        raise AssertionError("scanned with the pure-Python parser")

    monkeypatch.setattr(yamlpos.yaml, "SafeLoader", scan)
    assert len(yamlpos.load_documents(text)) == 100
    deep = "a: 1\n---\n" + "[" * 70 + "]" * 70 + "\n"  # one document holds them: scanned
    with pytest.raises(AssertionError, match="scanned"):
        yamlpos.load_documents(deep)


def test_brackets_do_not_nest_across_a_document_line() -> None:
    with pytest.raises(yamlpos.YamlProblem) as exc:  # the parser stops at the `---`
        yamlpos.load_documents("[" * 50 + "\n---\n" + "[" * 50 + "\n")
    assert exc.value.pos.line == 2
    with pytest.raises(yamlpos.YamlProblem, match="nesting deeper than 64"):
        yamlpos.load_documents("a: 1\n---\n" + "[" * 70 + "]" * 70 + "\n")


def test_https_targets_still_verify_certificates_and_http_ones_load_no_bundle() -> None:
    def context(client: ApiClient) -> ssl.SSLContext:
        return client._client._transport._pool._ssl_context  # type: ignore[attr-defined,no-any-return]

    assert context(ApiClient("https://h")).verify_mode == ssl.CERT_REQUIRED
    assert context(ApiClient("https://h", verify=False)).verify_mode == ssl.CERT_NONE
    assert context(ApiClient("http://h")).verify_mode == ssl.CERT_NONE  # never used: no TLS
    assert not context(ApiClient("http://h")).get_ca_certs()


def test_the_http_client_leaves_out_httpx_s_command_line_module() -> None:
    code = (
        "import sys, reconciler.http, httpx; "
        "print(sorted(m for m in ('httpx._main', 'pygments', 'rich') if sys.modules.get(m)))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
