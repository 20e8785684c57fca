"""Process tuning is set once for a command and given back; a server settles it once."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import tuning
from reconciler.loader import load_project


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    assert gc.isenabled()
    interval = sys.getswitchinterval()
    yield
    gc.enable()
    sys.setswitchinterval(interval)


def test_a_command_runs_with_the_collector_off_and_a_short_switch_interval() -> None:
    before = sys.getswitchinterval()
    with tuning.tuned():
        assert not gc.isenabled()
        assert sys.getswitchinterval() == pytest.approx(tuning.SWITCH_INTERVAL)
        with tuning.tuned():  # nested: the outer block owns the settings
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert sys.getswitchinterval() == pytest.approx(before)


def spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in ("freeze", "disable"):
        real = getattr(gc, name)
        monkeypatch.setattr(gc, name, lambda real=real, name=name: (calls.append(name), real())[1])
    return calls


def test_a_server_settles_once_and_what_it_loaded_is_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = spy(monkeypatch)
    with tuning.tuned():
        kept = [[i] for i in range(1000)]  # lists are tracked by the collector
        tuning.settle()  # what `schedctl run` and `schedctl sandbox` do when they start serving
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(kept)
        tuning.settle()  # a second call changes nothing
    assert calls == ["disable", "freeze"]
    gc.unfreeze()


def test_loading_a_project_does_not_touch_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nschedule: {daily: '09:00'}\naction: {prompt: p}\n")
    calls = spy(monkeypatch)
    project = load_project([str(tmp_path / "a.yaml")])
    assert not project.errors, project.errors
    assert gc.isenabled() and calls == []
