"""The nightly workflow `schedctl init` writes: audit after drift, one schedule-health issue.

(Schema validity, zizmor, pins and permissions of every scaffolded workflow are checked in
tests/cli/test_workflows.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.scaffold import REPORTS, init_repository
from tests.cli.test_workflows import load_workflow

DRIFT = ".github/workflows/schedctl-drift.yml"


@pytest.fixture(params=["engine", "aitroop"])
def nightly(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    init_repository(tmp_path, owner="acme", platform=request.param)
    return load_workflow(tmp_path / DRIFT)


def test_audit_runs_after_drift_and_keeps_one_health_issue(nightly: dict[str, object]) -> None:
    job = nightly["jobs"]["drift"]  # type: ignore[index]
    names = [s.get("name") for s in job["steps"]]
    assert names.index("Audit") > names.index("Open, update or close the drift issue")
    audit = next(s for s in job["steps"] if s.get("id") == "audit")
    assert (
        "schedctl --no-color audit --since 7d --format markdown > schedctl-health.md"
        in audit["run"]
    )
    assert 'if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then exit "$code"; fi' in audit["run"]
    issue = job["steps"][names.index("Open, update or close the schedule health issue")]
    assert issue["env"] == {"AUDIT_EXITCODE": "${{ steps.audit.outputs.exitcode }}"}
    script = issue["with"]["script"]
    assert "<!-- schedctl-health -->" in script and "AUDIT_EXITCODE === '2'" in script
    assert "'schedctl: schedule health'" in script and "state: 'closed'" in script


def test_the_two_issue_steps_are_one_template(nightly: dict[str, object]) -> None:
    """The drift and health steps differ only in their report's words: shared, not pasted."""
    job = nightly["jobs"]["drift"]  # type: ignore[index]
    scripts = [s["with"]["script"] for s in job["steps"] if "script" in s.get("with", {})]
    assert len(scripts) == 2
    (_, drift), (_, health) = REPORTS
    text = scripts[0]
    for key in ("MARKER", "EXIT_ENV", "REPORT", "TITLE", "RESOLVED", "INTRO", "ADVICE"):
        text = text.replace(drift[key], health[key])
    assert text == scripts[1]
