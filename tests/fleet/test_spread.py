"""Hashed times (`H`) and spreading them under each platform's per-tick capacity."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.loader import Project, load_project
from reconciler.platforms import Facts
from reconciler.spread import (
    HashError,
    capacity_of,
    due_minutes,
    hash_index,
    parse_hashed,
    platform_capacity,
)
from reconciler.validate import validate_project

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def repo_with(root: Path, *docs: dict[str, Any], spread_default: bool = False) -> Project:
    config = {
        "owner": "acme",
        "defaults": {"timezone": "Europe/Rome", "targets": ["eng"], "spread": spread_default},
        "targets": {
            "eng": {"platform": "engine", "url": "https://engine.example.com", "instance": "a"},
            "troop": {"platform": "aitroop", "url": "https://app.aitroop.example"},
        },
    }
    (root / "schedules").mkdir(parents=True, exist_ok=True)
    (root / "schedctl.yaml").write_text(yaml.safe_dump(config))
    (root / "schedules" / "all.yaml").write_text(yaml.safe_dump_all(list(docs)))
    return load_project([], str(root / "schedctl.yaml"))


def fleet(items: list[str], schedule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "fleet": "d",
        "for_each": items,
        "template": {
            "name": "d-{{ item }}",
            "schedule": schedule,
            "action": {"prompt": "p"},
            **extra,
        },
    }


def times(project: Project) -> dict[str, str]:
    out = {}
    for s in project.schedules:
        spec = s.schedule.schedule
        out[s.key] = spec.cron or spec.daily or (spec.weekly or spec.monthly).at  # type: ignore[union-attr]
    return out


def peak(project: Project, target: str) -> int:
    """The most enabled tasks due in one minute over a week of real fires."""
    schedules = project.for_target(target)
    due = due_minutes(schedules, NOW, NOW + timedelta(days=7))
    return max(len(group) for group in due.values())


# --- H ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "text", "key", "resolved"),
    [
        ("cron", "H 9 * * 1-5", "digest-acme", "36 9 * * 1-5"),
        ("cron", "H 9 * * 1-5", "digest-globex", "39 9 * * 1-5"),
        ("cron", "H/15 * * * *", "poll-eu", "0-59/15 * * * *"),
        ("cron", "H/15 * * * *", "poll-us", "12-59/15 * * * *"),
        ("cron", "H(0-29) 8 * * *", "report-acme", "22 8 * * *"),
        ("cron", "H H * * H", "weekly-x", "9 3 * * 5"),
        ("cron", "0 H H * *", "monthly-x", "0 8 2 * *"),
        ("daily", "09:H", "digest-acme", "09:36"),
        ("weekly", "H", "digest-acme", "22:36"),
        ("monthly", "H(8-10):H", "close-books", "09:59"),
    ],
)
def test_h_resolves_to_golden_values(form: str, text: str, key: str, resolved: str) -> None:
    """sha256("owner/key") modulo the number of choices: these values never change."""
    pattern = parse_hashed(form, text)
    assert pattern is not None
    assert pattern.render(hash_index("acme", key, pattern.space)) == resolved


def test_h_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "from reconciler.spread import parse_hashed, hash_index;"
        "p = parse_hashed('cron', 'H H * * *');"
        "print([p.render(hash_index('acme', f'k{i}', p.space)) for i in range(20)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert len(set(ast.literal_eval(outputs.pop()))) >= 18  # different keys land apart


def test_h_depends_on_the_owner_and_key_only() -> None:
    pattern = parse_hashed("cron", "H H * * *")
    assert pattern is not None and pattern.space == 1440
    values = {hash_index("acme", f"digest-{i}", 1440) for i in range(200)}
    assert len(values) > 180  # spread over the day, not clustered
    assert hash_index("acme", "digest-1", 1440) != hash_index("other", "digest-1", 1440)
    assert parse_hashed("cron", "0 9 * * THU") is None  # H inside a name is no H


@pytest.mark.parametrize(
    ("form", "text", "message"),
    [
        ("cron", "H(50-70) 9 * * *", "minute field 'H(50-70)' is out of range 0-59"),
        ("cron", "H(30-10) 9 * * *", "the range is reversed"),
        ("cron", "H/0 * * * *", "a step must be at least 1"),
        ("cron", "H,5 9 * * *", "H stands alone in a field"),
        ("cron", "H 25 * * *", "hour field: 25 is out of range 0-23"),
        ("cron", "H 9 * *", "expected 5 fields"),
        ("daily", "09:H/5", "a time has no steps"),
    ],
)
def test_bad_h_says_what_is_wrong(form: str, text: str, message: str) -> None:
    with pytest.raises(HashError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_hashed(form, text)
    assert repr(text) in str(caught.value)


def test_platforms_get_plain_values(tmp_path: Path) -> None:
    from reconciler.model import Target
    from reconciler.platforms.aitroop.provider import AitroopProvider
    from reconciler.platforms.engine.provider import EngineProvider
    from reconciler.platforms.rest import RestProvider

    project = repo_with(
        tmp_path,
        {"name": "e", "schedule": {"cron": "H(0-29) 8 * * 1-5"}, "action": {"prompt": "p"}},
        {"name": "t", "schedule": {"weekly": {"at": "H", "days": ["mon"]}, "timezone": "UTC"},
         "action": {"prompt": "p"}, "targets": ["troop"]},
    )  # fmt: skip
    assert [str(d) for d in project.errors] == []
    by_key = {s.key: s for s in project.schedules}
    engine: RestProvider = EngineProvider(
        None, Target(platform="engine", url="https://x", instance="a"),  # type: ignore[arg-type]
        target_name="eng", owner="acme",
    )  # fmt: skip
    troop: RestProvider = AitroopProvider(
        None, Target(platform="aitroop", url="https://x"),  # type: ignore[arg-type]
        target_name="troop", owner="acme",
    )  # fmt: skip
    e = engine.desired(by_key["e"]).payload
    t = troop.desired(by_key["t"]).payload
    assert e["schedule"]["expression"] == "22 8 * * 1-5"
    assert t["schedule_type"] == "weekly" and t["schedule_config"] == {"time": "06:26", "days": [1]}
    assert by_key["e"].hashed is not None and by_key["e"].hashed.written == "H(0-29) 8 * * 1-5"


def test_next_and_the_plan_see_the_resolved_time(tmp_path: Path) -> None:
    from reconciler.upcoming import upcoming

    project = repo_with(
        tmp_path, {"name": "digest-acme", "schedule": {"daily": "09:H"}, "action": {"prompt": "p"}}
    )
    (item,) = upcoming(project, [], NOW, 2)
    assert item.description == "At 09:36"
    assert [f.strftime("%H:%M") for f in item.fires] == ["09:36", "09:36"]
    assert item.notes == ["H time: 09:H is 09:36"]


# --- spreading ----------------------------------------------------------------------------------


def test_capacity_is_a_fact_of_each_platform() -> None:
    engine, troop = platform_capacity("engine"), platform_capacity("aitroop")
    assert engine is not None and (engine.tasks, engine.tick_seconds) == (3, 30)
    assert troop is not None and (troop.tasks, troop.tick_seconds) == (50, 60)
    assert capacity_of(Facts()) is None  # a plugin that declares none is never spread
    assert platform_capacity("no-such-platform") is None


def test_spread_keeps_engine_minutes_within_three(tmp_path: Path) -> None:
    items = [f"c{i:03d}" for i in range(150)]
    crowded = repo_with(tmp_path / "a", fleet(items, {"cron": "H 9 * * *"}))
    assert peak(crowded, "eng") > 3  # 150 keys hashed into 60 minutes collide
    warnings = [d for d in validate_project(crowded, NOW) if "crowded minutes" in d.message]
    assert len(warnings) == 1 and "d[" in warnings[0].message
    assert "`spread: true` with an H time keeps them apart" in warnings[0].message

    spread = repo_with(tmp_path / "b", fleet(items, {"cron": "H 9 * * *"}, spread=True))
    assert peak(spread, "eng") == 3
    assert [d for d in validate_project(spread, NOW) if d.severity == "warning"] == []
    assert set(times(spread).values()) <= {f"{m} 9 * * *" for m in range(60)}


def test_spread_keeps_aitroop_minutes_within_fifty(tmp_path: Path) -> None:
    items = [f"c{i:03d}" for i in range(450)]
    schedule = {"daily": "09:H(0-9)", "timezone": "UTC"}
    crowded = repo_with(tmp_path / "a", fleet(items, schedule, targets=["troop"]))
    assert peak(crowded, "troop") > 50
    assert any("aitroop starts at most 50" in d.message for d in validate_project(crowded, NOW))

    spread = repo_with(
        tmp_path / "b", fleet(items, schedule, targets=["troop"]), spread_default=True
    )
    assert peak(spread, "troop") == 50
    assert not any("crowded" in d.message for d in validate_project(spread, NOW))


def test_spread_counts_the_targets_other_schedules_and_zones(tmp_path: Path) -> None:
    fixed = [
        {"name": f"fixed-{i}", "schedule": {"cron": "0 8 * * *", "timezone": "UTC"}, "action": {"prompt": "p"}}
        for i in range(3)
    ]  # fmt: skip
    items = [f"c{i:02d}" for i in range(40)]
    # 09:H in Rome is 08:H UTC (07:H in summer): the fixed tasks hold 08:00 UTC in winter.
    project = repo_with(tmp_path, *fixed, fleet(items, {"daily": "09:H"}, spread=True))
    assert peak(project, "eng") == 3
    winter = datetime(2026, 1, 10, tzinfo=timezone.utc)
    due = due_minutes(project.for_target("eng"), winter, winter + timedelta(days=2))
    assert max(len(g) for g in due.values()) == 3


def test_adding_or_removing_one_item_moves_few_others(tmp_path: Path) -> None:
    items = [f"customer-{i:03d}" for i in range(0, 200, 2)]  # 100 items, room for new ones
    before = times(repo_with(tmp_path / "a", fleet(items, {"cron": "H 9 * * 1-5"}, spread=True)))
    moved_counts = []
    for extra in ("customer-051", "customer-101", "customer-151"):  # keys among the others
        after = times(
            repo_with(
                tmp_path / extra, fleet([*items, extra], {"cron": "H 9 * * 1-5"}, spread=True)
            )
        )
        moved_counts.append(sum(1 for k in before if before[k] != after[k]))
    gone = times(
        repo_with(tmp_path / "gone", fleet(items[1:], {"cron": "H 9 * * 1-5"}, spread=True))
    )
    moved_counts.append(sum(1 for k in gone if before[k] != gone[k]))
    assert moved_counts == [0, 3, 0, 0]  # of 100: at most three move, most often none


def test_a_fleet_too_big_for_its_range_keeps_hashed_times_and_says_so(tmp_path: Path) -> None:
    items = [f"c{i:02d}" for i in range(40)]  # 40 tasks, 10 minutes x 3
    project = repo_with(tmp_path, fleet(items, {"cron": "H(0-9) 9 * * *"}, spread=True))
    found = validate_project(project, NOW)
    full = [d for d in found if "has room" in d.message]
    assert len(full) == 1
    assert full[0].message.startswith("d[")
    assert (
        "spread: no value of 'H(0-9) 9 * * *' has room on target 'eng' (3 due tasks a minute"
        in (full[0].message)
    )
    assert peak(project, "eng") > 3


def test_spread_without_h_warns(tmp_path: Path) -> None:
    project = repo_with(
        tmp_path,
        {
            "name": "plain",
            "schedule": {"daily": "09:00"},
            "action": {"prompt": "p"},
            "spread": True,
        },
    )
    (warning,) = [d for d in validate_project(project, NOW) if d.severity == "warning"]
    assert warning.message.startswith("plain: spread: true changes nothing without an H time")
    lines = (tmp_path / "schedules" / "all.yaml").read_text().splitlines()
    assert lines[warning.line - 1].lstrip().startswith("spread:")


def test_spreading_beside_broken_schedules_reports_them_and_goes_on(tmp_path: Path) -> None:
    project = repo_with(
        tmp_path,
        fleet([f"c{i}" for i in range(5)], {"cron": "H 9 * * *"}, spread=True),
        {"name": "bad-cron", "schedule": {"cron": "0 25 * * *"}, "action": {"prompt": "p"}},
        {"name": "bad-h", "schedule": {"daily": "09:H(70-80)"}, "action": {"prompt": "p"}},
    )
    messages = sorted(d.message for d in validate_project(project, NOW) if d.severity == "error")
    assert messages == [
        "bad-cron: invalid cron '0 25 * * *': hour field: 25 is out of range 0-23",
        "bad-h: invalid time '09:H(70-80)': minute field 'H(70-80)' is out of range 0-59",
    ]
    assert sorted(s.key for s in project.schedules) == ["bad-cron", *(f"d-c{i}" for i in range(5))]
