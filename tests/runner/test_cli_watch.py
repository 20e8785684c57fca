"""`schedctl run --watch`: edits reload, a broken edit keeps the last good version, removals stop."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

from .conftest import RunnerProcess, db_rows, doc, ts, write_project, write_schedule


def test_watch_reloads_changes_keeps_last_good_and_stops_removed(
    tmp_path: Path, runner_procs: list[RunnerProcess]
) -> None:
    write_project(
        tmp_path, {"a.yaml": [doc("a", {"every": "1s"})], "b.yaml": [doc("b", {"every": "1s"})]}
    )
    db = tmp_path / ".schedctl" / "runs.db"
    runner = RunnerProcess(tmp_path, ["--watch"])
    runner_procs.append(runner)

    def outputs(name: str) -> list[dict[str, object]]:
        return [r for r in db_rows(db) if r["schedule"] == name]

    runner.wait_for(
        lambda: "watching" in runner.stderr() and len(outputs("a")) >= 1, what="first runs"
    )
    assert "/schedules/**" in runner.stderr()  # the glob's directory, not the whole repository

    # A changed schedule recomputes its next fire: odd seconds, 2s apart, with the new prompt.
    write_schedule(
        tmp_path,
        "a.yaml",
        [doc("a", {"every": "2s", "anchor": "2020-01-01T00:00:01Z"}, prompt="changed")],
    )
    runner.wait_for(
        lambda: sum(r["output"] == "changed" for r in outputs("a")) >= 2, what="the changed a"
    )
    slots = [ts(r["scheduled_for"]) for r in outputs("a") if r["output"] == "changed"]  # type: ignore[arg-type]
    assert all(int(s) % 2 == 1 for s in slots) and all(b - a == 2 for a, b in pairwise(slots))
    assert "a: changed; next fire" in runner.stderr()

    # A broken edit: logged with file:line, and the last good b keeps firing.
    write_schedule(
        tmp_path, "b.yaml", "name: b\nschedule: {every: 1s}\naction: {prompt: do b}\nbogus: 1\n"
    )
    runner.wait_for(
        lambda: "schedules/b.yaml:4:1: error: unknown key 'bogus'" in runner.stderr(),
        what="the error",
    )
    assert "keeping the last good version" in runner.stderr()
    broken_at = time.time()
    runner.wait_for(
        lambda: any(ts(r["scheduled_for"]) > broken_at + 1 for r in outputs("b")), what="b to go on"
    )  # type: ignore[arg-type]

    # A removed schedule stops; an added one starts.
    (tmp_path / "schedules" / "a.yaml").unlink()
    write_schedule(tmp_path, "c.yaml", [doc("c", {"every": "1s"})])
    runner.wait_for(
        lambda: "a: removed" in runner.stderr() and bool(outputs("c")), what="a removed, c added"
    )
    removed_at = time.time()
    time.sleep(2.5)
    assert runner.terminate() == 0
    assert not [r for r in outputs("a") if ts(r["scheduled_for"]) > removed_at + 0.5]  # type: ignore[arg-type]
    assert len(outputs("c")) >= 2
