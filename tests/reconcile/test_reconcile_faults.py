"""Reliability: against a failing, connection-dropping sandbox, two applies converge."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from reconciler.sandbox import RunningSandbox
from tests.reconcile.conftest import OWNER, Repo, prompt_doc
from tests.reconcile.test_reconcile_sandbox import FORMS, raw_list


def _docs(start: int, stop: int, prompt: str = "") -> list[dict[str, Any]]:
    return [
        prompt_doc(f"task-{i:03d}", prompt or None, **FORMS[i % len(FORMS)])
        for i in range(start, stop)
    ]


@pytest.mark.slow
def test_300_creates_100_updates_50_deletes_converge_within_two_applies(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    # Start: 150 tasks (100 to update, 50 to delete), applied cleanly.
    repo.write("old", *_docs(0, 150))
    _, first = repo.apply()
    assert first.ok and len(first.results) == 150

    # Desired: the 100 updated, the 50 gone, 300 new.
    repo.write("old", *_docs(0, 100, "updated prompt"))
    repo.write("new", *_docs(150, 450))
    sandbox.set_faults(fail_rate=0.2, ambiguous_rate=0.1, retry_after=0)
    mark = len(sandbox.request_log)
    for rounds in (1, 2):
        plan, result = repo.apply(prune=True, concurrency=16)
        if rounds == 1:
            assert plan.summary["create"] == 300 and plan.summary["update"] == 100
            assert plan.summary["delete"] == 50
            adopted = sum(r.status == "adopted" for r in result.results)
        if result.ok:
            break
    sandbox.set_faults(fail_rate=0.0, ambiguous_rate=0.0)
    assert result.ok, [r.message for r in result.failed]
    # The faults did happen: requests were repeated and some creates were settled by re-listing.
    assert len(sandbox.request_log[mark:]) > 450 * 1.1 and adopted > 0

    final = repo.plan(prune=True)
    assert not final.pending, final.summary
    live = raw_list(sandbox, repo.platform)
    assert len(live) == 400  # nothing lost, nothing duplicated
    if repo.platform == "engine":
        markers = [t["description"].rsplit("\n", 1)[-1] for t in live]
    else:
        markers = [t["name"].rsplit(" ", 1)[-1] for t in live]
    counts = Counter(markers)
    assert max(counts.values()) == 1
    assert all(OWNER in m for m in counts)
    keys = {m.split("/")[-1].rstrip("]") for m in counts}
    assert keys == {f"task-{i:03d}" for i in [*range(100), *range(150, 450)]}
