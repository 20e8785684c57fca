"""Pause and resume in place: the pause kept in the marker, plans that leave it be until it
ends, then resume it. Against the sandbox on both platforms, the CLI run as a user runs it; the
pure parts (the marker's pause, the plan at a chosen `now`, the input checks) beside."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import UsageError
from reconciler.forms import DesiredTask, Listing, LiveTask, Marker, Pause, normalize
from reconciler.pause import NOTE_MAX, new_pause, pause_target
from reconciler.plan import Plan, diff_target
from reconciler.platforms.rest import MarkerStyle
from reconciler.reconcile import apply_plan, make_plan
from reconciler.render.plan import render_markdown, render_plan
from reconciler.sandbox import RunningSandbox
from reconciler.targets import connect
from tests.conftest import run_cli
from tests.reconcile.conftest import FAST, Repo, prompt_doc, writes
from tests.reconcile.test_lifecycle import edit_live, task_of
from tests.reconcile.test_reconcile_ownership import by_key
from tests.reconcile.test_reconcile_sandbox import raw_list
from tests.reliability.conftest import marker_of

WHO = "ana@example.com"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def git_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose `git config user.email` is WHO (and no system config)."""
    config = tmp_path / "gitconfig"
    config.write_text(f"[user]\n\temail = {WHO}\n")
    return {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}


def cli(repo: Repo, *args: str, env: dict[str, str] | None = None) -> Any:
    proc = run_cli(list(args), cwd=repo.root, env=env, input="")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def marked_text(platform: str, task: dict[str, Any]) -> str:
    """The field the marker (and a pause) sits in."""
    return str(task["description"] if platform == "engine" else task["name"])


def applied(repo: Repo, sandbox: RunningSandbox, *names: str) -> dict[str, str]:
    """Apply schedules `names`; key -> live id."""
    repo.write("s", *(prompt_doc(n) for n in names))
    done = cli(repo, "apply", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    return by_key(repo, sandbox)


def plan_at(repo: Repo, now: datetime) -> tuple[Plan, Any]:
    """A plan (and its apply) made as if at `now`: the real sandbox, the clock injected."""
    project = repo.project()
    with connect(project.config, project.root, ["t"], retry=FAST) as conns:
        plan = make_plan(project, conns, now=now)
        return plan, apply_plan(plan, conns)


# ---------------------------------------------------------------------------------------------
# Against the sandbox, through the CLI


def test_a_pause_for_ends_on_the_first_apply_after_it_and_not_before(
    repo: Repo, sandbox: RunningSandbox, git_home: dict[str, str]
) -> None:
    ids = applied(repo, sandbox, "alpha", "beta")
    # Long enough for the apply within it to finish first on a loaded machine.
    paused = cli(repo, "pause", "alpha", "--for", "10s", "--note", "vendor outage", env=git_home)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert "~ t/alpha pause: ok - paused until" in paused.stdout
    live = task_of(sandbox, repo.platform, ids["alpha"])
    assert live["enabled"] is False
    _, marker = MarkerStyle(*_style(repo.platform)).detach(marked_text(repo.platform, live))
    assert marker is not None and marker.pause is not None
    assert marker.pause.by == WHO and marker.pause.note == "vendor outage"
    until = datetime.fromisoformat(str(marker.pause.until).replace("Z", "+00:00"))

    mark = len(sandbox.request_log)
    before = cli(repo, "apply", "--auto-approve")  # within the pause: nothing is written
    assert before.returncode == 0, before.stdout + before.stderr
    assert datetime.now(timezone.utc) < until, "the machine was too slow for this test"
    assert writes(sandbox.request_log[mark:]) == []
    assert f"paused until {marker.pause.until} by {WHO} (vendor outage)" in before.stdout
    assert task_of(sandbox, repo.platform, ids["alpha"])["enabled"] is False

    time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    after = cli(repo, "apply", "--auto-approve")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "~ t/alpha resume: ok" in after.stdout and "the pause ended" in after.stdout
    assert "1 resumed" in after.stdout
    method = "PATCH" if repo.platform == "engine" else "PUT"
    assert writes(sandbox.request_log[mark:]) == [(method, f"{_tasks(repo)}/{ids['alpha']}")]
    live = task_of(sandbox, repo.platform, ids["alpha"])
    assert live["enabled"] is True and "paused" not in marked_text(repo.platform, live)
    assert by_key(repo, sandbox) == ids  # the same live objects, nothing recreated
    assert cli(repo, "plan", "--detailed-exitcode").returncode == 0


def test_a_pause_keeps_the_id_and_running_it_again_writes_nothing(
    repo: Repo, sandbox: RunningSandbox, git_home: dict[str, str]
) -> None:
    ids = applied(repo, sandbox, "alpha")
    until = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    args = ("pause", "alpha", "--until", until.isoformat(), "--note", "freeze: [[release]]")
    first = cli(repo, *args, env=git_home)
    assert first.returncode == 0, first.stderr
    assert by_key(repo, sandbox) == ids and len(raw_list(sandbox, repo.platform)) == 1
    text = marked_text(repo.platform, task_of(sandbox, repo.platform, ids["alpha"]))
    stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"paused until {stamp} by {WHO}: freeze: [[release]]" in text
    assert marker_of(repo.platform, task_of(sandbox, repo.platform, ids["alpha"])) == (
        "team-a/alpha"  # the marker itself is where it was: the last thing in the field
    )

    mark = len(sandbox.request_log)
    again = cli(repo, *args, env=git_home)
    assert again.returncode == 0, again.stderr
    assert "already paused until" in again.stdout and "nothing to do" in again.stdout
    assert writes(sandbox.request_log[mark:]) == []

    # A plan leaves it be: a note, not a change, and not exit 2.
    planned = cli(repo, "plan", "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout
    assert f". paused alpha  'Alpha'  (id {ids['alpha']})" in planned.stdout
    assert f"paused until {stamp} by {WHO} (freeze: [[release]])" in planned.stdout


def test_resume_enables_clears_the_pause_and_a_second_resume_does_nothing(
    repo: Repo, sandbox: RunningSandbox, git_home: dict[str, str]
) -> None:
    ids = applied(repo, sandbox, "alpha", "beta")
    paused = cli(repo, "pause", "alpha", "beta", "--note", "until further notice", env=git_home)
    assert paused.returncode == 0, paused.stderr
    assert "2 to pause" in paused.stdout and "2 paused" in paused.stdout
    planned = cli(repo, "plan", "--detailed-exitcode")
    assert planned.returncode == 0 and f"paused (no end) by {WHO}" in planned.stdout

    resumed = cli(repo, "resume", "alp*")  # a glob: alpha alone
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "~ t/alpha resume: ok" in resumed.stdout and "1 resumed" in resumed.stdout
    alpha = task_of(sandbox, repo.platform, ids["alpha"])
    assert alpha["enabled"] is True and "paused" not in marked_text(repo.platform, alpha)
    assert task_of(sandbox, repo.platform, ids["beta"])["enabled"] is False
    assert by_key(repo, sandbox) == ids

    mark = len(sandbox.request_log)
    again = cli(repo, "resume", "alpha")
    assert again.returncode == 0 and "alpha (id " in again.stdout
    assert "is not paused: nothing to do" in again.stdout
    assert writes(sandbox.request_log[mark:]) == []


def test_a_disable_made_by_hand_is_drift_as_before(repo: Repo, sandbox: RunningSandbox) -> None:
    ids = applied(repo, sandbox, "alpha")
    edit_live(sandbox, repo.platform, ids["alpha"], enabled=False)  # in the platform's UI
    planned = cli(repo, "plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout
    assert f"~ alpha  'Alpha'  (id {ids['alpha']})" in planned.stdout
    assert "enabled: false -> true" in planned.stdout and "paused" not in planned.stdout
    status = cli(repo, "status")
    assert "disabled; differs from the repo" in status.stdout and "paused" not in status.stdout
    assert cli(repo, "apply", "--auto-approve").returncode == 0
    assert task_of(sandbox, repo.platform, ids["alpha"])["enabled"] is True


def test_an_update_of_a_paused_task_keeps_it_paused(
    repo: Repo, sandbox: RunningSandbox, git_home: dict[str, str]
) -> None:
    ids = applied(repo, sandbox, "alpha")
    assert cli(repo, "pause", "alpha", "--for", "1d", "--note", "n", env=git_home).returncode == 0
    pause = _live_pause(repo, sandbox, ids["alpha"])
    repo.write("s", prompt_doc("alpha", "A new prompt."))
    done = cli(repo, "apply", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 updated" in done.stdout and "enabled" not in done.stdout.split("Apply")[0]
    live = task_of(sandbox, repo.platform, ids["alpha"])
    assert live["enabled"] is False and _live_pause(repo, sandbox, ids["alpha"]) == pause
    assert "A new prompt." in json.dumps(live)
    assert cli(repo, "plan", "--detailed-exitcode").returncode == 0


def test_plans_at_a_later_now_resume_and_json_markdown_and_status_show_pauses(
    repo: Repo, sandbox: RunningSandbox, git_home: dict[str, str]
) -> None:
    ids = applied(repo, sandbox, "alpha", "beta")
    note = "vendor outage"
    assert cli(repo, "pause", "alpha", "--for", "4h", "--note", note, env=git_home).returncode == 0
    pause = _live_pause(repo, sandbox, ids["alpha"])
    assert pause.until is not None
    until = datetime.fromisoformat(pause.until.replace("Z", "+00:00"))

    data = json.loads(cli(repo, "plan", "--format", "json").stdout)
    assert data["format_version"] == "3"
    (change,) = data["targets"][0]["changes"]
    assert change["action"] == "paused" and change["remote_id"] == ids["alpha"]
    assert change["pause"] == {"until": pause.until, "by": WHO, "note": note}
    assert data["summary"]["paused"] == 1 and data["summary"]["resume"] == 0
    markdown = cli(repo, "plan", "--format", "markdown").stdout
    assert "paused <b>alpha</b>" in markdown
    assert f"paused until {pause.until} by {WHO} ({note})" in markdown
    status = cli(repo, "status")
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if " alpha " in line)
    assert "paused until" in row and "in sync" in row and "drifted" not in row
    assert f"note: target t: alpha paused until {pause.until} by {WHO} ({note})" in status.stdout

    # Not before: a second short of its end the plan still leaves it be, and apply writes nothing.
    mark = len(sandbox.request_log)
    plan, result = plan_at(repo, until - timedelta(seconds=1))
    assert not plan.pending and plan.summary["paused"] == 1 and result.ok
    assert writes(sandbox.request_log[mark:]) == []
    # At its end: one resume, applied by id, saying so; the JSON plan has the kind.
    plan, result = plan_at(repo, until)
    (resume,) = plan.targets[0].changes
    assert resume.action == "resume" and resume.remote_id == ids["alpha"]
    assert resume.pause == pause and plan.summary["resume"] == 1
    assert "the pause ended: apply enables it" in resume.reason
    assert json.loads(json.dumps(plan.to_dict()))["targets"][0]["changes"][0]["action"] == "resume"
    assert Plan.from_dict(plan.to_dict()).targets[0].changes[0] == resume
    assert "1 to resume" in render_markdown(plan, until, find_commit=False)
    assert [r.status for r in result.results] == ["done"]
    live = task_of(sandbox, repo.platform, ids["alpha"])
    assert live["enabled"] is True and "paused" not in marked_text(repo.platform, live)
    assert by_key(repo, sandbox) == ids


def test_a_saved_plan_made_before_a_new_pause_is_stale(
    repo: Repo, sandbox: RunningSandbox, git_home: dict[str, str]
) -> None:
    ids = applied(repo, sandbox, "alpha")
    assert cli(repo, "pause", "alpha", "--for", "1d", "--note", "one", env=git_home).returncode == 0
    repo.write("s", prompt_doc("alpha", "Changed."))
    assert cli(repo, "plan", "--out", "plan.json").returncode == 0
    # The same task paused again with another note: only the marker's pause moved.
    assert cli(repo, "pause", "alpha", "--for", "1d", "--note", "two", env=git_home).returncode == 0
    mark = len(sandbox.request_log)
    stale = cli(repo, "apply", "plan.json")
    assert stale.returncode == 1 and "changed since the plan was made" in stale.stderr
    assert writes(sandbox.request_log[mark:]) == []
    assert _live_pause(repo, sandbox, ids["alpha"]).note == "two"


def test_who_is_the_login_name_without_a_git_email(
    repo: Repo, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    ids = applied(repo, sandbox, "alpha")
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    env = {"GIT_CONFIG_GLOBAL": str(empty), "GIT_CONFIG_NOSYSTEM": "1", "USER": "night shift"}
    assert cli(repo, "pause", "alpha", "--note", "n", env=env).returncode == 0
    assert _live_pause(repo, sandbox, ids["alpha"]).by == "nightshift"  # one word


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pause", "alpah", "--note", "n"], "no schedule 'alpah' in the repository"),
        (["pause", "alpah", "--note", "n"], "did you mean 'alpha'?"),
        (["pause", "nothing-*", "--note", "n"], "no schedule 'nothing-*'"),
        (["resume", "alpah"], "no schedule 'alpah'"),
        (["pause", "alpha", "--for", "4 hours", "--note", "n"], "--for: invalid duration"),
        (["pause", "alpha", "--for", "0s", "--note", "n"], "longer than zero"),
        (["pause", "alpha", "--until", "2020-01-01T00:00Z", "--note", "n"], "is in the past"),
        (["pause", "alpha", "--until", "tomorrow", "--note", "n"], "not an ISO 8601"),
        (
            ["pause", "alpha", "--for", "1h", "--until", "2099-01-01T00:00Z", "--note", "n"],
            "--for and --until do not go together",
        ),
        (["pause", "alpha"], "--note is required"),
        (["pause", "alpha", "--note", "  "], "--note is required"),
        (["pause", "alpha", "--note", "x" * (NOTE_MAX + 1)], f"at most {NOTE_MAX}"),
        (["pause", "alpha", "--note", "a\x07b"], "control characters"),
        (["pause", "gamma", "--note", "n"], "'gamma' is not on the platform yet"),
        (["pause", "alpha", "--target", "nope", "--note", "n"], "nope"),
    ],
)
def test_bad_input_is_a_clear_error_and_nothing_is_written(
    repo: Repo, sandbox: RunningSandbox, args: list[str], message: str
) -> None:
    applied(repo, sandbox, "alpha")
    repo.write("more", prompt_doc("gamma"))  # in the repository, never applied
    mark = len(sandbox.request_log)
    proc = cli(repo, *args)
    assert proc.returncode == 1, proc.stdout
    assert message in proc.stderr, proc.stderr
    assert writes(sandbox.request_log[mark:]) == []


def test_pausing_one_key_and_a_missing_one_writes_neither(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    ids = applied(repo, sandbox, "alpha")
    repo.write("more", prompt_doc("gamma"))
    mark = len(sandbox.request_log)
    proc = cli(repo, "pause", "alpha", "gamma", "--note", "n")
    assert proc.returncode == 1 and "nothing was changed" in proc.stderr
    assert writes(sandbox.request_log[mark:]) == []
    assert task_of(sandbox, repo.platform, ids["alpha"])["enabled"] is True


# ---------------------------------------------------------------------------------------------
# Pure parts


def _style(platform: str) -> tuple[str, str, str]:
    return ("[schedctl:", "]", "\n\n") if platform == "engine" else ("[[", "]]", " ")


def _tasks(repo: Repo) -> str:
    from tests.reconcile.conftest import tasks_path

    return tasks_path(repo.platform)


def _live_pause(repo: Repo, sandbox: RunningSandbox, task_id: str) -> Pause:
    text = marked_text(repo.platform, task_of(sandbox, repo.platform, task_id))
    _, marker = MarkerStyle(*_style(repo.platform)).detach(text)
    assert marker is not None and marker.pause is not None, text
    return marker.pause


@pytest.mark.parametrize("style", [("[schedctl:", "]", "\n\n"), ("[[", "]]", " ")])
@pytest.mark.parametrize(
    "pause",
    [
        None,
        Pause(WHO),
        Pause(WHO, "vendor outage", "2026-06-01T16:00:00Z"),
        Pause("ops", "odd ]] text [[a/b]] here", None),
    ],
)
def test_a_marker_with_a_pause_round_trips_and_an_old_marker_still_reads(
    style: tuple[str, str, str], pause: Pause | None
) -> None:
    marks = MarkerStyle(*style)
    marker = Marker("acme", "digest", pause)
    for text in ("Morning digest", ""):
        written = marks.attach(text, marker)
        assert marks.detach(written) == (text, marker)
        assert written.endswith(marks.attach("", Marker("acme", "digest")))  # the old marker
    old = f"Morning digest{style[2]}{style[0]}acme/digest{style[1]}"
    assert marks.detach(old) == ("Morning digest", Marker("acme", "digest"))


def test_a_damaged_pause_is_text_and_the_marker_after_it_still_reads() -> None:
    marks = MarkerStyle("[[", "]]", " ")
    text, marker = marks.detach("Report [[paused until soon by x]] [[acme/r]]")
    assert marker == Marker("acme", "r") and text == "Report [[paused until soon by x]]"


def test_a_pause_ends_at_its_until_and_an_open_one_never() -> None:
    pause = Pause(WHO, "n", "2026-06-01T16:00:00Z")
    end = datetime(2026, 6, 1, 16, tzinfo=timezone.utc)
    assert not pause.ended(end - timedelta(microseconds=1)) and pause.ended(end)
    assert not Pause(WHO).ended(datetime(9999, 1, 1, tzinfo=timezone.utc))
    assert Pause.from_dict(pause.to_dict()) == pause


def test_new_pause_reads_for_and_until_with_the_repository_helpers() -> None:
    assert new_pause("4h", None, " a  b ", WHO, NOW) == Pause(WHO, "a b", "2026-06-01T16:00:00Z")
    at = new_pause(None, "2026-06-01T16:00+02:00", "n", WHO, NOW)
    assert at.until == "2026-06-01T14:00:00Z"
    assert new_pause(None, "2026-06-02T00:00", "n", WHO, NOW).until == "2026-06-02T00:00:00Z"
    assert new_pause(None, None, "n", WHO, NOW).until is None
    with pytest.raises(UsageError, match="in the past"):
        new_pause(None, "2026-06-01T12:00:00Z", "n", WHO, NOW)  # now is not to come


def _live(key: str, enabled: bool, pause: Pause | None, owner: str = "acme") -> LiveTask:
    document = {"name": key, "title": key, "enabled": enabled, "schedule": {"every": "1h"},
                "action": {"prompt": "p"}}  # fmt: skip
    return LiveTask(f"id-{key}", key, Marker(owner, key, pause), document, normalize(document, {}))


def _desired(key: str, enabled: bool = True) -> DesiredTask:
    document = {"name": key, "title": key, "enabled": enabled, "schedule": {"every": "1h"},
                "action": {"prompt": "p"}}  # fmt: skip
    return DesiredTask(key, key, {"x": 1}, document, normalize(document, {}))


def test_the_plan_leaves_a_pause_until_now_reaches_it() -> None:
    pause = Pause(WHO, "n", "2026-06-01T16:00:00Z")
    listing = Listing([_live("a", False, pause)], 1, "f")
    end = datetime(2026, 6, 1, 16, tzinfo=timezone.utc)
    before = diff_target(
        "t", "p", [_desired("a")], listing, owner="acme", now=end - timedelta(seconds=1)
    )
    assert [c.action for c in before.changes] == ["paused"] and not before.pending
    assert (
        before.in_sync == 1 and "paused until 2026-06-01T16:00:00Z by" in before.changes[0].reason
    )
    at = diff_target("t", "p", [_desired("a")], listing, owner="acme", now=end)
    (resume,) = at.changes
    assert resume.action == "resume" and at.pending and resume.pause == pause
    assert [(f.path, f.after) for f in resume.fields] == [("pause", None), ("enabled", True)]
    # The repository keeps it disabled: the resume only clears the pause.
    off = diff_target("t", "p", [_desired("a", False)], listing, owner="acme", now=end)
    assert [f.path for f in off.changes[0].fields] == ["pause"]
    assert "leaves it disabled, as the repository says" in off.changes[0].reason


def test_a_paused_task_enabled_by_hand_has_its_pause_cleared_not_re_disabled() -> None:
    listing = Listing([_live("a", True, Pause(WHO))], 1, "f")
    plan = diff_target("t", "p", [_desired("a")], listing, owner="acme", now=NOW)
    (change,) = plan.changes
    assert change.action == "resume" and [f.path for f in change.fields] == ["pause"]
    assert "enabled on the platform while paused" in change.reason


def test_pause_target_is_idempotent_and_resume_never_disables() -> None:
    pause = Pause(WHO, "n", "2026-06-02T00:00:00Z")
    fresh = Listing([_live("a", True, None), _live("b", False, pause)], 1, "f")
    plan, problems = pause_target(
        "t", "p", fresh, ["a", "b"], owner="acme", pause=pause, wanted_enabled={}
    )
    assert problems == [] and [c.action for c in plan.changes] == ["pause", "paused"]
    enabled = plan.changes[0].fields[0]
    assert (enabled.path, enabled.before, enabled.after) == ("enabled", True, False)
    resumed, _ = pause_target(
        "t", "p", fresh, ["a", "b"], owner="acme", pause=None, wanted_enabled={"b": False}
    )
    (change,) = resumed.changes  # `a` is not paused; `b` stays disabled, its pause cleared
    assert change.key == "b" and [f.path for f in change.fields] == ["pause"]
    assert change.after is not None and change.after["enabled"] is False
    assert resumed.notes == ["a (id id-a) is not paused: nothing to do"]
    other = Listing([_live("c", True, None, owner="old")], 1, "f")
    _, problems = pause_target(
        "t", "p", other, ["c"], owner="acme", pause=pause, wanted_enabled={},
        previous_owners=("old",),
    )  # fmt: skip
    assert problems == ["target 't': 'c' is still marked by previous owner 'old': "
                        "`schedctl apply` takes it over first"]  # fmt: skip


def test_text_and_markdown_render_the_three_kinds() -> None:
    pause = Pause(WHO, "n", "2026-06-01T16:00:00Z")
    listing = Listing([_live("a", False, pause), _live("b", False, pause)], 1, "f")
    end = datetime(2026, 6, 1, 16, tzinfo=timezone.utc)
    plan = Plan([diff_target("t", "p", [_desired("a")], listing, owner="acme", now=end)], "acme")
    early = diff_target("t", "p", [_desired("b")], listing, owner="acme", now=NOW)
    paused_plan = Plan([early], "acme")
    text = render_plan(plan)
    assert "~ resume a  'a'  (id id-a)" in text and "1 to resume" in text
    assert ". paused b  'b'  (id id-b)" in render_plan(paused_plan)
    markdown = render_markdown(plan, end, find_commit=False)
    assert "resume <b>a</b>" in markdown and "1 to resume" in markdown
    assert "paused <b>b</b>" in render_markdown(paused_plan, NOW, find_commit=False)
    fresh = Listing([_live("c", True, None)], 1, "f")
    pausing, _ = pause_target("t", "p", fresh, ["c"], owner="acme", pause=pause, wanted_enabled={})
    assert "~ pause c  'c'  (id id-c)" in render_plan(Plan([pausing], "acme"))
