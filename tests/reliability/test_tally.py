"""The machinery behind the README's reliability figures (tests/reliability/tally.py): its
counters catch what they count, and its fast variant runs clean end to end."""

from __future__ import annotations

import subprocess
from collections import Counter
from urllib.parse import quote

import httpx
import pytest

from reconciler.sandbox import SandboxOptions, running_sandbox
from tests.reliability.tally import (
    FAST,
    FORMS_TOKEN,
    Tally,
    compare,
    counting,
    expect,
    pieces,
    search,
    table,
    tally,
)


def proc(code: int, out: str = "", err: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["python", "-m", "reconciler"], code, out, err)


def test_a_run_is_clean_only_with_its_exit_code_its_message_and_no_traceback() -> None:
    said = "a.yaml:1:1: error: bad"
    assert expect(proc(1, said + "\n"), 1, said) is None
    assert expect(proc(0, said + "\n"), 1, said) == "exit 0, not 1"
    assert expect(proc(1, "other\n"), 1, said) == f"did not say {said!r}"
    assert expect(proc(1, f"x {said}\n"), 1, said) is not None  # a whole line, not a piece
    t = Tally()
    t.input_run("ok", proc(1, said), None)
    t.input_run("crash", proc(1, said, "Traceback (most recent call last):"), None)
    t.input_run("wrong", proc(0), "exit 0, not 1")
    assert (t.tried, t.clean, t.tracebacks) == (3, 1, 1)
    assert t.unclean == ["crash: traceback", "wrong: exit 0, not 1"]
    assert t.failing == ["tracebacks"]


def test_any_form_or_piece_of_the_token_counts_as_a_leak() -> None:
    t = Tally()
    texts = [
        ("masked", "token=***"),
        ("quoted", f"?cursor={quote(FORMS_TOKEN, safe='')}"),
        ("cut", f"... {pieces(FORMS_TOKEN)[-1]}"),
        ("clean", "nothing here"),
    ]
    assert search(t, texts, FORMS_TOKEN) == 1
    assert (t.texts_searched, t.leaks) == (4, 2)
    assert [line.split(":")[0] for line in t.leaked] == ["quoted", "cut"]
    assert t.failing == ["secret leaks"]


def test_duplicates_lost_and_left_over_are_counted_by_key() -> None:
    t = Tally()
    compare(t, Counter(["a", "b", "c"]), Counter({"a": 3, "b": 1, "old": 1}))
    assert (t.duplicates, t.lost, t.left_over) == (2, 1, 1)


def test_the_counting_proxy_counts_each_fault_the_sandbox_injects() -> None:
    options = SandboxOptions(platform="aitroop", seed=0, retry_after=0, fail_rate=1.0)
    with running_sandbox(options) as sandbox, counting(sandbox.url) as (proxy, faults):
        answers = []
        for _ in range(10):
            try:
                answers.append(httpx.get(proxy.url + "/api/scheduled-tasks").status_code)
            except httpx.TransportError:
                answers.append(0)
        sandbox.set_faults(fail_rate=0.0)
        assert httpx.get(proxy.url + "/api/scheduled-tasks").status_code == 200
    assert sum(faults.values()) == 10 and set(answers) <= {0, 429, 503}
    assert faults["GET dropped"] == answers.count(0)


@pytest.mark.slow
def test_the_fast_tally_counts_real_runs_and_finds_nothing_wrong() -> None:
    """About 40 s: a sample of every part of bench/reliability_tally.py."""
    t = tally(FAST)
    assert t.tried > 80 and t.clean == t.tried, t.unclean
    assert t.tracebacks == 0 and t.faults > 0 and t.applies >= 1
    assert (t.duplicates, t.lost, t.left_over, t.unconverged) == (0, 0, 0, 0)
    assert t.texts_searched > 15 and t.leaks == 0, t.leaked
    shown = table(t, FAST)
    for figure in ("inputs tried", "clean errors", "tracebacks", "faults survived",
                   "duplicates", "lost objects", "secret leaks"):  # fmt: skip
        assert f"| {figure} | " in shown
