"""`schedctl --help` without importing click: the kept text is what click renders, at each
width it is kept for, and every other case still goes through click."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from reconciler import entry
from tests.conftest import ROOT

HELP_FILE = ROOT / "reconciler" / "_help.py"
CLICK = "from reconciler.cli import main; main()"  # the CLI itself, no fast path


def run(code: list[str], *args: str, columns: int | None = None, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", entry.COMPLETE_VAR)}
    if columns is not None:
        environ["COLUMNS"] = str(columns)
    out = subprocess.run(
        [sys.executable, *code, *args], capture_output=True, text=True, env={**environ, **env},
        check=True, cwd=ROOT,
    )  # fmt: skip
    return out.stdout


def literal(text: str) -> str:
    """`repr` in the quotes ruff format keeps: double, unless only single ones avoid escapes."""
    quoted = repr(text)
    if quoted.startswith("'") and '"' not in text:
        return '"' + quoted[1:-1].replace("\\'", "'") + '"'
    return quoted


def written(texts: dict[int, str]) -> str:
    lines = [
        '"""`schedctl --help` as click renders it, by width (see reconciler/entry.py).',
        "",
        "Written by tests/cli/test_help_text.py, which fails when it is stale: rewrite it with",
        "SCHEDCTL_WRITE_HELP=1 pytest tests/cli/test_help_text.py",
        '"""',
        "",
        "TEXT = {",
    ]
    for width, text in texts.items():
        lines.append(f"    {width}: (")
        lines += [f"        {literal(line)}" for line in text.splitlines(keepends=True)]
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def test_the_kept_help_is_what_click_renders() -> None:
    # COLUMNS 80 reads as a pipe does (80 is also get_terminal_size's fallback).
    rendered = {w: run(["-c", CLICK], "--help", columns=w + 2) for w in entry.WIDTHS}
    if os.environ.get("SCHEDCTL_WRITE_HELP") == "1":
        HELP_FILE.write_text(written(rendered), encoding="utf-8")
    from reconciler._help import TEXT

    assert rendered == TEXT, (
        "reconciler/_help.py is stale: SCHEDCTL_WRITE_HELP=1 pytest tests/cli/test_help_text.py"
    )
    assert HELP_FILE.read_text(encoding="utf-8") == written(rendered)  # as the writer wrote it
    assert "Commands:" in rendered[78] and rendered[78] != rendered[98]


def test_schedctl_help_prints_it_without_importing_click() -> None:
    probe = (
        "import sys; sys.argv = ['schedctl', '--help']; from reconciler import entry\n"
        "try:\n    entry.main()\nexcept SystemExit as exc:\n"
        "    print('exit', exc.code, 'click' in sys.modules, file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )  # fmt: skip
    assert out.stderr.split() == ["exit", "0", "False"]
    assert out.stdout == run(["-c", CLICK], "--help")
    assert run(["-m", "reconciler"], "-h", columns=130) == run(["-c", CLICK], "-h", columns=130)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--help"], {"COLUMNS": "60"}),  # a width not kept: click renders it
        (["validate", "--help"], {}),  # a command's help
        (["--help", "--version"], {}),
    ],
)
def test_anything_else_is_clicks(args: list[str], env: dict[str, str]) -> None:
    code = ["-m", "reconciler"]
    assert run(code, *args, **env) == run(["-c", CLICK], *args, **env)


def test_shell_completion_goes_to_click() -> None:
    env = {entry.COMPLETE_VAR: "bash_source"}
    script = run(["-m", "reconciler"], "--help", **env)
    assert "_SCHEDCTL_COMPLETE" in script and "Usage:" not in script


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-3", "20", "79", "99", "100", "400"])
def test_the_width_is_the_one_click_reads(
    columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    expected = max(min(shutil.get_terminal_size().columns, entry.MAX_WIDTH) - 2, 50)
    assert entry.help_width() == expected
