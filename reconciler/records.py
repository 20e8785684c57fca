"""What the to_dict of every result record shares (plans, audits, reports, loads).

Their JSON forms are versioned, so each to_dict names its fields in order; these only spare
writing `"name": self.name` for the fields that go out as they are.
"""

from __future__ import annotations

from typing import Any


def fields_of(record: object, *names: str) -> dict[str, Any]:
    """These attributes of `record` under their own names, in this order."""
    return {name: getattr(record, name) for name in names}


def source_of(file: str, line: int) -> dict[str, Any]:
    """Where a record comes from: null where it is not known (an orphan has no file)."""
    return {"file": file or None, "line": line or None}
