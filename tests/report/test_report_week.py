"""A simulated week on the sandbox's virtual clock, both platforms, drawn by `schedctl report` and
checked in a real browser (headless Chromium, offline): each injected fault is found in its
schedule's row at its slot, the crowded minute in the load, the DST change on the rows of its
zone; no console error, no request; a 1280x800 screenshot in the test's output.

Injected: a task that always fails (engine disables it after its retries), skipped ticks on
Wednesday morning (missed and late slots), a copy of a task firing beside it (unexpected runs),
a manual run, more tasks due in one minute than a tick starts (engine 3, aitroop 50), and the
week of Europe's spring change (2026-03-29 01:00 UTC).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox import SandboxOptions, running_sandbox
from reconciler.spread import platform_capacity
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc, tasks_path, writable
from tests.report.browser import Element, chromium, load, parse, screenshot

UTC = timezone.utc
START = datetime(2026, 3, 23, tzinfo=UTC)  # a Monday; Europe moves its clocks on Sunday 29th
NOW = START + timedelta(days=7)
DST = datetime(2026, 3, 29, 1, tzinfo=UTC)
SKIPPED = ("2026-03-25T06:59:00Z", "2026-03-25T07:50:00Z")  # no tick: Wednesday 07:59-08:50 CET

pytestmark = pytest.mark.slow


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@dataclass
class Week:
    platform: str
    root: Path
    html: Path
    data: dict[str, Any]  # the report's JSON
    audit: dict[str, Any]  # `schedctl audit --format json` over the same week
    burst: int  # tasks due at Monday 09:00 Rome


def _week(root: Path, platform: str) -> Week:
    capacity = platform_capacity(platform)
    assert capacity is not None
    burst = capacity.tasks + 2
    opts = SandboxOptions(
        platform=platform, seed=7, retry_after=0, clock_kind="virtual", start=START
    )
    with running_sandbox(opts) as sandbox:
        repo = Repo(root, sandbox.url, platform)
        london = prompt_doc("london", daily="01:30")  # in the gap on the 29th
        london["schedule"]["timezone"] = "Europe/London"
        docs = [
            prompt_doc("digest", daily="08:00"),  # 07:00 UTC: late on Wednesday
            prompt_doc("poll", every="15m"),
            prompt_doc("flaky", daily="10:00"),
            prompt_doc("copycat", daily="12:00"),
            london,
            *(prompt_doc(f"burst-{i:02d}", weekly={"at": "09:00", "days": ["mon"]})
              for i in range(burst)),
        ]  # fmt: skip
        for doc in docs:
            repo.write(str(doc["name"]), doc)
        _, result = repo.apply(concurrency=16)
        assert result.ok, result
        base = sandbox.url + tasks_path(platform)
        listed = httpx.get(base).json()
        (original,) = [t for t in listed if "copycat" in (t.get("description") or t["name"])]
        copy = writable(platform, original)
        assert httpx.post(base, json=copy).status_code == 201  # a second copy, firing too
        faults = {"always_fail": ["flaky"], "tokens": [500, 4000], "skip_ticks": [list(SKIPPED)]}
        assert httpx.post(f"{sandbox.url}/__sandbox/faults", json=faults).status_code == 200
        _advance(sandbox.url, "2d")
        manual = run_cli(["trigger", "digest"], cwd=root)
        assert manual.returncode == 0, manual.stdout + manual.stderr
        _advance(sandbox.url, "5d")
        now = NOW.isoformat()
        html = root / "report.html"
        done = run_cli(["report", "--now", now, "--until", "+7d", "--out", str(html)], cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"wrote {html}" in done.stderr
        as_json = run_cli(["report", "--now", now, "--format", "json"], cwd=root)
        assert as_json.returncode == 0, as_json.stderr
        audit = run_cli(["audit", "--until", now, "--format", "json"], cwd=root)
        assert audit.returncode == 2, audit.stderr
    return Week(platform, root, html, json.loads(as_json.stdout), json.loads(audit.stdout), burst)


def _advance(url: str, span: str) -> None:
    done = httpx.post(f"{url}/__sandbox/clock", json={"advance": span}, timeout=240)
    assert done.status_code == 200, done.text


@pytest.fixture(scope="module", params=["engine", "aitroop"])
def week(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Week:
    chromium()  # skip before a week is simulated for nothing
    return _week(tmp_path_factory.mktemp(f"report-{request.param}"), str(request.param))


@pytest.fixture(scope="module")
def page(week: Week, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Element]:
    loaded = load(week.html, tmp_path_factory.mktemp("chromium"))
    assert loaded.console == [], loaded.console  # no error, no warning, nothing logged
    assert loaded.requests == [], loaded.requests
    yield parse(loaded.dom)


def row(page: Element, key: str) -> Element:
    return page.by_id(f"row-t--{key}")


def outcome_at(found: Element, slot: int) -> str | None:
    """The outcome drawn over `slot` in a row (a merged mark covers its first to last slot)."""
    for mark in found.find("rect"):
        first = int(mark.attrs.get("data-slot", -1))
        last = int(mark.attrs.get("data-last", first))
        if first <= slot <= last and "data-outcome" in mark.attrs:
            return mark.attrs["data-outcome"]
    return None


def test_each_audit_finding_is_drawn_in_its_row_at_its_slots(week: Week, page: Element) -> None:
    findings = [f for t in week.audit["targets"] for f in t["findings"]]
    assert findings
    drawn = {
        "missed": "missed", "late": "late", "auto-disabled": "missed", "failing": "failed",
    }  # fmt: skip
    for f in findings:
        found = row(page, f["key"])
        assert found.attrs["data-health"] != "ok"
        kinds = [li.attrs["data-kind"] for li in found.find("li")]
        assert f["kind"] in kinds, (f["key"], kinds)
        if f["kind"] in drawn:
            for slot in f["slots"]:
                if f["kind"] == "failing":
                    continue  # a failing finding's "slots" are its runs' starts: see the runs
                assert outcome_at(found, epoch(slot)) == drawn[f["kind"]], (f["key"], slot)
        for run in f["runs"]:
            mark = found.find("rect", data_run=run["run_id"])
            want = {"failing": "failed", "auto-disabled": "failed"}.get(f["kind"], f["kind"])
            assert [m.attrs["data-outcome"] for m in mark] == [want], (f["key"], run)


def test_the_injected_faults_are_where_they_were_injected(week: Week, page: Element) -> None:
    wednesday = epoch("2026-03-25T07:00:00Z")
    # Skipped ticks: the poll's 07:00, 07:15 and 07:30 slots missed, its 07:45 late.
    poll = row(page, "poll")
    for minute in (0, 15, 30):
        assert outcome_at(poll, wednesday + minute * 60) == "missed"
    assert outcome_at(poll, wednesday + 45 * 60) == "late"
    assert outcome_at(poll, wednesday + 60 * 60) == "ok"
    assert outcome_at(row(page, "digest"), wednesday) == "late"
    # The failing task: every slot failed on aitroop; engine disables it after three.
    flaky = row(page, "flaky")
    slots = [epoch(f"2026-03-{23 + d}T09:00:00Z") for d in range(6)]  # 10:00 CET
    expect = ["failed"] * 6 if week.platform == "aitroop" else ["failed"] * 3 + ["missed"] * 3
    assert [outcome_at(flaky, s) for s in slots] == expect
    # The copy's runs: unexpected, one a day.
    copycat = row(page, "copycat")
    assert len(copycat.find("rect", data_outcome="unexpected")) == 7
    # The manual run, at the virtual clock's Wednesday midnight.
    (manual,) = row(page, "digest").find("rect", data_outcome="manual")
    assert abs(int(manual.attrs["data-slot"]) - epoch("2026-03-25T00:00:00Z")) < 120
    # Every row shows its future as outlines up to --until.
    assert row(page, "digest").find("rect", data_outcome="future")


def test_the_crowded_minute_is_listed_and_its_queue_is_late(week: Week, page: Element) -> None:
    monday = epoch("2026-03-23T08:00:00Z")  # 09:00 CET
    (load,) = page.find("div", cls="load", data_target="t")
    capacity = int(load.attrs["data-capacity"])
    assert int(load.attrs["data-peak"]) == week.burst > capacity
    minutes = [int(tr.attrs["data-minute"]) for tr in load.find("tr", cls="crowded-minute")]
    assert monday in minutes
    assert monday + 7 * 86_400 - 3600 in minutes  # next Monday, CEST: coming, crowded too
    burst = [f"burst-{i:02d}" for i in range(week.burst)]
    queued = [k for k in burst if outcome_at(row(page, k), monday) == "late"]
    ran = [k for k in burst if outcome_at(row(page, k), monday) == "ok"]
    # engine's tick starts 3, the rest wait 30 s; aitroop's takes every batch of 50 at once.
    assert len(queued) == (week.burst - capacity if week.platform == "engine" else 0), queued
    assert len(ran) == week.burst - len(queued)


def test_the_dst_change_is_marked_on_the_rows_of_its_zones(week: Week, page: Element) -> None:
    at = str(int(DST.timestamp()))
    for key in ("london", "digest"):  # Europe/London and Europe/Rome both move at 01:00 UTC
        (line,) = row(page, key).find("line", data_at=at)
        assert "clocks forward 60 min" in line.all_text()
    zones = {li.attrs["data-zone"] for li in page.find("li") if li.attrs.get("data-at") == at}
    assert zones == {"Europe/London", "Europe/Rome"}
    # 01:30 London does not exist on the 29th: no slot there, and no false miss either.
    assert row(page, "london").attrs["data-health"] == "ok"


def test_the_summary_comes_first_and_links_the_worst_rows(week: Week, page: Element) -> None:
    sections = [s.attrs["id"] for s in page.find("section")]
    assert sections == ["summary", "timeline", "load", "cost"]
    total = sum(sum(t["summary"].values()) for t in week.audit["targets"])
    (big,) = page.find("p", data_findings=str(total))
    assert total > 0 and "finding" in big.all_text()
    worst = page.find("ol")[0].find("li")
    found = {f["key"] for t in week.audit["targets"] for f in t["findings"]}
    assert len(worst) == min(5, len(found)) >= 4
    assert worst[0].attrs["data-key"] == "flaky"  # auto-disabled / failing: the worst kind
    for li in worst:
        (link,) = li.find("a")
        assert page.by_id(link.attrs["href"][1:]).attrs["data-key"] == li.attrs["data-key"]


def test_the_json_is_the_same_data(week: Week) -> None:
    data = week.data
    assert data["format_version"] == "1"
    assert data["now"] == "2026-03-30T00:00:00Z" and data["until"] == "2026-04-06T00:00:00Z"
    rows = {r["key"]: r for g in data["groups"] for r in g["rows"]}
    assert set(rows) >= {"digest", "poll", "flaky", "copycat", "london"}
    assert data["summary"]["findings"] == sum(
        sum(t["summary"].values()) for t in week.audit["targets"]
    )
    digest = rows["digest"]
    assert digest["timezone"] == "Europe/Rome"
    late = [m for m in digest["past"] if m["outcome"] == "late"]
    assert [(m["at"], m["local"]) for m in late][-1] == (
        "2026-03-25T07:00:00Z", "2026-03-25T08:00:00+01:00",
    )  # fmt: skip
    assert data["dst"][0]["at"] == "2026-03-29T01:00:00Z"
    (target,) = data["targets"]
    assert target["load"]["capacity"] == platform_capacity(week.platform).tasks  # type: ignore[union-attr]
    assert target["load"]["crowded"][0] == {
        "minute": "2026-03-23T08:00:00Z", "due": week.burst,
        "keys": [f"burst-{i:02d}" for i in range(week.burst)],
    }  # fmt: skip
    days = target["cost"]["days"]
    assert [d["day"] for d in days][:2] == ["2026-03-23", "2026-03-24"] and len(days) == 15
    assert sum(d["runs"] for d in days) > 7 * 96  # the poll alone runs 96 a day
    if week.platform == "engine":  # engine's runs carry their token usage
        assert all(d["tokens"] for d in days[:7])


def test_a_screenshot_at_1280_by_800(week: Week, page: Element, tmp_path: Path) -> None:
    out = screenshot(week.html, tmp_path / f"report-{week.platform}.png", tmp_path / "profile")
    print(f"screenshot: {out}")  # look at it when changing the layout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    phone = screenshot(
        week.html, tmp_path / f"report-{week.platform}-phone.png", tmp_path / "p2", "390,844"
    )
    print(f"phone screenshot: {phone}")
