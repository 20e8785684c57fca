"""The plain shared types of reconciliation, and the comparison form (pure: no I/O, no threads).

    Marker        who owns a live object: the config's `owner` and the schedule's key
    LiveTask      a task as listed, DesiredTask a task as the repository wants it, Listing
                  one target's listing with its fingerprint
    normalize     the comparison form

plan.py diffs these and nothing else; platforms/ builds them. Three shapes of one task, so
that "equal" means equal on the platform:

    remote      the platform's JSON (what to_remote builds and the listing returns)
    document    the neutral schedule-file mapping (what from_remote returns, what import writes)
    normalized  document flattened to paths (`schedule.cron`, `action.prompt`, ...), crons in
                canonical form, server defaults filled in. Desired state is compared after the
                round trip document -> remote -> document, so only what the platform can
                express is ever compared.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from typing import Any

from reconciler import timing

Json = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Plain data handed to plan.py


@dataclass(frozen=True)
class Pause:
    """A pause `schedctl pause` made, kept in the marker: who, why, and until when.

    Written as `paused until 2026-05-01T12:00:00Z by ana@example.com: vendor outage` (no
    `until` part when open-ended) in a tag of the marker's style just before the marker, so a
    schedctl that knows no pauses still reads the marker after it.
    """

    by: str
    note: str = ""
    until: str | None = None  # UTC, `YYYY-MM-DDTHH:MM:SSZ`; None: until `schedctl resume`

    def ended(self, now: datetime) -> bool:
        return self.until is not None and now >= _instant(self.until)

    def text(self) -> str:
        until = f" until {self.until}" if self.until else ""
        return f"paused{until} by {self.by}" + (f": {self.note}" if self.note else "")

    @classmethod
    def parse(cls, text: str) -> Pause | None:
        """The pause a tag's text holds, or None when it is not one (see `text`)."""
        match = _PAUSE.fullmatch(text)
        if match is None:
            return None
        until = match["until"]
        if until is not None:
            try:
                until = utc_iso(until)
            except (ValueError, OverflowError):
                return None
        return cls(match["by"], match["note"] or "", until)

    def describe(self) -> str:
        """`paused until 2026-05-01T12:00:00Z by ana@example.com (vendor outage)`"""
        until = f" until {self.until}" if self.until else " (no end)"
        return f"paused{until} by {self.by}" + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict[str, str | None]:
        return {"until": self.until, "by": self.by, "note": self.note}

    @classmethod
    def from_dict(cls, data: Any) -> Pause | None:
        if not isinstance(data, Mapping):
            return None
        until = data.get("until")
        return cls(
            str(data.get("by", "")), str(data.get("note") or ""), str(until) if until else None
        )


# Who is one word (an email or a user name); the note is one line, the rest of the tag.
_PAUSE = re.compile(r"paused(?: until (?P<until>\S+))? by (?P<by>[^\s:]+)(?:: (?P<note>.+))?")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Marker:
    """Who owns a live object: the config's `owner` and the schedule's key (and its pause)."""

    owner: str
    key: str
    pause: Pause | None = None

    def __str__(self) -> str:
        return f"{self.owner}/{self.key}"


# A listing makes a TaskStatus and a LiveTask per live object, a plan a Change and FieldChanges
# per difference: plain slotted classes, not frozen ones (a frozen dataclass sets each field
# through object.__setattr__, three times the cost). They are never changed once made.
@dataclass(slots=True)
class TaskStatus:
    enabled: bool | None = None
    last_status: str | None = None
    last_run: str | None = None
    next_run: str | None = None
    consecutive_errors: int | None = None


@dataclass(frozen=True)
class TemplateRef:
    """Which template and item a schedule came from: plain data, carried into plans."""

    name: str  # the fleet: `digest`
    item: str  # the item's label: `acme`
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}[{self.item}]"

    @property
    def group(self) -> str:
        return f"{self.name}[*]"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "item": self.item, "description": self.description}

    @classmethod
    def from_dict(cls, data: Any) -> TemplateRef | None:
        if not isinstance(data, Mapping):
            return None
        return cls(
            str(data.get("name", "")), str(data.get("item", "")), str(data.get("description") or "")
        )


@dataclass(slots=True)  # not frozen: see TaskStatus
class FieldChange:
    path: str
    before: Any
    after: Any


# Paths listed first in a field diff, in this order; the rest follow alphabetically.
_PATH_ORDER = ("title", "description", "enabled", "schedule", "action", "deliver")


def _path_rank(change: FieldChange) -> tuple[int, str]:
    head = change.path.split(".", 1)[0]
    return (_PATH_ORDER.index(head) if head in _PATH_ORDER else len(_PATH_ORDER), change.path)


def in_path_order(changes: list[FieldChange]) -> tuple[FieldChange, ...]:
    """A diff's changes as it is shown: title, description, enabled, schedule, action, deliver,
    then the rest by path."""
    if len(changes) > 1:
        changes.sort(key=_path_rank)
    return tuple(changes)


@dataclass(slots=True)  # not frozen: see TaskStatus
class LiveTask:
    id: str
    title: str  # the display name, marker removed
    marker: Marker | None
    document: Json  # neutral form (from_remote)
    normalized: Json  # comparison form
    status: TaskStatus = field(default_factory=TaskStatus)
    created_at: str | None = None  # as the platform wrote it; orders duplicates (oldest kept)
    # Why the object could not be read (then document is empty): shown, never written.
    unreadable: str | None = None
    # Unmarked objects only: the text of the field a marker sits in (see cut_copy).
    marked: str = ""
    # Read from a desired form with plain fields edited (RestProvider._from_hint): that form
    # and the diff against it (live values before, the form's after), found while reading.
    edited_from: Json | None = field(default=None, compare=False, repr=False)
    edits: tuple[FieldChange, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class DesiredTask:
    key: str
    title: str
    payload: Json  # the remote JSON to send, marker included
    document: Json
    normalized: Json
    source: str = ""  # file:line of the schedule
    marked: str = ""  # the text of the field that carries the marker, as sent
    # `marked` split as the provider's MarkerStyle.detach splits it: what an object holding
    # that very text reads as, without reading it again (None: not split).
    marked_split: tuple[str, Marker | None] | None = None
    template: TemplateRef | None = None  # the template and item it was made from
    renamed_from: tuple[str, ...] = ()  # keys it had before (re-marked in place)
    protect: bool = False  # never deleted without `apply --allow-delete KEY`
    ignore: tuple[str, ...] = ()  # `ignore_changes` names, the target's and its own

    @cached_property
    def normalized_json(self) -> str:
        """`normalized` as a fingerprint row holds it: encoded once, for every live task that
        matches this form (see fingerprint_row)."""
        return _ROW_ENCODER.encode(self.normalized)

    def edited_json(self, values: Mapping[str, Any]) -> str:
        """`normalized` with the values of some of its paths replaced, encoded as
        normalized_json encodes it: each item put in place in that text, not encoded again."""
        text = self.normalized_json
        for path, value in values.items():
            key = _quote(path)
            old = f"{key}: {_encoded(self.normalized[path])}"
            # `"path": ` is a key wherever it stands (a string value never precedes `: `), so
            # a single match is this item; two (the same key and value nested) are encoded.
            if text.count(old) != 1:
                return _ROW_ENCODER.encode({**self.normalized, **values})
            text = text.replace(old, f"{key}: {_encoded(value)}")
        return text


def cut_copy(task: LiveTask, marked: str, normalized: Mapping[str, Any]) -> bool:
    """Whether `task` is what was sent as `marked` / `normalized`, with the marker cut off.

    A platform that cuts a long name or description drops the marker at its end: the object
    is then unmarked, the field a non-empty proper prefix of what was sent, and the rest equal.
    """
    got = task.marked
    if task.marker is not None or not got or len(got) >= len(marked):
        return False
    if not marked.startswith(got):
        return False
    skip = ("title", "description")  # the field that was cut, and the other free text
    return {k: v for k, v in task.normalized.items() if k not in skip} == {
        k: v for k, v in normalized.items() if k not in skip
    }


@dataclass(frozen=True)
class Listing:
    tasks: list[LiveTask]
    pages: int
    fingerprint: str


# One encoder (json.dumps makes one per call); the forms it encodes are trees read from JSON or
# YAML, so the check for cycles is skipped.
_ROW_ENCODER = json.JSONEncoder(sort_keys=True, check_circular=False)
_quote = json.encoder.encode_basestring_ascii  # a str as _ROW_ENCODER writes it


def _encoded(value: Any) -> str:
    """One value as _ROW_ENCODER writes it; text, the usual edit, without the encoder's call."""
    return _quote(value) if type(value) is str else _ROW_ENCODER.encode(value)


def fingerprint_row(task: LiveTask, normalized_json: str | None = None) -> str:
    """The JSON array [id, marker, title, normalized] of one task.

    `normalized_json`: `task.normalized` already encoded (the desired form's, when the task
    matched it); the row is the same text either way.
    """
    marker = str(task.marker) if task.marker else ""
    if task.marker is not None and task.marker.pause is not None:  # a new pause makes it stale
        marker += f" {task.marker.pause.text()}"
    if normalized_json is None:
        normalized_json = _ROW_ENCODER.encode(task.normalized)
    return f"[{_quote(task.id)}, {_quote(marker)}, {_quote(task.title)}, {normalized_json}]"


def fingerprint(tasks: Sequence[LiveTask], rows: Sequence[str] | None = None) -> str:
    """A digest of what a plan depends on: ids, markers, titles, comparison forms.

    Server-computed fields (next run, counters) are not in it, so a task firing between
    `plan --out` and `apply` does not make the plan stale.
    """
    rows = sorted(rows if rows is not None else map(fingerprint_row, tasks))
    return "sha256:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The normalized (comparison) form


@lru_cache(maxsize=4096)
def canonical_cron(expression: str) -> str:
    try:
        return timing.CronExpr.parse(expression).canonical()
    except ValueError:  # a live expression we cannot parse compares as written
        return " ".join(expression.split())


@lru_cache(maxsize=1024)
def canonical_every(every: str) -> str:
    return timing.format_duration(timing.parse_duration(every))


def utc_iso(value: str | datetime, zone: str = "UTC") -> str:
    """An instant as `YYYY-MM-DDTHH:MM:SSZ`; naive values are wall time in `zone`."""
    when = value if isinstance(value, datetime) else timing.parse_timestamp(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timing.get_zone(zone))
    text = when.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def _flatten(prefix: str, value: Json, out: Json) -> None:
    for key, inner in value.items():  # one call per mapping, not per leaf
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(inner, dict) and path != "action.app.input":
            _flatten(path, inner, out)
        elif inner is not None:
            out[path] = inner


def normalize(document: Mapping[str, Any], defaults: Mapping[str, Any]) -> Json:
    """The comparison form of a neutral document: flat paths, canonical values, defaults filled."""
    doc = {k: v for k, v in document.items() if k not in ("name", "targets", "overrides")}
    doc.setdefault("title", document.get("name"))
    if not doc.get("description"):
        doc.pop("description", None)
    schedule = dict(doc.get("schedule") or {})
    zone = str(schedule.get("timezone") or "UTC")
    if schedule.get("cron") is not None:
        schedule["cron"] = canonical_cron(str(schedule["cron"]))
    if schedule.get("every") is not None:
        schedule["every"] = canonical_every(str(schedule["every"]))
    for key in ("at", "anchor"):
        if schedule.get(key) is not None:
            schedule[key] = utc_iso(schedule[key], zone)
    if isinstance(schedule.get("weekly"), Mapping):
        weekly = dict(schedule["weekly"])
        weekly["days"] = timing.weekday_numbers(weekly.get("days", ()))
        schedule["weekly"] = weekly
    doc["schedule"] = schedule
    out: Json = {}
    _flatten("", doc, out)
    for path, value in defaults.items():
        if path in out or not _applies(path, out):
            continue
        out[path] = value
    return out


def _applies(path: str, flat: Mapping[str, Any]) -> bool:
    # `schedule.timezone` is a default only for forms that have a wall clock.
    if path == "schedule.timezone":
        return not any(
            k.startswith(("schedule.every", "schedule.at", "schedule.anchor")) for k in flat
        )
    return True
