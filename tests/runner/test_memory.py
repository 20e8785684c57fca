"""What a runner keeps in memory: the models it fires, not what loading them needed."""

from __future__ import annotations

import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

import reconciler.runner.project as project_module
from reconciler.loader import Project
from reconciler.runner import Runner, RunnerOptions
from reconciler.runner.project import load_selection
from reconciler.timing import parse_cron
from reconciler.tuning import tuned

from .conftest import doc, write_project


def test_the_selection_lets_the_parsed_yaml_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"a.yaml": [doc(f"job-{i}", {"every": "1h"}) for i in range(5)]})
    loaded: list[weakref.ref[Any]] = []
    load_project = project_module.load_project

    def spy(*args: Any, **kwargs: Any) -> Project:
        project = load_project(*args, **kwargs)
        loaded.extend(weakref.ref(s) for s in project.schedules)
        loaded.extend(weakref.ref(s.merged) for s in project.schedules)
        return project

    monkeypatch.setattr(project_module, "load_project", spy)
    with tuned():  # as `schedctl run` loads: the collector off, so only references count
        selection = load_selection([], None, None)
        assert len(loaded) == 10 and all(ref() is None for ref in loaded)
        assert [s.key for s in selection.schedules] == [f"job-{i}" for i in range(5)]
        assert selection.schedules[0].file == "schedules/a.yaml"
        runner = Runner(selection.schedules, RunnerOptions(db_path=tmp_path / "runs.db"))
        runner.start()
    try:
        assert runner.next_fire("job-3") is not None
    finally:
        runner.shutdown()


def test_cron_fields_spelled_alike_share_one_value_set() -> None:
    a, b = parse_cron("17 3 * * 1-5"), parse_cron("17 9 1 * 1-5")
    assert a.minutes is b.minutes and a.weekdays is b.weekdays and a.months is b.months
    assert a.hours != b.hours and a.days != b.days
    assert parse_cron("0 0 * * 7").weekdays == frozenset({0})  # Sunday as 7 still means 0


def test_importing_the_runner_leaves_httpx_to_the_http_executors() -> None:
    probe = (
        "import sys; import reconciler.runner; before = 'httpx' in sys.modules; "
        "from reconciler.runner import parse_executor; "
        "parse_executor('http:http://127.0.0.1:9/run').close(); "
        "print(before, 'httpx' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
