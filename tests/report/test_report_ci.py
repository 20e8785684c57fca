"""The report in CI: the nightly workflow `init` writes uploads report.html (and publishes it
where the repository enables GitHub Pages); the pull-request workflow uploads one too and its
plan comment links it through SCHEDCTL_REPORT_URL.

(Schema validity, zizmor, pins and permissions of every scaffolded workflow are checked in
tests/cli/test_workflows.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import SandboxOptions, running_sandbox
from reconciler.scaffold import init_repository
from tests.cli.test_workflows import load_workflow
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc

URL = "https://github.com/acme/schedules/actions/runs/1/artifacts/2"


@pytest.fixture(params=["engine", "aitroop"])
def scaffolded(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    init_repository(tmp_path, owner="acme", platform=request.param)
    return tmp_path


def steps_of(path: Path, job: str | None = None) -> list[dict[str, Any]]:
    jobs = load_workflow(path)["jobs"]
    return list((jobs[job] if job else next(iter(jobs.values())))["steps"])


def test_the_nightly_workflow_uploads_the_report(scaffolded: Path) -> None:
    steps = steps_of(scaffolded / ".github/workflows/schedctl-drift.yml")
    names = [s.get("name") for s in steps]
    report = steps[names.index("Report")]
    assert names.index("Report") > names.index("Audit")
    assert report["run"] == "schedctl --no-color report --since 7d --until +7d --out report.html"
    assert report["if"] == "${{ !cancelled() }}"  # also after a drift or health step failed
    (token,) = report["env"]
    assert report["env"][token] == f"${{{{ secrets.{token} }}}}"
    upload = steps[names.index("Upload the report")]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "report.html" and upload["with"]["name"] == "schedctl-report"


def test_the_nightly_workflow_publishes_the_report_where_pages_is_enabled(scaffolded: Path) -> None:
    workflow = load_workflow(scaffolded / ".github/workflows/schedctl-drift.yml")
    drift, publish = workflow["jobs"]["drift"], workflow["jobs"]["publish"]
    steps = {s.get("id"): s for s in drift["steps"]}
    # Whether Pages is on is asked, never assumed: where it is off the step fails and nothing
    # more happens; the artifact upload does not depend on it.
    ask = steps["pages"]
    assert ask["uses"].startswith("actions/configure-pages@") and ask["continue-on-error"] is True
    names = [s.get("name") for s in drift["steps"]]
    assert names.index("Upload the report") < names.index(ask["name"])
    assert "steps.pages.outcome == 'success'" in steps["site"]["if"]
    assert "hashFiles('report.html')" in steps["site"]["if"]  # the report step may have failed
    assert steps["site"]["run"] == "mkdir -p site && cp report.html site/index.html"
    upload = steps["upload-site"]
    assert upload["uses"].startswith("actions/upload-pages-artifact@")
    assert upload["with"]["path"] == "site" and "steps.site.outcome" in upload["if"]
    assert drift["outputs"]["site"] == "${{ steps.upload-site.outcome }}"
    # Deploying is its own job, the only one with Pages write and an OIDC token.
    assert publish["needs"] == "drift"
    assert publish["if"] == "${{ !cancelled() && needs.drift.outputs.site == 'success' }}"
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert publish["environment"]["name"] == "github-pages"
    (deploy,) = publish["steps"]
    assert deploy["uses"].startswith("actions/deploy-pages@") and deploy["id"] == "deployment"
    assert publish["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert drift["permissions"]["pages"] == "read"  # configure-pages only reads the site


def test_the_plan_comment_links_the_report_the_pull_request_uploads(scaffolded: Path) -> None:
    steps = steps_of(scaffolded / ".github/workflows/schedctl-plan.yml", "plan")
    ids = [s.get("id") for s in steps]
    assert ids.index("report") < ids.index("upload-report") < ids.index("plan")
    assert steps[ids.index("report")]["continue-on-error"] is True  # never blocks the plan
    upload = steps[ids.index("upload-report")]
    assert upload["if"] == "steps.report.outcome == 'success'"
    assert upload["with"]["path"] == "schedctl-report.html"
    plan = steps[ids.index("plan")]
    assert plan["env"]["SCHEDCTL_REPORT_URL"] == "${{ steps.upload-report.outputs.artifact-url }}"


def test_plan_markdown_links_the_report_only_when_an_https_url_is_given(tmp_path: Path) -> None:
    with running_sandbox(SandboxOptions(platform="engine", retry_after=0)) as sandbox:
        repo = Repo(tmp_path, sandbox.url, "engine")
        repo.write("a", prompt_doc("alpha"))
        args = ["plan", "--format", "markdown"]
        linked = run_cli(args, cwd=repo.root, env={"SCHEDCTL_REPORT_URL": URL})
        plain = run_cli(args, cwd=repo.root, env={"SCHEDCTL_REPORT_URL": ""})
        odd = run_cli(args, cwd=repo.root, env={"SCHEDCTL_REPORT_URL": "javascript:alert(1)"})
    assert linked.returncode == plain.returncode == odd.returncode == 0, linked.stderr
    assert f"[The week's report]({URL})" in linked.stdout
    assert "report" not in plain.stdout.lower() and "javascript" not in odd.stdout
    assert linked.stdout.replace(plain.stdout.split("\n<sub>")[0], "").startswith("\n[The week")
