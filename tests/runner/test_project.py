"""Which schedules run, the last good version of broken files, what is watched, the window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.errors import UsageError
from reconciler.runner.project import keep_last_good, load_selection, watch_roots
from reconciler.runner.report import parse_window, run_line, show_duration
from reconciler.runner.store import RunRecord

from .conftest import T0, doc, write_project, write_schedule

TWO_TARGETS = {
    "defaults": {"targets": ["eng"]},
    "targets": {
        "ait": {"platform": "aitroop", "sandbox": "a.db"},
        "eng": {"platform": "engine", "sandbox": "e.db"},
    },
}


def test_each_key_once_from_the_default_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"a.yaml": [
        doc("both", {"every": "1h"}, targets=["ait", "eng"], overrides={"ait": {"action": {"prompt": "on ait"}}}),
        doc("ait-only", {"daily": "09:00"}, targets=["ait"]),
    ]}, TWO_TARGETS)  # fmt: skip
    sel = load_selection([], None, None)
    assert sel.platform == "engine" and sel.target is None
    assert {s.key: s.target for s in sel.schedules} == {"both": "eng", "ait-only": "ait"}
    ait = load_selection([], None, "ait")
    assert ait.platform == "aitroop" and {s.key for s in ait.schedules} == {"both", "ait-only"}
    assert next(s for s in ait.schedules if s.key == "both").schedule.action.prompt == "on ait"
    assert not ait.errors  # "every 1h" is fine on aitroop; a platform error would only warn
    assert "--target 'nope' is not a target" in load_selection([], None, "nope").errors[0].message


def test_platform_errors_warn_and_schema_errors_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(
        tmp_path, {"a.yaml": [doc("tight", {"every": "1m"}, targets=["ait"])]}, TWO_TARGETS
    )
    sel = load_selection([], None, "ait")
    assert not sel.errors
    assert any("aitroop rejects intervals below 5 minutes" in w.message for w in sel.warnings)
    write_schedule(
        tmp_path, "b.yaml", "name: b\nschedule: {every: 1m}\naction: {prompt: x}\ntypo: 1\n"
    )
    broken = load_selection([], None, "ait")
    assert [(e.file, e.line) for e in broken.errors] == [("schedules/b.yaml", 4)]


def test_keep_last_good_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(
        tmp_path,
        {
            "a.yaml": [doc("a", {"every": "1m"})],
            "b.yaml": [doc("b1", {"every": "1m"}), doc("b2", {"every": "1m"})],
        },
    )
    good = load_selection([], None, None)
    write_schedule(tmp_path, "a.yaml", [doc("a", {"every": "2m"})])
    write_schedule(
        tmp_path,
        "b.yaml",
        [
            doc("b1", {"every": "5m"}),
            {"name": "b2", "schedule": {"every": "0m"}, "action": {"prompt": "x"}},
        ],
    )
    mixed = load_selection([], None, None)
    kept = {s.key: s.schedule.schedule.every for s in keep_last_good(good.schedules, mixed)}
    assert kept == {
        "a": "2m",
        "b1": "1m",
        "b2": "1m",
    }  # b.yaml as a whole keeps its last good version
    (tmp_path / "schedctl.yaml").write_text("targets: [oops\n")
    assert keep_last_good(good.schedules, load_selection([], None, None)) == good.schedules


def test_watch_roots_skip_the_runner_directory(tmp_path: Path) -> None:
    (tmp_path / "schedules" / "team").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    deep, flat = watch_roots(
        [], tmp_path, ["schedules/**/*.yaml", "schedules/team/*.yml", "*.yaml"]
    )
    assert deep == [(tmp_path / "schedules").resolve()] and flat == [tmp_path.resolve()]
    deep, flat = watch_roots([], tmp_path, ["schedules/team/*.yml", "other/*.yaml"])
    assert deep == [] and flat == sorted(
        p.resolve() for p in (tmp_path, tmp_path / "other", tmp_path / "schedules" / "team")
    )
    deep, flat = watch_roots(
        [str(tmp_path / "other"), str(tmp_path / "schedctl.yaml")], tmp_path, []
    )
    assert deep == [(tmp_path / "other").resolve()] and flat == [tmp_path.resolve()]


def test_parse_window() -> None:
    now = datetime(2026, 1, 1, 12, 30, tzinfo=timezone.utc)
    assert parse_window("2026-01-05..2026-01-12", now) == (
        datetime(2026, 1, 5, tzinfo=timezone.utc), datetime(2026, 1, 12, tzinfo=timezone.utc),
    )  # fmt: skip
    assert parse_window("now..+1d12h", now) == (now, now + timedelta(days=1, hours=12))
    start, _ = parse_window("2026-01-05T09:00+01:00..+1h", now)
    assert start == datetime(2026, 1, 5, 8, tzinfo=timezone.utc)
    assert parse_window("2026-01-05T09:00Z..2026-01-05T10:00Z", now)[0].hour == 9
    for bad in (
        "2026-01-05",
        "x..y",
        "2026-01-05..2026-01-04",
        "now..+7x",
        "2000-01-01..2100-01-01",
    ):
        with pytest.raises(UsageError):
            parse_window(bad, now)


def test_run_line() -> None:
    record = RunRecord(
        "run_1", "digest", "manual", T0, T0, T0, 12, "error", "", "exit status 1: no\nmore", None
    )
    assert (
        run_line(record) == "2026-03-02T09:00:00Z  digest  error (manual)  12ms  exit status 1: no"
    )
    assert show_duration(12_345) == "12.3s" and show_duration(None) == "-"
