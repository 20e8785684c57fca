"""What a runner keeps in memory: the models it fires, not what loading them needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import weakref
from pathlib import Path
from typing import Any

import pytest

import reconciler.loader as loader
import reconciler.runner.project as project_module
from reconciler.loader import Project, load_project
from reconciler.runner import Runner, RunnerOptions
from reconciler.runner.project import load_selection
from reconciler.timing import parse_cron
from reconciler.tuning import tuned
from reconciler.validate import check_project

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
        return project

    monkeypatch.setattr(project_module, "load_project", spy)
    with tuned():  # as `schedctl run` loads: the collector off, so only references count
        selection = load_selection([], None, None)
        assert len(loaded) == 5 and all(ref() is None for ref in loaded)
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


LATER = {  # problems found after loading: a lean load answers from the positions it kept
    "a.yaml": """
        name: never
        schedule: {cron: "0 0 30 2 *"}
        action: {prompt: do never}
        ---
        name: plain
        schedule: {every: 1h}
        spread: true
        action: {prompt: do plain}
        """,
    "b.yaml": """
        name: plain
        schedule: {every: 2h}
        action: {prompt: again}
        """,
    "fleet.yaml": """
        for_each: [north, south]
        template:
          targets: [reports]
          name: "sweep-{{ item }}"
          history: fresh
          schedule: {weekly: {at: "07:30", days: [mon]}}
          action: {prompt: "Sweep the {{ item }} queue."}
        """,
    "over.yaml": """
        name: over
        schedule: {daily: "08:00"}
        targets: [prod, reports]
        action: {prompt: do over}
        overrides:
          reports:
            history: fresh
        """,
}
LATER_CONFIG = """
defaults: {timezone: UTC, targets: [prod]}
targets:
  prod: {platform: engine, url: "https://engine.example.com"}
  reports: {platform: aitroop, url: "https://app.aitroop.example"}
"""


def test_a_lean_load_names_the_lines_a_full_load_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schedctl.yaml").write_text(textwrap.dedent(LATER_CONFIG))
    (tmp_path / "schedules").mkdir()
    for name, text in LATER.items():
        (tmp_path / "schedules" / name).write_text(textwrap.dedent(text).lstrip("\n"))
    full = check_project(load_project()).all()
    lean_project = load_project(lean=True)
    # Nothing of the parsed YAML is kept: positions only.
    assert all(
        s.positions is not None and not s.merged and not s.doc.data for s in lean_project.schedules
    )
    lean = check_project(lean_project).all()
    assert lean == full
    said = "\n".join(map(str, full))  # each kind of late finding is in the comparison
    for expected in (
        "schedules/a.yaml:2:18: error: never: cron '0 0 30 2 *' can never fire",
        "schedules/b.yaml:1:7: error: duplicate schedule 'plain' for target 'prod' (first "
        "defined at schedules/a.yaml:5)",
        "schedules/a.yaml:7:9: warning: plain: spread: true changes nothing",
        "schedules/fleet.yaml:5:12: error: sweep[*]: aitroop target 'reports'",
        "schedules/over.yaml:7:14: error: over: aitroop target 'reports'",
    ):
        assert expected in said


def test_a_lean_load_lets_each_files_yaml_go_before_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {f"f{i}.yaml": [doc(f"job-{i}", {"every": "1h"})] for i in range(3)})
    read = loader.read_yaml_file
    alive: list[list[bool]] = []  # at each file's read, whether each earlier file's data lives
    docs: list[weakref.ref[Any]] = []

    def spy(path: Path) -> Any:
        found = read(path)
        if path.name != "schedctl.yaml":  # the config's data is the project's to keep
            alive.append([ref() is not None for ref in docs])
            docs.extend(weakref.ref(data) for data, _ in found[0])
        return found

    monkeypatch.setattr(loader, "read_yaml_file", spy)
    with tuned():  # only references count
        project = load_project(lean=True)
        assert [s.key for s in project.schedules] == ["job-0", "job-1", "job-2"]
        assert alive == [[], [False], [False, False]] and docs[-1]() is None
        loader.read_yaml_file = read  # a full load keeps them, as plan and validate want
        kept = load_project()
        assert all(s.merged is s.doc.data and s.merged for s in kept.schedules)
