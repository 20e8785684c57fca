"""The listing's and the loader's fast paths give what the general ones give.

A listing converts a task that matches its desired form by taking that form (and its
encoding); markers are matched at one place, not searched; paths are shown by string
operations. Each is checked here against the general path it stands in for.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import yamlpos
from reconciler.forms import DesiredTask, Json, LiveTask, Marker, fingerprint_row, normalize
from reconciler.http import ApiClient
from reconciler.loader import show_path
from reconciler.model import Target
from reconciler.plan import FieldChange, field_diff
from reconciler.platforms.aitroop.provider import AitroopProvider
from reconciler.platforms.engine.provider import EngineProvider
from reconciler.platforms.rest import MarkerStyle

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


def desired_from(provider: EngineProvider, key: str, payload: Json) -> DesiredTask:
    """The desired form of `payload` as RestProvider.desired builds it from a document."""
    document = provider.from_remote(payload)
    return DesiredTask(
        key, payload["name"], payload, document, normalize(document, provider.defaults)
    )


def listed(provider: EngineProvider, items: list[Json]) -> EngineProvider:
    """The provider, listing `items` as one page."""
    page = json.dumps({"items": items, "next_cursor": None}).encode()
    provider.client = ApiClient(
        "http://h", transport=httpx.MockTransport(lambda _: httpx.Response(200, content=page))
    )
    return provider


# ---------------------------------------------------------------------------------------------
# The listing


def test_a_fingerprint_row_is_the_json_of_id_marker_title_and_form() -> None:
    form = {"title": 'Caf\u00e9 "24/7" \\ \U0001f680', "schedule.cron": "0 9 * * *", "z": [1, None]}
    for marker in (Marker(OWNER, "k"), None):
        task = LiveTask("id-\u00e9\n", 'T\u00eftle "x"', marker, {}, form)
        expected = json.dumps(["id-\u00e9\n", str(marker or ""), task.title, form], sort_keys=True)
        assert fingerprint_row(task) == expected  # saved plans keep their fingerprints
        desired = DesiredTask("k", "t", {}, {}, form)
        assert fingerprint_row(task, desired.normalized_json) == expected


def test_a_listing_with_hints_fingerprints_as_one_without() -> None:
    provider = engine()
    wanted = {
        key: desired_from(provider, key, engine_task(key)) for key in ("same", "edited", "bare")
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
    took_form = [
        t.id
        for t in hinted.tasks
        if t.marker and t.marker.key in wanted and t.normalized is wanted[t.marker.key].normalized
    ]
    assert took_form == ["1", "3"]  # not the edited one, nor another owner's of the same key


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
    target = Target(platform="aitroop", url="http://h")
    provider = AitroopProvider(ApiClient("http://h"), target, target_name="t", owner=OWNER)
    payload = {
        "name": f"Report [[{OWNER}/r]]",
        "enabled": True,
        "schedule_type": "weekly",
        "schedule_config": {"time": "08:30", "days": [1, 3, 5]},
        "timezone": "Europe/Rome",
        "action_type": "send_message",
        "action_config": {"prompt": "Go."},
    }
    document = provider.from_remote(payload)
    wanted = DesiredTask("r", "Report", payload, document, normalize(document, provider.defaults))
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
