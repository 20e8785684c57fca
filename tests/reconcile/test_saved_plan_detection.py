"""`apply PATH`: one existing .json file is a saved plan; anything else is schedule files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import UsageError
from reconciler.reconcile import saved_plan

from ..conftest import run_cli


def test_schedule_paths_are_not_a_saved_plan(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\n")
    assert saved_plan([str(tmp_path / "a.yaml")]) is None
    assert saved_plan([str(tmp_path / "missing.json")]) is None
    assert saved_plan([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) is None


def test_a_json_file_that_is_no_plan_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match=r"plan\.json: not a saved plan"):
        saved_plan([str(bad)])


def test_apply_of_a_broken_plan_file_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text("{not json")
    out = run_cli(["apply", "plan.json", "--auto-approve"], cwd=tmp_path)
    assert out.returncode == 1
    assert "plan.json: not a saved plan" in out.stderr and "Traceback" not in out.stderr
