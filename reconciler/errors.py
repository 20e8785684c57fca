"""One error hierarchy for schedctl.

    SchedctlError                 anything schedctl reports to a user (exit 1, no traceback)
    ├── UsageError                a bad option or argument combination
    ├── ConfigError               the config file or a target is unusable (missing token env, ...)
    ├── InvalidInput              files failed validation; carries every Diagnostic
    ├── ApiError                  a platform request failed: method, URL, status, server message
    │   └── AmbiguousWrite        a write whose answer never came (it may or may not have happened)
    ├── ListingError              a listing failed or may be incomplete: nothing is written
    ├── MarkerLost                a write's answer no longer carries the ownership marker
    ├── StalePlanError            a saved plan no longer matches the live listing
    ├── SandboxError              the embedded sandbox could not start
    └── RunnerError               the local runner cannot go on (runs db locked or unreadable, ...)

Core code raises these; only cli.py's main() turns them into messages and exit codes. A
ValueError from code that speaks plain Python (timing, parsers, a provider's answer) enters
this tree at the boundary where it leaves that code, through map_exceptions, never as a
traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding about an input file, pinned to a position when one is known.

    `line` 0: about the file as a whole (a path that cannot be used); `file` "": about no file
    (a `--target` typo, no config). Such findings get no made-up `file:1:1` location.
    """

    file: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    @classmethod
    def general(cls, message: str, file: str = "", severity: Severity = "error") -> Diagnostic:
        """A finding with no line: about the file `file`, or about no file at all."""
        return cls(file, 0, 0, message, severity)

    def location(self) -> str:
        if not self.file or self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        where = self.location()
        return f"{where + ': ' if where else ''}{self.severity}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        located = self.line > 0
        return {
            "file": self.file or None,
            "line": self.line if located else None,
            "column": self.column if located else None,
            "message": self.message,
        }


class SchedctlError(Exception):
    """Base of every error schedctl reports to a user."""

    exit_code = 1


class UsageError(SchedctlError):
    """A bad option or argument combination."""


class ConfigError(SchedctlError):
    """The config file or a target is unusable (missing token env, ...)."""


class SandboxError(SchedctlError):
    """The embedded sandbox could not start."""


class RunnerError(SchedctlError):
    """The local runner cannot go on (runs db locked or unreadable, ...)."""


@dataclass
class InvalidInput(SchedctlError):
    """Files failed validation; main() prints every Diagnostic, one a line."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        return "\n".join(str(d) for d in errors) or "invalid input"


class ApiError(SchedctlError):
    """A platform request failed. Keeps the request's method and URL and the server's answer."""

    def __init__(
        self, method: str, url: str, status: int | None, message: str, *, body: object = None
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        self.body = body
        status_text = str(status) if status is not None else "no response"
        super().__init__(f"{method} {url}: {status_text}: {message}")


class AmbiguousWrite(ApiError):
    """The request may have been processed: its answer never arrived."""


class ListingError(SchedctlError):
    """A listing failed or may be incomplete: nothing is written."""


class MarkerLost(SchedctlError):
    """The platform changed the field that carries the marker (cut a long name, ...)."""


class StalePlanError(SchedctlError):
    """A saved plan no longer matches the live listing."""


Translation = Callable[[Exception], Exception]


@contextmanager
def map_exceptions(mapping: Mapping[type[Exception], Translation]) -> Iterator[None]:
    """Re-raise a foreign exception as the one its type maps to (the first match, in order),
    chained to the original; others pass unchanged. `{ValueError: UsageError}` keeps the
    message; a function can word it."""
    try:
        yield
    except tuple(mapping) as exc:
        for kind, translate in mapping.items():
            if isinstance(exc, kind):
                raise translate(exc) from exc
        raise  # pragma: no cover - tuple(mapping) matched one of them
