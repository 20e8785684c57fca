"""The error tree: every class documented and drawn, foreign errors mapped at one boundary."""

from __future__ import annotations

import inspect

import pytest

from reconciler import errors
from reconciler.errors import ListingError, SchedctlError, UsageError, map_exceptions

CLASSES = [
    obj
    for _, obj in inspect.getmembers(errors, inspect.isclass)
    if issubclass(obj, SchedctlError) and obj.__module__ == errors.__name__
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_is_documented_and_drawn(cls: type[SchedctlError]) -> None:
    assert cls.__doc__ and "\n" not in cls.__doc__.strip()  # one line
    tree = (errors.__doc__ or "").split("Core code")[0]
    assert f" {cls.__name__} " in tree


def test_map_exceptions_translates_and_chains() -> None:
    with pytest.raises(UsageError, match="bad") as caught, map_exceptions({ValueError: UsageError}):
        raise ValueError("bad")
    assert isinstance(caught.value.__cause__, ValueError)


def test_map_exceptions_takes_the_first_match_and_words_it() -> None:
    mapping = {
        KeyError: lambda exc: ListingError(f"key {exc}"),
        LookupError: lambda exc: UsageError(f"lookup {exc}"),
    }
    with pytest.raises(ListingError, match="key 'k'"), map_exceptions(mapping):
        raise KeyError("k")
    with pytest.raises(UsageError, match="lookup"), map_exceptions(mapping):
        raise IndexError("i")


def test_map_exceptions_lets_others_pass() -> None:
    with pytest.raises(TypeError), map_exceptions({ValueError: UsageError}):
        raise TypeError("not mine")
