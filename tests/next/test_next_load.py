"""`schedctl next --load [--week]`: due tasks per minute against each target's capacity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reconciler.render.load import cell
from tests.conftest import run_cli


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    config = {
        "owner": "acme",
        "defaults": {"timezone": "UTC", "targets": ["eng"]},
        "targets": {
            "eng": {"platform": "engine", "url": "https://engine.example.com", "instance": "a"},
            "troop": {"platform": "aitroop", "url": "https://app.aitroop.example"},
        },
    }
    (tmp_path / "schedctl.yaml").write_text(yaml.safe_dump(config))
    docs = [
        {"name": f"same-{i}", "schedule": {"cron": "0 9 * * *"}, "action": {"prompt": "p"}}
        for i in range(5)
    ]
    docs.append({"name": "monday", "schedule": {"weekly": {"at": "10:30", "days": ["mon"]}},
                 "action": {"prompt": "p"}})  # fmt: skip
    docs.append(
        {
            "for_each": [f"c{i}" for i in range(6)],
            "template": {
                "name": "spread-{{ item }}",
                "schedule": {"cron": "H 9 * * *"},
                "action": {"prompt": "p"},
                "spread": True,
                "targets": ["troop"],
            },
        }
    )
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "all.yaml").write_text(yaml.safe_dump_all(docs))
    return tmp_path


def test_load_json_counts_each_minute_against_the_capacity(repo: Path) -> None:
    # 2026-06-02 is a Tuesday: the Monday task is outside one day, inside a week.
    result = run_cli(
        ["next", "--load", "--from", "2026-06-02T08:20:00Z", "--format", "json"], cwd=repo
    )
    assert result.returncode == 0, result.stderr
    eng, troop = json.loads(result.stdout)
    assert (eng["target"], eng["capacity"], eng["tick_seconds"]) == ("eng", 3, 30)
    assert (
        eng["from"] == "2026-06-02T08:00:00+00:00" and eng["until"] == "2026-06-03T08:00:00+00:00"
    )
    assert eng["peak"] == 5
    assert eng["over_capacity"] == [
        {"minute": "2026-06-02T09:00:00+00:00", "due": 5, "keys": [f"same-{i}" for i in range(5)]}
    ]
    assert [m["minute"] for m in eng["minutes"]] == ["2026-06-02T09:00:00+00:00"]
    assert (troop["capacity"], troop["peak"], troop["over_capacity"]) == (50, 1, [])
    assert len(troop["minutes"]) == 6  # spread: six minutes with one task each

    args = ["next", "--load", "--week", "--from", "2026-06-02T08:00:00Z", "--format", "json"]
    week = json.loads(run_cli(args, cwd=repo).stdout)
    assert week[0]["until"] == "2026-06-09T08:00:00+00:00"
    assert "2026-06-08T10:30:00+00:00" in [m["minute"] for m in week[0]["minutes"]]
    assert len(week[0]["over_capacity"]) == 7


def test_load_text_is_a_heat_strip(repo: Path) -> None:
    result = run_cli(["next", "--load", "--from", "2026-06-02T08:00:00Z"], cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "engine target 'eng': at most 3 due a minute (one tick starts 3, every 30 s)"
    assert "peak 5/3 at 2026-06-02 09:00, 1 minute(s) over capacity" in lines[1]
    row = next(line for line in lines if line.startswith("  06-02 Tue 09 "))
    strip = row.removeprefix("  06-02 Tue 09 ")[:60]
    assert strip == "!" + "·" * 59
    ruler = next(line for line in lines if line.strip().startswith(":00"))
    assert ruler.index(":00") == row.index("!") and ruler.index(":30") == row.index("!") + 30
    assert "  over: 2026-06-02 09:00 UTC 5/3 (same-0, same-1, same-2, same-3, same-4)" in lines
    assert "  (23 hour(s) with nothing due not shown)" in lines
    assert any(line.startswith("aitroop target 'troop': at most 50 due a minute") for line in lines)


def test_load_options_are_checked(repo: Path) -> None:
    alone = run_cli(["next", "--week"], cwd=repo)
    assert alone.returncode == 1 and "--week goes with --load" in alone.stderr
    unknown = run_cli(["next", "nope", "--load"], cwd=repo)
    assert unknown.returncode == 1 and "no schedule named nope" in unknown.stderr
    assert "Traceback" not in alone.stderr + unknown.stderr


def test_cells_scale_with_the_capacity() -> None:
    assert [cell(n, 3) for n in range(5)] == ["·", "▃", "▆", "█", "!"]
    assert cell(25, 50) == "▄" and cell(51, 50) == "!"
    assert [cell(n, None) for n in (0, 4, 12)] == ["·", "4", "+"]
