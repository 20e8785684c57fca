"""The review loop: orphans in every plan format, the PR comment a reviewer reads, text diffs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from reconciler import __version__
from reconciler.forms import DesiredTask, FieldChange, Listing, LiveTask, Marker, normalize
from reconciler.plan import Change, Plan, TargetPlan, diff_target
from reconciler.render.plan import DIFF_LINES, render_markdown, render_plan, text_diff
from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
DAILY = {"schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
OLD_PROMPT = "Summarise the inbox.\nList the urgent mails.\nBe brief."
NEW_PROMPT = "Summarise the inbox.\nList the urgent mails first.\nBe brief."


def github(text: str) -> list[Token]:
    """The comment parsed as GitHub does: CommonMark with raw HTML and GFM tables."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").parse(text)


def live(task_id: str, key: str, prompt: str = "p") -> LiveTask:
    document = {"title": key.title(), "schedule": {"daily": "09:00"}, "action": {"prompt": prompt}}
    return LiveTask(task_id, key.title(), Marker("acme", key), document, normalize(document, {}))


def desired(key: str, prompt: str = "p") -> DesiredTask:
    document = {"title": key.title(), "schedule": {"daily": "09:00"}, "action": {"prompt": prompt}}
    return DesiredTask(
        key, key.title(), {"body": key}, document, normalize(document, {}), f"{key}.yaml:1"
    )


def review_plan(*, prune: bool) -> Plan:
    """Creates, an update of a multi-line prompt, a conflict, and `gone` left the repository."""
    unmarked_doc = {"title": "Clash", "schedule": {"daily": "09:00"}, "action": {"prompt": "p"}}
    clash = LiveTask("7", "Clash", None, unmarked_doc, normalize(unmarked_doc, {}))
    listing = Listing([live("1", "digest", OLD_PROMPT), live("2", "gone"), clash], 1, "fp")
    wanted = [desired("alpha"), desired("beta"), desired("digest", NEW_PROMPT), desired("clash")]
    target = diff_target("t", "engine", wanted, listing, owner="acme", prune=prune)
    return Plan([target], owner="acme", prune=prune)


def test_text_diff_is_bounded_and_only_for_multi_line_text() -> None:
    assert (
        text_diff("a", "b") is None
        and text_diff(1, 2) is None
        and text_diff("x\ny", "x\ny") is None
    )
    assert text_diff(OLD_PROMPT, NEW_PROMPT) == [
        "@@ -1,3 +1,3 @@",
        " Summarise the inbox.",
        "-List the urgent mails.",
        "+List the urgent mails first.",
        " Be brief.",
    ]
    many = text_diff("\n".join(map(str, range(500))), "\n".join(f"{i}!" for i in range(500)))
    assert many is not None and len(many) == DIFF_LINES + 1
    assert "more diff lines; the full value is in the JSON plan" in many[-1]
    (line,) = [d for d in text_diff("a\n" + "b" * 900, "a\n\x1b[2J") or [] if d.startswith("+")]
    assert line == "+\\x1b[2J"  # escaped, never obeyed


def test_text_plan_shows_orphans_kept_or_deleted_and_prompt_diffs() -> None:
    kept = render_plan(review_plan(prune=False))
    assert "  ! orphan (kept: prune is off) gone  'Gone'  (id 2)" in kept
    assert "    action.prompt: (text changed)" in kept
    assert "      -List the urgent mails." in kept and "      +List the urgent mails first." in kept
    assert kept.endswith("1 orphan(s) kept (prune is off).")
    pruned = render_plan(review_plan(prune=True))
    assert "  - gone  'Gone'  (id 2)" in pruned and "orphan" not in pruned


def test_a_plan_with_only_orphans_is_not_no_changes() -> None:
    target = diff_target("t", "engine", [desired("a")], Listing([live("1", "a"), live("2", "gone")], 1, "fp"),
                         owner="acme")  # fmt: skip
    plan = Plan([target], owner="acme")
    assert not plan.pending and plan.differs  # apply has nothing to do, yet they differ
    assert "No changes" not in render_plan(plan)
    data = plan.to_dict()
    assert data["summary"]["orphan"] == 1 and data["targets"][0]["orphans"][0]["action"] == "orphan"
    assert Plan.from_dict(json.loads(json.dumps(data))).targets[0].orphans[0].action == "orphan"


def details(tokens: list[Token]) -> list[str]:
    return [t.content for t in tokens if t.type == "html_block" and "<details>" in t.content]


def test_the_pr_comment_reads_destructive_first_as_github_renders_it() -> None:
    text = render_markdown(review_plan(prune=True), NOW, commit="0123abc")
    tokens = github(text)
    assert tokens[0].type == "heading_open"
    # The first paragraph is the line a reviewer reads first, the delete in bold.
    first = next(i for i, t in enumerate(tokens) if t.type == "paragraph_open")
    line = tokens[first + 1]
    assert line.content == "2 to create, 1 to update, **1 to delete**, **1 conflict blocks apply**"
    assert [c.type for c in line.children or []].count("strong_open") == 2
    # Deletes, then conflicts, then updates, then creates.
    blocks = details(tokens)
    kinds = [re.search(r"</code> (\w+) <b>", b).group(1) for b in blocks]  # type: ignore[union-attr]
    assert kinds == ["delete", "conflict", "update", "create", "create"]
    assert "Blocks apply:" in text.split("conflict <b>clash</b>", 1)[1].split("</details>")[0]
    # The prompt's change is a diff block, not two clipped JSON strings.
    (fence,) = [t for t in tokens if t.type == "fence"]
    assert fence.info == "diff"
    assert "-List the urgent mails.\n+List the urgent mails first.\n" in fence.content
    # The summary table has no all-zero column.
    table = tokens[: next(i for i, t in enumerate(tokens) if t.type == "table_close")]
    headers = [table[i + 1].content for i, t in enumerate(table) if t.type == "th_open"]
    assert headers == ["target", "create", "update", "delete", "conflict"]  # none in sync
    cells = [table[i + 1].content for i, t in enumerate(table) if t.type == "td_open"]
    assert cells == ["`t`", "2", "1", "1", "1"]
    # The footer: version and the commit planned.
    assert text.rstrip().endswith(
        f"<sub>schedctl {__version__} · planned at commit <code>0123abc</code></sub>"
    )


def test_the_pr_comment_shows_orphans_and_leaves_out_what_says_nothing() -> None:
    text = render_markdown(review_plan(prune=False), NOW, find_commit=False)
    assert "**1 orphan kept** (not in the repository; prune is off)" in text.splitlines()[2]
    blocks = details(github(text))
    assert "orphan (kept: prune is off) <b>gone</b>" in blocks[0]
    # The update's fires and rate are the same before and after: said once, as "unchanged".
    update = text.split("update <b>digest</b>", 1)[1].split("</details>")[0]
    assert "Next fires" not in update and "Estimated runs per day: unchanged" in update
    assert "Estimated runs per day: +2 added, 0 removed (net +2)." in text
    assert text.rstrip().endswith(f"<sub>schedctl {__version__}</sub>")


def test_a_change_too_large_for_the_comment_is_still_named() -> None:
    fields = tuple(FieldChange(f"action.p{j}", None, "x" * 300) for j in range(40))
    changes = [Change("create", f"k{i}", f"T{i}", fields=fields, after=DAILY) for i in range(3)]
    changes.append(
        Change("delete", "old", "Old", "9", before=DAILY, reason="no longer in the repository")
    )
    plan = Plan([TargetPlan("t", "engine", changes=changes)], owner="acme")
    text = render_markdown(plan, NOW, limit=12_000, find_commit=False)
    assert len(text) <= 12_000
    assert text.index("delete <b>old</b>") < text.index("k0")
    assert (
        "- <code>+</code> create <b>k2</b> (target <code>t</code>): too large for this comment"
        in text
    )


# --- the CLI against the sandbox ------------------------------------------------------------------


def orphaned(repo: Repo) -> None:
    repo.write("keep", prompt_doc("alpha"))
    repo.write("gone", prompt_doc("omega"))
    assert run_cli(["apply", "--auto-approve"], cwd=repo.root).returncode == 0
    repo.remove("gone")


def test_orphans_in_every_plan_format_and_exit_2(repo: Repo, sandbox: RunningSandbox) -> None:
    orphaned(repo)
    text = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    assert text.returncode == 2, text.stdout + text.stderr
    assert "! orphan (kept: prune is off) omega  'Omega'" in text.stdout
    assert "No changes" not in text.stdout
    plain = run_cli(["plan"], cwd=repo.root)
    assert plain.returncode == 0  # without --detailed-exitcode, a plan that differs is fine
    as_json = run_cli(["plan", "--format", "json", "--detailed-exitcode"], cwd=repo.root)
    assert as_json.returncode == 2
    data = json.loads(as_json.stdout)
    assert data["format_version"] == "3" and data["summary"]["orphan"] == 1
    assert [(o["action"], o["key"]) for o in data["targets"][0]["orphans"]] == [("orphan", "omega")]
    md = run_cli(["plan", "--format", "markdown", "--detailed-exitcode"], cwd=repo.root,
                 env={"GITHUB_SHA": "feedc0de"})  # fmt: skip
    assert md.returncode == 2
    assert md.stdout.splitlines()[2] == "**1 orphan kept** (not in the repository; prune is off)"
    assert "orphan (kept: prune is off) <b>omega</b>" in md.stdout
    assert "planned at commit <code>feedc0de</code>" in md.stdout
    pruned = run_cli(
        ["plan", "--prune", "--detailed-exitcode", "--format", "markdown"], cwd=repo.root
    )
    assert pruned.returncode == 2
    assert pruned.stdout.splitlines()[2] == "**1 to delete**"
    assert "delete <b>omega</b>" in pruned.stdout
    # Once pruned, the repository and the platform agree again.
    assert run_cli(["apply", "--prune", "--auto-approve"], cwd=repo.root).returncode == 0
    clean = run_cli(["plan", "--detailed-exitcode"], cwd=repo.root)
    assert clean.returncode == 0 and "No changes" in clean.stdout


@pytest.mark.parametrize("platform", ["engine"])
def test_a_changed_prompt_is_a_diff_in_the_cli_plan(repo: Repo, platform: str) -> None:
    repo.write("d", prompt_doc("digest", OLD_PROMPT))
    assert run_cli(["apply", "--auto-approve"], cwd=repo.root).returncode == 0
    repo.write("d", prompt_doc("digest", NEW_PROMPT))
    text = run_cli(["plan"], cwd=repo.root)
    assert (
        "-List the urgent mails.\n" in text.stdout
        and "+List the urgent mails first.\n" in text.stdout
    )
    md = run_cli(["plan", "--format", "markdown"], cwd=repo.root).stdout
    fences = [t for t in github(md) if t.type == "fence"]
    assert [f.info for f in fences] == ["diff"] and "+List the urgent mails first." in fences[
        0
    ].content
