"""`schedctl run`'s options become one RunRequest, checked in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import UsageError
from reconciler.runner.project import Selection
from reconciler.runner.request import RunRequest


def build(**changes: Any) -> RunRequest:
    options: dict[str, Any] = {
        "paths": (), "config": None, "targets": (), "watch": False, "once": None,
        "window": None, "db": None, "store_url": None, "lease": 30.0, "executor": "print", "max_concurrent": 3,
        "missed": "once", "semantics": None, "timeout": 600.0, "grace": 30.0, "fmt": "text",
    }  # fmt: skip
    return RunRequest(**{**options, **changes})


@pytest.mark.parametrize(
    ("changes", "mode"),
    [
        ({}, "serve"),
        ({"watch": True}, "watch"),
        ({"once": "a"}, "once"),
        ({"window": "now..+1d"}, "simulate"),
    ],
)
def test_mode_follows_the_options(changes: dict[str, Any], mode: str) -> None:
    assert build(**changes).mode == mode


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"targets": ("a", "b")}, "run takes one --target"),
        ({"watch": True, "once": "a"}, "do not go together"),
        ({"once": "a", "window": "now..+1d"}, "do not go together"),
        ({"store_url": "postgresql://db/x", "window": "now..+1d"}, "no shared --store"),
    ],
)
def test_refuses_what_does_not_go_together(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build(**changes)


def test_a_target_named_twice_is_one_target() -> None:
    assert build(targets=("a", "a")).target == "a"


def test_a_simulation_writes_no_runs_db_unless_named(tmp_path: Path) -> None:
    selection = Selection(schedules=[], platform="engine", target=None, root=tmp_path)
    assert build(window="now..+1d").options(selection).db_path is None
    assert build(window="now..+1d", db="x.db").options(selection).db_path == Path("x.db")
    assert build().options(selection).db_path == tmp_path / ".schedctl" / "runs.db"
    assert build(semantics="aitroop").options(selection).semantics == "aitroop"
    assert build().options(selection).semantics == "engine"
