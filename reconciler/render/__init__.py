"""Renderers: turn results and plans (plain data) into text, JSON, markdown or GitHub output.

Each result type has a FORMATS mapping, name -> renderer; a command's `--format` choices are
its keys, and cli.emit() prints what the chosen one returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Style:
    """How the terminal wants it: colour, and whether tables may run past its width."""

    color: bool = False
    wide: bool = False


# (result, style) -> the text to print; None prints nothing (GitHub commands for no findings).
Renderer: TypeAlias = Callable[[R, Style], "str | None"]
Formats: TypeAlias = Mapping[str, Renderer[R]]
