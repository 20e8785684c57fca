"""`schedctl next` as a user runs it: agrees with timing.py, zones, JSON, notes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from reconciler import timing
from tests.conftest import EXAMPLES, run_cli


def write_repo(tmp_path: Path, body: str, platform: str = "engine") -> Path:
    target = (
        "{platform: engine, url: 'https://e.example', instance: a}"
        if platform == "engine"
        else "{platform: aitroop, url: 'https://a.example'}"
    )
    (tmp_path / "schedctl.yaml").write_text(f"targets:\n  t: {target}\n")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "s.yaml").write_text(body)
    return tmp_path


def test_next_json_matches_timing_across_a_dst_change(tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path,
        'name: early\nschedule: {cron: "30 2 * * *", timezone: America/Los_Angeles}\naction: {prompt: p}\n',
    )
    result = run_cli(
        ["next", "--from", "2025-03-08T12:00:00-08:00", "-n", "2", "--format", "json"], cwd=repo
    )
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)
    assert item["name"] == "early" and item["target"] == "t"
    assert item["timezone"] == "America/Los_Angeles"
    assert item["description"] == "At 02:30"
    assert item["fires"] == ["2025-03-09T03:00:00-07:00", "2025-03-10T02:30:00-07:00"]
    start = datetime.fromisoformat("2025-03-08T12:00:00-08:00")
    expected = timing.CronTrigger("30 2 * * *", "America/Los_Angeles").fires(start, 2)
    assert [datetime.fromisoformat(f) for f in item["fires"]] == expected


def test_next_text_shows_zone_and_utc_for_a_named_schedule() -> None:
    result = run_cli(
        ["next", "morning-digest", "--from", "2026-07-01T00:00:00Z", "-n", "2"], cwd=EXAMPLES
    )
    assert result.returncode == 0, result.stderr
    assert "morning-digest [local]: At 09:00 (Europe/Rome)" in result.stdout
    assert "2026-07-01 Wed 09:00 CEST (+02:00)" in result.stdout
    assert "2026-07-01 07:00 UTC" in result.stdout
    assert "weekday-standup" not in result.stdout


def test_next_interval_is_shown_in_the_schedule_zone_and_notes_the_platform(tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path,
        "name: poll\nschedule: {every: 2h, timezone: Asia/Kolkata}\naction: {prompt: p}\n",
        "aitroop",
    )
    result = run_cli(
        ["next", "--from", "2026-01-01T00:00:00Z", "-n", "1", "--format", "json"], cwd=repo
    )
    [item] = json.loads(result.stdout)
    assert item["fires"] == ["2026-01-01T07:30:00+05:30"]  # 02:00 UTC, the epoch-anchored 2h grid
    assert any("creation" in note for note in item["notes"])


def test_next_unknown_name_is_an_error() -> None:
    result = run_cli(["next", "no-such-schedule"], cwd=EXAMPLES)
    assert result.returncode == 1
    assert "no schedule named no-such-schedule" in result.stderr
    assert "Traceback" not in result.stderr
