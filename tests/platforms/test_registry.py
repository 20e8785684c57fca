"""The registry: built-in platforms found through their entry points, bad plugins reported."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import platforms
from reconciler.errors import ConfigError
from reconciler.platforms.aitroop import PLATFORM as AITROOP
from reconciler.platforms.engine import PLATFORM as ENGINE
from tests.platforms.test_plugin_platform import install


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    entries = {
        "missing": "no_such_module_anywhere:PLATFORM",
        "renamed": "reconciler.platforms.engine:PLATFORM",  # engine's, under another name
        "odd": "reconciler.platforms:GROUP",  # a string: neither a Platform nor a class
    }
    monkeypatch.syspath_prepend(str(install(tmp_path / "site", entries)))
    platforms.refresh()
    yield
    platforms.refresh()


def test_the_built_in_platforms_come_from_their_folders() -> None:
    assert platforms.get("engine") is ENGINE and platforms.get("aitroop") is AITROOP
    assert platforms.names() == platforms.names("sandbox") == platforms.names("init")
    assert platforms.names() == ["engine", "aitroop"]  # listing order, not alphabetical
    assert platforms.default_name() == "engine"
    assert ENGINE.facts.max_concurrent == 3 and ENGINE.facts.tick is not None
    assert AITROOP.facts.batch == 50 and AITROOP.facts.min_interval == AITROOP.rules.min_interval  # type: ignore[union-attr]


def test_an_unknown_name_lists_what_is_installed() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown platform 'x' \(installed providers: aitroop, engine\)"
    ):
        platforms.get("x")


@pytest.mark.usefixtures("broken")
def test_a_broken_plugin_is_reported_by_name_and_skipped_in_listings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError, match="platform 'missing': cannot load no_such_module"):
        platforms.get("missing")
    with pytest.raises(ConfigError, match="is the Platform named 'engine'; register it under"):
        platforms.get("renamed")
    with pytest.raises(ConfigError, match="neither a Platform nor a provider class"):
        platforms.get("odd")
    with caplog.at_level(logging.WARNING, logger="reconciler.platforms"):
        assert platforms.names() == ["engine", "aitroop"]
    assert caplog.text.count("warning: platform '") == 3


def test_one_of() -> None:
    assert platforms.one_of([]) == "none"
    assert platforms.one_of(["a"]) == "a"
    assert platforms.one_of(["a", "b"]) == "a or b"
    assert platforms.one_of(["a", "b", "c"], "and") == "a, b and c"
