"""Issue 7, on a real terminal: colour, the apply progress bar, tables, -v, NO_COLOR.

`schedctl` runs as a process (python -m reconciler) whose stdout and stderr are a pseudo
terminal (os.openpty), against a repository whose one target is the embedded engine sandbox;
the same commands with pipes (as in CI) must print plain lines and no escape sequence at all.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

ESC = "\x1b"
GREEN, YELLOW, RED = "\x1b[32m", "\x1b[33m", "\x1b[31m"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BAR = "━"  # rich's bar glyph
TOKEN = "tok-3f9a27c1-never-shown"


def repo(root: Path, count: int, *, token: bool = False) -> Path:
    """A schedules repository of `count` daily schedules; its target `local` is the sandbox."""
    (root / "schedules").mkdir(parents=True)
    auth = ", token_env: UX_TOKEN" if token else ""
    (root / "schedctl.yaml").write_text(
        "owner: ux\nschedules: ['schedules/*.yaml']\n"
        "defaults: {timezone: Europe/Rome, targets: [local]}\n"
        f"targets:\n  local: {{platform: engine, sandbox: sb.db{auth}}}\n"
    )
    for i in range(count):
        write(root, i, f"Do task {i}.")
    return root / "schedctl.yaml"


def write(root: Path, i: int, prompt: str) -> None:
    (root / "schedules" / f"task-{i:02d}.yaml").write_text(
        f"name: task-{i:02d}\nschedule: {{daily: '09:{i:02d}'}}\naction: {{prompt: '{prompt}'}}\n"
    )


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "CI", "TERM")}  # fmt: skip
    return {**env, "TERM": "xterm-256color", "UX_TOKEN": TOKEN, **extra}


def on_terminal(
    args: Sequence[str], cwd: Path, *, stdout: Path | None = None, timeout: float = 120, **env: str
) -> tuple[int, str]:
    """Run schedctl with a pseudo terminal as stdout and stderr (stdout: a file instead)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    out_file = open(stdout, "wb") if stdout else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            cwd=cwd, env=environment(**env), stdin=slave,
            stdout=out_file or slave, stderr=slave, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(slave)
        if out_file:
            out_file.close()
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process is gone and so is the terminal's other end
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def piped(args: Sequence[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd, env=environment(**env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


def result_lines(text: str) -> list[str]:
    return sorted(set(re.findall(r"\+ local/task-\d\d create: ok", plain(text))))


APPLY = ["apply", "--auto-approve"]


def test_apply_on_a_terminal_draws_a_progress_bar_and_colours_the_diff(tmp_path: Path) -> None:
    config = repo(tmp_path, 10)
    code, out = on_terminal([*APPLY, "--config", str(config)], tmp_path)
    assert code == 0, out
    assert BAR in out and "applying" in out and "10/10" in out  # the bar, to the end
    assert f"{GREEN}+ local/task-00 create: ok" in out  # result lines in the action's colour
    assert re.search(re.escape(GREEN) + r"(\x1b\[1m)?  \+ task-03 ", out)  # the plan's + lines
    assert result_lines(out) == [f"+ local/task-{i:02d} create: ok" for i in range(10)]
    assert "Apply complete: 10 created, 0 updated, 0 deleted, 0 failed in " in plain(out)


def test_a_few_changes_get_colour_but_no_bar(tmp_path: Path) -> None:
    config = repo(tmp_path, 3)
    code, out = on_terminal([*APPLY, "--config", str(config)], tmp_path)
    assert code == 0, out
    assert GREEN in out and BAR not in out and "applying" not in out
    assert len(result_lines(out)) == 3


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--no-color"], {}), ([], {"NO_COLOR": "1"})],
    ids=["--no-color", "NO_COLOR"],
)
def test_no_color_means_no_escape_sequence_at_all(
    tmp_path: Path, flags: list[str], env: dict[str, str]
) -> None:
    config = repo(tmp_path, 10)
    code, out = on_terminal([*flags, *APPLY, "--config", str(config)], tmp_path, **env)
    assert code == 0, out
    assert ESC not in out and BAR not in out
    assert len(result_lines(out)) == 10  # the plain per-change lines instead of a bar
    write(tmp_path, 1, "Changed.")
    (tmp_path / "schedules" / "task-02.yaml").unlink()
    code, out = on_terminal([*flags, "plan", "--prune", "--config", str(config)], tmp_path, **env)
    assert code == 0, out
    assert ESC not in out and "  ~ task-01" in out and "  - task-02" in out


def test_an_empty_NO_COLOR_does_not_count(tmp_path: Path) -> None:
    config = repo(tmp_path, 2)
    code, out = on_terminal([*APPLY, "--config", str(config)], tmp_path, NO_COLOR="")
    assert code == 0, out
    assert GREEN in out  # no-color.org: only a non-empty NO_COLOR turns colour off


def test_without_a_terminal_apply_prints_plain_lines(tmp_path: Path) -> None:
    config = repo(tmp_path, 10)
    done = piped([*APPLY, "--config", str(config)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert ESC not in done.stdout + done.stderr and BAR not in done.stdout + done.stderr
    assert len(result_lines(done.stdout)) == 10


def test_stdout_piped_keeps_plain_lines_and_the_bar_goes_to_the_terminal(tmp_path: Path) -> None:
    config = repo(tmp_path, 10)
    log = tmp_path / "apply.log"
    code, terminal = on_terminal([*APPLY, "--config", str(config)], tmp_path, stdout=log)
    assert code == 0, terminal
    written = log.read_text()
    assert ESC not in written and len(result_lines(written)) == 10
    assert BAR in terminal and "10/10" in terminal and not result_lines(terminal)


def test_plan_colours_creates_green_updates_yellow_and_deletes_red(tmp_path: Path) -> None:
    config = repo(tmp_path, 4)
    assert piped([*APPLY, "--config", str(config)], tmp_path).returncode == 0
    write(tmp_path, 1, "Changed.")
    (tmp_path / "schedules" / "task-02.yaml").unlink()
    write(tmp_path, 7, "New.")
    code, out = on_terminal(["plan", "--prune", "--config", str(config)], tmp_path)
    assert code == 0, out
    lines = out.split("\n")
    assert any(line.startswith(YELLOW) and "~ task-01" in line for line in lines)
    assert any(line.startswith(YELLOW) and 'action.prompt: "Do task 1." -> "Changed."' in line
               for line in lines)  # fmt: skip
    assert any(line.startswith(RED) and "- task-02" in line for line in lines)
    assert any(line.startswith(GREEN) and "+ task-07" in line for line in lines)
    piped_plan = piped(["plan", "--prune", "--config", str(config)], tmp_path)
    assert piped_plan.returncode == 0 and ESC not in piped_plan.stdout
    assert "  ~ task-01" in piped_plan.stdout


def test_status_next_and_runs_are_tables_coloured_only_on_a_terminal(tmp_path: Path) -> None:
    config = repo(tmp_path, 2)
    assert piped([*APPLY, "--config", str(config)], tmp_path).returncode == 0
    code, out = on_terminal(["status", "--config", str(config)], tmp_path)
    assert code == 0, out
    assert re.search(r"target\W+key\W+title", plain(out)) and f"{GREEN}in sync" in out
    done = piped(["status", "--config", str(config)], tmp_path)
    assert done.returncode == 0 and ESC not in done.stdout and "in sync" in done.stdout

    code, out = on_terminal(["next", "task-00", "--config", str(config), "-n", "2"], tmp_path)
    assert code == 0, out
    assert re.search(r"local time\s+UTC", plain(out)) and "08:00 UTC" in out

    trigger = ["trigger", "task-00", "--target", "local", "--config", str(config)]
    assert piped(trigger, tmp_path).returncode == 0
    runs = ["runs", "task-00", "--target", "local", "--config", str(config)]
    code, out = on_terminal(runs, tmp_path)
    assert code == 0, out
    assert re.search(r"run\s+task\s+trigger\s+status", plain(out)) and "manual" in out


def test_verbose_logs_each_request_and_never_the_token(tmp_path: Path) -> None:
    config = repo(tmp_path, 10, token=True)
    code, out = on_terminal(["-v", *APPLY, "--config", str(config)], tmp_path)
    assert code == 0, out
    request = r"(GET|POST) http://127\.0\.0\.1:\d+/api/instances/local/scheduled-tasks -> 20[01] \(\d+ ms\)"
    assert len(re.findall(request, plain(out))) == 11  # one listing, ten creates
    assert BAR not in out  # -v: the request lines are the progress; a bar would be torn
    assert TOKEN not in out
    done = piped(["-v", "plan", "--config", str(config)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(request.replace("(GET|POST)", "GET"), done.stderr)
    assert TOKEN not in done.stdout + done.stderr


def test_shell_completion_is_documented_and_works(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "_SCHEDCTL_COMPLETE=bash_source schedctl" in readme
    done = piped([], tmp_path, _SCHEDCTL_COMPLETE="bash_source")
    assert done.returncode == 0 and "_schedctl_completion()" in done.stdout
    assert "_SCHEDCTL_COMPLETE=bash_source" in piped(["--help"], tmp_path).stdout
