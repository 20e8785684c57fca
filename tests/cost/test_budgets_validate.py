"""Budgets fail `validate` offline, naming the schedule's line, the budget's line and the
figure, with an example that passes; a budget_exception turns the excess into a note."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import run_cli

CONFIG = """\
owner: team-a
defaults: {timezone: Europe/Rome, targets: [prod]}
budgets:
  "poll-*":
    min_interval: 15m
targets:
  prod:
    platform: engine
    sandbox: .schedctl/sandbox.db
    budget:
      max_runs_per_day: 96
      max_tokens_per_day: 1000000
      max_concurrent_per_minute: 2
"""


def repo(tmp_path: Path, body: str, config: str = CONFIG) -> Path:
    (tmp_path / "schedctl.yaml").write_text(config)
    (tmp_path / "schedules").mkdir(exist_ok=True)
    (tmp_path / "schedules" / "x.yaml").write_text(body)
    return tmp_path


def validate(root: Path, *args: str) -> tuple[int, list[str]]:
    done = run_cli(["validate", str(root), *args], cwd=root)
    return done.returncode, (done.stdout + done.stderr).splitlines()


def test_runs_per_day_over_a_target_budget(tmp_path: Path) -> None:
    root = repo(tmp_path, "name: digest\nschedule: {every: 5m}\naction: {prompt: Poll.}\n")
    code, lines = validate(root)
    assert code == 1
    assert (
        "schedules/x.yaml:2:19: error: digest: target prod allows at most 96 runs/day (budget at "
        "schedctl.yaml:11); this schedule makes 288 (every 5m); e.g. every: 15m (96 runs/day) "
        'passes, or budget_exception: "why" on the schedule lets a reviewed change through'
    ) in lines


def test_a_schedule_within_budget_passes(tmp_path: Path) -> None:
    body = "name: digest\nschedule: {every: 15m}\naction: {prompt: Poll.}\n"
    code, lines = validate(repo(tmp_path, body))
    assert code == 0, lines


def test_min_interval_of_a_glob_budget_and_a_cron(tmp_path: Path) -> None:
    body = 'name: poll-queue\nschedule: {cron: "0,10 9 * * *"}\naction: {prompt: Poll.}\n'
    code, lines = validate(repo(tmp_path, body))
    assert code == 1
    assert (
        'schedules/x.yaml:2:18: error: poll-queue: budget "poll-*" allows runs at least 15m '
        'apart (budget at schedctl.yaml:5); this schedule runs 10m apart (cron "0,10 9 * * *"); '
        'e.g. every: 15m passes, or budget_exception: "why" on the schedule lets a reviewed '
        "change through"
    ) in lines
    other = 'name: report\nschedule: {cron: "0,10 9 * * *"}\naction: {prompt: Poll.}\n'
    assert validate(repo(tmp_path, other))[0] == 0  # the glob covers poll-* only


def test_tokens_from_an_estimate(tmp_path: Path) -> None:
    body = (
        "name: big\nschedule: {cron: '0 */2 * * *'}\nestimate: {tokens: 100000}\n"
        "action: {prompt: Big.}\n"
    )
    code, lines = validate(repo(tmp_path, body))
    assert code == 1
    assert (
        "schedules/x.yaml:2:18: error: big: target prod allows at most 1.0 M tokens/day (budget "
        "at schedctl.yaml:12); this schedule makes ≈ 1.2 M tokens/day (12 runs/day × 100.0 k "
        'tokens per run, its estimate; cron "0 */2 * * *"); e.g. every: 2h24m (10 runs/day) '
        'passes, or budget_exception: "why" on the schedule lets a reviewed change through'
    ) in lines


def test_an_exception_lets_it_through_as_a_note(tmp_path: Path) -> None:
    body = (
        "name: digest\nschedule: {every: 5m}\nbudget_exception: incident week, approved by ops\n"
        "action: {prompt: Poll.}\n"
    )
    code, lines = validate(repo(tmp_path, body))
    assert code == 0, lines
    assert (
        "schedules/x.yaml:3:19: warning: digest: target prod allows at most 96 runs/day (budget "
        "at schedctl.yaml:11); this schedule makes 288 (every 5m); e.g. every: 15m (96 runs/day) "
        "passes; allowed by budget_exception: 'incident week, approved by ops'"
    ) in lines


def test_too_many_due_in_one_minute(tmp_path: Path) -> None:
    docs: list[dict[str, Any]] = [
        {"name": n, "schedule": {"daily": "09:00"}, "action": {"prompt": "Go."}}
        for n in ("a", "b", "c")
    ]
    code, lines = validate(repo(tmp_path, yaml.safe_dump_all(docs, sort_keys=False)))
    assert code == 1
    (line,) = [x for x in lines if "due in one minute" in x]
    assert line.startswith(
        "schedctl.yaml:13:34: error: target prod allows at most 2 of its schedules due in one "
        "minute on target prod; 3 are due at "
    )
    assert "UTC (a, b, c)" in line and 'spread: true (daily: "09:H")' in line
    docs[2]["budget_exception"] = "reviewed"  # not counted: the other two fit
    assert validate(repo(tmp_path, yaml.safe_dump_all(docs, sort_keys=False)))[0] == 0


def test_a_template_says_it_once(tmp_path: Path) -> None:
    body = yaml.safe_dump(
        {
            "fleet": "poll",
            "for_each": ["acme", "globex"],
            "template": {
                "name": "poll-{{ item }}",
                "schedule": {"every": "5m"},
                "action": {"prompt": "Poll {{ item }}."},
            },
        },
        sort_keys=False,
    )
    code, lines = validate(repo(tmp_path, body))
    assert code == 1
    runs = [x for x in lines if "runs/day" in x]
    assert len(runs) == 1 and "poll[*]: target prod allows at most 96 runs/day" in runs[0]


def test_a_budget_must_name_a_limit(tmp_path: Path) -> None:
    config = "\n".join(
        line for line in CONFIG.splitlines() if not line.startswith("      ")
    ).replace("    budget:", "    budget: {}")
    code, lines = validate(
        repo(tmp_path, "name: a\nschedule: {daily: '09:00'}\naction: {prompt: A.}\n", config)
    )
    assert code == 1
    assert any(
        "schedctl.yaml:10" in x and "a budget names at least one limit" in x for x in lines
    ), lines
