"""Text from platforms, made safe to show: control characters escaped, long values cut.

    printable(text)   every character a terminal would obey rather than show (ESC, CR, BEL,
                      newlines, bidi overrides, ...) written as a Python escape: \\x1b, \\u202e
    clip(text)        at most VALUE_LIMIT characters, the rest counted, never silently dropped

Names and fields of live objects come from a server, so every table and plan line passes them
through `printable`; the JSON outputs keep the values exactly as they are.
"""

from __future__ import annotations

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
