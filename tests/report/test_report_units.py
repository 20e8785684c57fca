"""The report's pieces: dense rows merge, platform text is escaped, the page fetches nothing,
the core is pure, and bad options are refused before anything is read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.audit import Finding, counts
from reconciler.render.report import FORMATS, render_html
from reconciler.report import (
    DENSE,
    Crowded,
    Day,
    DstChange,
    Group,
    Limits,
    Load,
    Mark,
    Report,
    Row,
    TargetReport,
    anchor,
    merged,
    worst_rows,
)
from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.conftest import run_cli
from tests.platforms.test_layout import PACKAGE, imported_modules
from tests.reconcile.conftest import Repo, prompt_doc
from tests.report.browser import Element, parse

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> {{ 7*7 }}'
T0 = 1_774_224_000.0  # 2026-03-23T00:00Z
DAY = 86_400.0


def a_report(**row: object) -> Report:
    mark = Mark("failed", T0 + 3600, T0 + 3600, 1, "run_1", T0 + 3601, HOSTILE)
    finding = Finding("failing", "t", "digest", HOSTILE, f"the last run failed: {HOSTILE}")
    base = Row(
        target="t", key="digest", title=HOSTILE, template="fleet", zone="Europe/Rome",
        description="At 09:00", health="failing", marks=[mark],
        future=[Mark("future", T0 + 8 * DAY, T0 + 8 * DAY)], findings=[finding],
        tally={"failed": 1}, days=[Day("2026-03-23", 1, 1200, 0.5)],
        limits=Limits(tokens_per_day=1000), note=HOSTILE,
    )  # fmt: skip
    for name, value in row.items():
        setattr(base, name, value)
    load = Load("t", 3, 30, [(T0 + 480 * 60, 5)], [(T0 + 480 * 60, 5)],
                [Crowded(T0 + 480 * 60, 5, ("digest", HOSTILE))])  # fmt: skip
    target = TargetReport("t", "p", HOSTILE, None, [HOSTILE], counts([finding]), load,
                          [Day("2026-03-23", 1, 1200, 0.5)], "EUR")  # fmt: skip
    return Report(
        owner="acme", config=None, since=T0, now=T0 + 7 * DAY, until=T0 + 14 * DAY,
        targets=[target], groups=[Group("t", "fleet", [base])],
        dst=[DstChange("Europe/Rome", T0 + 6 * DAY + 3600, 3600, 7200)],
        findings=counts([finding]), worst=[base], days=["2026-03-23", "2026-03-24"],
    )  # fmt: skip


def elements(page: Element) -> Iterator[Element]:
    return page.iter()


def test_platform_text_is_escaped_in_text_and_attributes() -> None:
    html = render_html(a_report())
    page = parse(html)
    tags = {e.tag for e in elements(page)}
    assert "script" not in tags and "img" not in tags
    assert not [e for e in elements(page) if any(k.startswith("on") for k in e.attrs)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in page.all_text() and "49" not in page.all_text()  # text, not a template
    (mark,) = page.by_id("row-t--digest").find("rect", data_outcome="failed")
    assert HOSTILE in mark.all_text()  # the error, in the slot's title, as text


def test_the_page_fetches_nothing_and_carries_its_own_style() -> None:
    html = render_html(a_report())
    assert not re.search(r"<[a-z][^>]*\s(?:src|srcset|action|poster|data)\s*=", html)
    hrefs = re.findall(r"""href="([^"]*)\"""", html)
    assert hrefs and all(h.startswith("#") for h in hrefs), hrefs
    assert "url(" not in html and "@import" not in html and "<link" not in html
    assert not re.search(r"https?://", html)
    assert "default-src 'none'" in html  # the browser refuses a fetch even if one crept in
    assert "<style>" in html and "rect[data-outcome=failed]" in html


def test_budgets_and_money_are_drawn_when_known() -> None:
    page = parse(render_html(a_report()))
    (line,) = page.find("line", cls="budget")
    assert "budget: 1.0k tokens a day" in line.all_text()
    (spend,) = page.find("tr", data_key="digest", data_target="t")
    assert "0.50" in spend.all_text()
    page = parse(render_html(a_report(limits=None)))
    assert page.find("line", cls="budget") == []


def test_a_dense_row_merges_runs_of_one_outcome_a_sparse_one_keeps_each() -> None:
    sparse = [Mark("ok", T0 + i * 900, T0 + i * 900) for i in range(10)]
    assert merged(sparse) == sparse
    dense = [Mark("ok", T0 + i * 900, T0 + i * 900) for i in range(DENSE + 50)]
    dense[60] = Mark("missed", dense[60].at, dense[60].at)
    dense[61] = Mark("missed", dense[61].at, dense[61].at)
    out = merged(dense)
    assert [(m.outcome, m.count) for m in out] == [("ok", 60), ("missed", 2), ("ok", DENSE - 12)]
    assert out[1].at == dense[60].at and out[1].last == dense[61].at


def test_worst_rows_rank_by_kind_then_by_bad_slots() -> None:
    def r(key: str, health: str, missed: int) -> Row:
        return Row("t", key, key, None, "UTC", "", health, tally={"missed": missed})

    rows = [r("a", "late", 9), r("b", "missed", 1), r("c", "ok", 0), r("d", "missed", 5),
            r("e", "auto-disabled", 0), r("f", "-", 0)]  # fmt: skip
    assert [x.key for x in worst_rows(rows)] == ["e", "d", "b", "a"]


def test_anchors_are_ids_whatever_the_target_is_called() -> None:
    assert anchor("prod", "morning-digest") == "row-prod--morning-digest"
    assert re.fullmatch(r"[a-z0-9_-]+", anchor("Prod EU/1", "k"))


def test_the_json_is_versioned_and_holds_the_rows() -> None:
    import json

    data = json.loads(FORMATS["json"](a_report(), None))  # type: ignore[arg-type]
    assert data["format_version"] == "1"
    (row,) = data["groups"][0]["rows"]
    assert row["past"][0]["local"] == "2026-03-23T02:00:00+01:00"
    assert row["past"][0]["error"] == HOSTILE  # data stays data: escaping is the page's
    assert row["cost"]["budget"] == {"tokens_per_day": 1000, "runs_per_day": None}
    assert data["summary"]["worst"][0]["anchor"] == "row-t--digest"


def test_the_report_core_imports_no_http_no_threads_and_no_platform() -> None:
    modules = imported_modules(PACKAGE / "report.py")
    ours = {m for m in modules if m.startswith("reconciler")}
    assert ours <= {"reconciler", "reconciler.timing", "reconciler.audit", "reconciler.loader",
                    "reconciler.upcoming", "reconciler.render.tables", "reconciler.model",
                    "reconciler.cost", "reconciler.records"}, ours  # fmt: skip
    assert not {m for m in modules if m.split(".")[0] in ("threading", "concurrent", "httpx")}
    assert "jinja2" not in modules  # the page is the renderer's


def test_the_templates_are_package_data() -> None:
    from importlib import resources

    folder = resources.files("reconciler") / "templates" / "report"
    assert {"report.html.j2", "macros.html.j2", "report.css"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--until", "soon"], "--until 'soon': expected a duration ahead of now, e.g. +7d"),
        (["--until", "2020-01-01T00:00:00Z"], "is before now"),
        (["--now", "yesterday"], "--now 'yesterday' is not an ISO 8601 timestamp"),
        (["--since", "0m"], "--since '0m': expected a duration back from now, e.g. 7d"),
        (["--format", "pdf"], "'pdf' is not one of 'html', 'json'"),
    ],
)
def test_bad_options_are_refused_with_an_example(
    tmp_path: Path, args: list[str], words: str
) -> None:
    done = run_cli(["report", *args, "--out", str(tmp_path / "r.html")], cwd=tmp_path)
    assert done.returncode == 1 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r.html").exists()


def test_an_unwritable_out_and_a_target_that_fails(tmp_path: Path) -> None:
    with running_sandbox(SandboxOptions(platform="engine", retry_after=0)) as sandbox:
        repo = Repo(tmp_path / "repo", sandbox.url, "engine")
        repo.write("a", prompt_doc("alpha"))
        assert run_cli(["apply", "--auto-approve"], cwd=repo.root).returncode == 0
        done = run_cli(["report", "--out", str(tmp_path / "no" / "such" / "r.html")], cwd=repo.root)
        assert done.returncode == 1 and "cannot write" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        ok = run_cli(["report", "--out", str(tmp_path / "r.html")], cwd=repo.root)
        assert ok.returncode == 0, ok.stderr
        page = parse((tmp_path / "r.html").read_text(encoding="utf-8"))
        assert page.by_id("row-t--alpha").attrs["data-health"] == "ok"
    # The platform is gone: the page still says which target and why, and the exit code is 1.
    gone = run_cli(["report", "--out", str(tmp_path / "gone.html"), "-v"], cwd=repo.root)
    assert gone.returncode == 1, gone.stderr
    assert "error: " in gone.stderr and "Traceback" not in gone.stderr
    page = parse((tmp_path / "gone.html").read_text(encoding="utf-8"))
    (error,) = page.find("p", cls="error", data_target="t")
    assert "not audited" in error.all_text()


def test_interval_stamps_are_the_fires_timestamps_ends_included() -> None:
    from datetime import datetime, timedelta, timezone

    from reconciler.timing import IntervalTrigger

    utc = timezone.utc
    anchor = datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=utc)
    trigger = IntervalTrigger(timedelta(minutes=15), anchor)
    start = anchor + timedelta(days=80)
    for end in (start, start + timedelta(minutes=15), start + timedelta(hours=5, seconds=1)):
        want = [f.timestamp() for f in trigger.fires_between(start, end)]
        assert trigger.stamps_between(start, end) == want
    assert len(trigger.stamps_between(start, start + timedelta(hours=1))) == 4  # (start, end]


def test_the_configs_pricing_and_budgets_are_what_the_report_draws() -> None:
    from reconciler.model import Config
    from reconciler.report import Limits, Price, cost_rules

    config = Config.model_validate(
        {
            "pricing": {"per_1k_tokens": 0.01},
            "budgets": {"digest-*": {"max_tokens_per_day": 5000, "max_runs_per_day": 24}},
            "targets": {
                "prod": {
                    "platform": "engine",
                    "url": "https://engine.example.com",
                    "budget": {"max_tokens_per_day": 3000},
                    "pricing": {"per_1k_tokens": 0.02, "currency": "EUR"},
                },
                "dev": {"platform": "engine", "sandbox": "dev.db"},
            },
        }
    )
    rules = cost_rules(config)
    assert rules.price("prod") == Price(0.02, "EUR")
    assert rules.price("dev") == Price(0.01, "USD")
    # The tightest of the budgets that cover the schedule, each limit on its own.
    assert rules.limits("prod", "digest-a") == Limits(tokens_per_day=3000, runs_per_day=24)
    assert rules.limits("dev", "digest-a") == Limits(tokens_per_day=5000, runs_per_day=24)
    assert rules.limits("dev", "monitor") is None
