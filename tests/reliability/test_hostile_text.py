"""Text a platform (or a schedule file) holds is shown, never obeyed, and never floods the
screen: control characters in names and fields are escaped in every table and plan, and each
value in the text and markdown plans is cut at 200 characters, the full value staying in the
JSON plan. Real `schedctl` processes against the sandbox, and a stub where it cannot misbehave.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from reconciler.render.text import printable
from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc
from tests.reconcile.test_reconcile_sandbox import raw_post, raw_task
from tests.reliability.servers import Answer, Seen, serving

# Clears the screen, returns the carriage, rings, breaks the line, reverses the text that
# follows (a bidi override), starts a C1 escape sequence, and deletes.
NASTY = "Evil \x1b[2J\r\x07bell\nline \u202egnp.exe \x9b31m \x7f end"
SHOWN = r"Evil \x1b[2J\r\x07bell\nline \u202egnp.exe \x9b31m \x7f end"
OBEYED = ("\x1b", "\r", "\x07", "\u202e", "\x9b", "\x7f")


def clean(text: str) -> None:
    """No character a terminal would act on, and the name's newline did not break a line."""
    found = [c for c in OBEYED if c in text]
    assert not found, (found, text)
    assert "bell\nline" not in text, text


def cli(repo: Repo, *args: str) -> str:
    proc = run_cli(list(args), cwd=repo.root, input="")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return proc.stdout


def test_printable_escapes_what_a_terminal_obeys_and_keeps_the_rest() -> None:
    assert printable(NASTY) == SHOWN
    for kept in ("plain words", "naïve café — 東京 ✓", "tab-free [brackets] {braces}"):
        assert printable(kept) == kept


def test_live_names_with_control_characters_are_escaped_in_status_runs_and_import(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    raw_post(sandbox, repo.platform, raw_task(repo.platform, NASTY))
    repo.write("a", prompt_doc("alpha"))
    status = cli(repo, "status")
    clean(status)
    assert SHOWN in status and "unmanaged" in status  # the name, escaped, not dropped

    # `runs` finds the task by its exact (nasty) title; the listing and the table stay clean.
    triggered = cli(repo, "trigger", NASTY, "--target", "t")
    clean(triggered)
    runs = cli(repo, "runs", NASTY, "--target", "t")
    clean(runs)
    assert "manual" in runs

    imported = cli(repo, "import", "--target", "t", "--out", "schedules/imported")
    clean(imported)
    [written] = (repo.root / "schedules" / "imported").glob("*.yaml")
    assert yaml.safe_load(written.read_text())["title"] == NASTY  # kept exactly, YAML-escaped
    clean(written.read_text())
    assert "written" in imported and written.name in imported
    clean(cli(repo, "validate"))


def test_control_characters_in_a_run_log_are_escaped_in_the_runs_table(tmp_path: Path) -> None:
    """The sandbox's run records are its own; a stub's hold what a hostile platform may send."""
    task = {"id": "st_1", "name": NASTY, "prompt": "p",
            "schedule": {"type": "cron", "expression": "0 9 * * *"}}  # fmt: skip
    run = {"runId": f"run {NASTY}", "taskId": NASTY, "triggerType": "manual",
           "status": f"error {NASTY}", "startedAt": "2026-01-01T09:00:00Z", "durationMs": 5,
           "error": NASTY}  # fmt: skip

    def respond(seen: Seen) -> Answer:
        body: Any = [run] if seen.path.split("?")[0].endswith("/runs") else [task]
        return Answer(200, json.dumps(body).encode())

    with serving(respond) as server:
        repo = Repo(tmp_path, server.url, "engine")
        runs = cli(repo, "runs", "st_1", "--target", "t")
    clean(runs)
    assert runs.count(SHOWN) == 4  # run id, task, status, error: each shown, escaped


def test_control_characters_in_titles_are_escaped_in_text_and_markdown_plans(
    repo: Repo,
) -> None:
    repo.write("a", {**prompt_doc("alpha", f"say {NASTY}"), "title": NASTY[:60]})
    for fmt in ("text", "markdown"):
        out = cli(repo, "plan", "--format", fmt)
        clean(out)
        assert "+" in out and "alpha" in out
    as_json = json.loads(cli(repo, "plan", "--format", "json"))
    change = as_json["targets"][0]["changes"][0]
    assert change["title"] == NASTY[:60]  # the JSON plan keeps values exactly


LONG = 400_000


def test_a_long_value_is_cut_in_text_and_markdown_plans_and_whole_in_the_json_plan(
    repo: Repo,
) -> None:
    repo.write("a", prompt_doc("alpha", "short"))
    repo.apply()
    prompt = "x" * (LONG - 10) + " the end."
    repo.write("a", prompt_doc("alpha", prompt), prompt_doc("beta", prompt))
    text = cli(repo, "plan")
    widest = max(map(len, text.splitlines()))
    assert widest < 600, widest
    assert "~ alpha" in text and "+ beta" in text  # each change is named
    assert text.count("more characters; the full value is in the JSON plan)") == 2
    assert f"… ({len(json.dumps(prompt)) - 200:,} more characters" in text
    markdown = cli(repo, "plan", "--format", "markdown")
    assert len(markdown) < 10_000 and max(map(len, markdown.splitlines())) < 1_000
    assert markdown.count("more characters; the full value is in the JSON plan)") == 2
    cli(repo, "plan", "--out", "plan.json")
    saved = json.loads((repo.root / "plan.json").read_text())
    changes = {c["key"]: c for c in saved["targets"][0]["changes"]}
    prompts = {k: [f["after"] for f in c["fields"] if f["path"] == "action.prompt"]
               for k, c in changes.items()}  # fmt: skip
    assert prompts == {"alpha": [prompt], "beta": [prompt]}
    assert changes["alpha"]["payload"]["prompt" if repo.platform == "engine" else "action_config"]
