"""Renderers: turn results and plans (plain data) into text, JSON, markdown or GitHub output.

Each result type has a FORMATS mapping, name -> renderer; a command's `--format` choices are
its keys, and cli.emit() prints what the chosen one returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeAlias, TypeVar

R = TypeVar("R")

# (result, color) -> the text to print; None prints nothing (GitHub commands for no findings).
Renderer: TypeAlias = Callable[[R, bool], "str | None"]
Formats: TypeAlias = Mapping[str, Renderer[R]]
