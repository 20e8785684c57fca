"""Error answers, one JSON shape for every platform: {"error": msg, "message": msg}.

Validation runs through pydantic; this module turns its error list into the one specific
message a user reads (`invalid schedule: interval below 300 seconds`, `missing required
field 'name'`). Checks that need a hand-written message raise `reject(...)` from a validator:
its text is taken verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

SCHEDULE_PREFIX = "invalid schedule: "
_VERBATIM = "sandbox_rule"


class Problem(Exception):
    """An error answer raised from a route; rendered by the handler in app.py."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class ErrorBody(BaseModel):
    """What every 4xx carries; `detail` lists each validation error when there are several."""

    error: str
    message: str
    detail: list[dict[str, Any]] | None = None


def error_body(message: str, detail: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "message": message}
    if detail is not None:
        body["detail"] = detail
    return body


def is_query_error(error: Mapping[str, Any]) -> bool:
    """A bad query parameter: the request is malformed (400), not an invalid task (422)."""
    loc = error.get("loc", ())
    return len(loc) > 1 and loc[0] == "query"


def shown(value: str, limit: int = 60) -> str:
    """A client's value quoted for an error message, cut short if long."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def reject(message: str) -> PydanticCustomError:
    """A validation error whose message is shown as written (raise it from a validator)."""
    # The message goes in the context: a template would try to format braces in user input.
    return PydanticCustomError(_VERBATIM, "{reason}", {"reason": message})


def _discriminator(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("discriminator", "type")).strip("'")


@dataclass(frozen=True)
class MessageStyle:
    """How a platform names its errors.

    schedule_fields: top-level fields whose problems read "invalid schedule: ...".
    union_tags: discriminator values pydantic puts in error locations; not field names.
    """

    schedule_fields: frozenset[str]
    union_tags: frozenset[str] = frozenset()

    def describe(self, error: Mapping[str, Any]) -> str:
        """One readable sentence for one pydantic error."""
        kind = str(error.get("type", ""))
        loc = [p for p in error.get("loc", ()) if p not in self.union_tags]
        if is_query_error(error):
            name = ".".join(str(p) for p in loc[1:])
            got = error.get("input")
            suffix = f", got {shown(got)}" if isinstance(got, str) else ""
            return f"invalid query parameter '{name}': {error['msg']}{suffix}"
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]  # where FastAPI found it; the field name says enough
        ctx: Mapping[str, Any] = error.get("ctx") or {}
        if kind == _VERBATIM:
            return str(error["msg"])
        if kind == "json_invalid":
            return f"invalid JSON body: {ctx.get('error', error.get('msg'))}"
        field = ".".join(str(p) for p in loc)
        if not loc:
            return (
                "missing request body"
                if kind == "missing"
                else "request body must be a JSON object"
            )
        if kind == "missing":
            text = f"missing required field '{field}'"
            if len(loc) == 1:  # a missing `schedule` is a missing field, not a bad schedule
                return text
        elif kind == "literal_error":
            text = f"unknown {field} {error.get('input')!r}: {error['msg']}"
        elif kind == "union_tag_invalid":
            tag, expected = ctx.get("tag"), ctx.get("expected_tags")
            text = f"unknown {field} {_discriminator(ctx)} {tag!r}: expected {expected}"
        elif kind == "union_tag_not_found":
            text = f"missing required field '{field}.{_discriminator(ctx)}'"
        else:
            text = f"{field}: {error['msg']}"
        if str(loc[0]) in self.schedule_fields and not text.startswith(SCHEDULE_PREFIX):
            text = SCHEDULE_PREFIX + text
        return text

    def summarize(self, errors: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """The first error's message (pydantic reports in field order) and all as detail."""
        detail: list[dict[str, Any]] = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": self.describe(e),
                "type": str(e.get("type")),
            }
            for e in errors
        ]
        message = detail[0]["msg"] if detail else "invalid request"
        return message, detail
