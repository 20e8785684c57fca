"""Text from platforms, made safe to show: control characters escaped, long values cut.

    printable(text)   every character a terminal would obey rather than show (ESC, CR, BEL,
                      newlines, bidi overrides, ...) written as a Python escape: \\x1b, \\u202e
    clip(text)        at most VALUE_LIMIT characters, the rest counted, never silently dropped

Names and fields of live objects come from a server, so every table and plan line passes them
through `printable`; the JSON outputs keep the values exactly as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

VALUE_LIMIT = 200
CLIP_NOTE = "… ({} more characters; the full value is in the JSON plan)"


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with each character str.isprintable() refuses escaped, as repr() does."""
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def clip(text: str, limit: int = VALUE_LIMIT, note: str = CLIP_NOTE) -> str:
    """`text` cut to `limit` characters, with how many more there were."""
    if len(text) <= limit:
        return text
    return text[:limit] + note.format(f"{len(text) - limit:,}")


class _Target(Protocol):
    @property
    def target(self) -> str: ...
    @property
    def where(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def error(self) -> str | None: ...


T = TypeVar("T", bound=_Target)


def headed(targets: Iterable[T], out: list[str]) -> Iterator[tuple[T, str]]:
    """Each target that worked, with its heading (`target prod (https://…)`); one that failed
    gets its ERROR line in `out` instead (a plan's, an audit's: they read alike)."""
    for t in targets:
        head = f"target {t.target} ({printable(t.where or t.platform)})"
        if t.error:
            out.append(f"{head}: ERROR: {printable(t.error)}")
            continue
        yield t, head
