"""The provider protocol, and the REST plumbing every provider shares.

    ProviderClass   the class registered under `schedctl.providers`: check() (offline), and
                    construction with a connected ApiClient
    Provider        the connected half: list / create / update / delete / run / runs / adopt,
                    to_remote / from_remote, desired() / live() (the comparison forms)
    RestProvider    the shared implementation: tolerant paged listing, the ownership marker,
                    the normalized form. engine.py and aitroop.py fill in the platform parts.

Three shapes of one task, so that "equal" means equal on the platform:

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
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from reconciler import timing
from reconciler.errors import ApiError, ListingError
from reconciler.model import WEEKDAY_NAMES, weekday_number

if TYPE_CHECKING:
    from reconciler.errors import Diagnostic
    from reconciler.http import ApiClient
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target

Json = dict[str, Any]

# Where a list may sit in a page object, and where the next page is named.
LIST_KEYS = ("items", "data", "tasks", "scheduled_tasks", "results")
CURSOR_KEYS = ("next_cursor", "cursor", "next", "next_page", "next_url")
MAX_PAGES = 100_000


# ---------------------------------------------------------------------------------------------
# Plain data handed to plan.py


@dataclass(frozen=True)
class Marker:
    """Who owns a live object: the config's `owner` and the schedule's key."""

    owner: str
    key: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.key}"


@dataclass(frozen=True)
class TaskStatus:
    enabled: bool | None = None
    last_status: str | None = None
    last_run: str | None = None
    next_run: str | None = None
    consecutive_errors: int | None = None


@dataclass(frozen=True)
class LiveTask:
    id: str
    title: str  # the display name, marker removed
    marker: Marker | None
    document: Json  # neutral form (from_remote)
    normalized: Json  # comparison form
    status: TaskStatus = field(default_factory=TaskStatus)
    created_at: str | None = None  # as the platform wrote it; orders duplicates (oldest kept)


@dataclass(frozen=True)
class DesiredTask:
    key: str
    title: str
    payload: Json  # the remote JSON to send, marker included
    document: Json
    normalized: Json
    source: str = ""  # file:line of the schedule

    @cached_property
    def normalized_json(self) -> str:
        """`normalized` as a fingerprint row holds it: encoded once, for every live task that
        matches this form (see fingerprint_row)."""
        return _ROW_ENCODER.encode(self.normalized)


@dataclass(frozen=True)
class Listing:
    tasks: list[LiveTask]
    pages: int
    fingerprint: str


# One encoder (json.dumps makes one per call); the forms it encodes are trees read from JSON or
# YAML, so the check for cycles is skipped.
_ROW_ENCODER = json.JSONEncoder(sort_keys=True, check_circular=False)
_quote = json.encoder.encode_basestring_ascii  # a str as _ROW_ENCODER writes it


def fingerprint_row(task: LiveTask, normalized_json: str | None = None) -> str:
    """The JSON array [id, marker, title, normalized] of one task.

    `normalized_json`: `task.normalized` already encoded (the desired form's, when the task
    matched it); the row is the same text either way.
    """
    marker = str(task.marker) if task.marker else ""
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
# Protocols


class Provider(Protocol):
    """A provider connected to one target."""

    name: ClassVar[str]
    target_name: str
    owner: str

    def list_tasks(
        self, known: Callable[[], Mapping[str, DesiredTask]] | None = None
    ) -> Listing: ...
    def desired(self, resolved: ResolvedSchedule) -> DesiredTask: ...
    def live(self, remote: Json, hints: Mapping[str, DesiredTask] | None = None) -> LiveTask: ...
    def create(self, payload: Json) -> LiveTask: ...
    def update(self, remote_id: str, payload: Json) -> LiveTask: ...
    def delete(self, remote_id: str) -> None: ...
    def adopt(self, task: LiveTask, key: str) -> LiveTask: ...
    def run(self, remote_id: str) -> Any: ...
    def runs(self, remote_id: str, limit: int) -> list[Json]: ...
    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json: ...
    def from_remote(self, remote: Mapping[str, Any]) -> Json: ...
    def describe_target(self) -> str: ...


class ProviderClass(Protocol):
    """The class side of a provider: registered under the `schedctl.providers` entry points."""

    name: ClassVar[str]

    def __call__(
        self, client: ApiClient, target: Target, *, target_name: str, owner: str
    ) -> Provider: ...

    def check(
        self, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        """Offline: what this platform cannot express or will treat differently."""
        ...


# ---------------------------------------------------------------------------------------------
# Markers


@dataclass(frozen=True)
class MarkerStyle:
    """How a marker is written into a text field: `<text><joiner><open>owner/key<close>`."""

    open: str
    close: str
    joiner: str

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """The marker from its opening to the end of the text (trailing blanks allowed)."""
        # Owner and key follow the config's patterns, so free text is never taken for a marker.
        return re.compile(
            rf"{re.escape(self.open)}(?P<owner>[a-z0-9][a-z0-9._-]{{0,62}})/"
            rf"(?P<key>[a-z0-9][a-z0-9-]{{0,62}}){re.escape(self.close)}\s*\Z"
        )

    def attach(self, text: str, marker: Marker) -> str:
        tag = f"{self.open}{marker}{self.close}"
        text = text.rstrip()
        return f"{text}{self.joiner}{tag}" if text else tag

    def detach(self, text: str) -> tuple[str, Marker | None]:
        # Only blanks may follow a marker, and neither owner nor key holds the opening, so a
        # marker can only start at the opening's last occurrence: one match, not a search.
        start = text.rfind(self.open)
        match = self.pattern.match(text, start) if start >= 0 else None
        if match is None:
            return text, None
        return text[:start].rstrip(), Marker(match["owner"], match["key"])


# ---------------------------------------------------------------------------------------------
# Tolerant listing


def split_page(body: Any) -> tuple[list[Any], str | None]:
    """(items, next cursor or link) of one page: a bare array, or an object holding one."""
    if isinstance(body, list):
        return body, None
    if not isinstance(body, Mapping):
        raise ValueError(f"expected a list or an object, got {type(body).__name__}")
    items = next((body[k] for k in LIST_KEYS if isinstance(body.get(k), list)), None)
    if items is None:
        raise ValueError(f"no list under any of {', '.join(LIST_KEYS)}")
    if body.get("has_more") is False:
        return items, None
    links = body.get("links")
    candidates = [body.get(k) for k in CURSOR_KEYS]
    if isinstance(links, Mapping):
        candidates.append(links.get("next"))
    nxt = next(
        (c for c in candidates if isinstance(c, (str, int)) and not isinstance(c, bool)), None
    )
    return items, (str(nxt) if nxt not in (None, "") else None)


def _link_header_next(value: str | None) -> str | None:
    for part in (value or "").split(","):
        url, _, params = part.partition(";")
        if re.search(r'rel\s*=\s*"?next"?', params):
            return url.strip().strip("<>")
    return None


def iter_pages(
    client: ApiClient, path: str, *, waiting: Callable[[], None] | None = None
) -> Iterator[list[Json]]:
    """Each page's items, following cursors and links. ListingError when it cannot finish.

    `waiting` is called as each request goes out (see ApiClient.send).
    """
    seen: set[str] = set()
    url, params = path, None
    pages = 0
    while True:
        try:
            response = client.send("GET", url, params=params, waiting=waiting)
            body = response.json() if response.content else []
            page, nxt = split_page(body)
        except ApiError as exc:
            raise ListingError(f"listing failed after {pages} page(s): {exc}") from exc
        except ValueError as exc:  # bad JSON, or a shape we cannot read
            where = client.redact(str(client.url(url)))  # a link may echo the token
            raise ListingError(f"GET {where}: unreadable listing: {exc}") from exc
        pages += 1
        for item in page:
            if not isinstance(item, Mapping) or "id" not in item:
                shown = client.redact(repr(item))[:100]  # redacted before the cut
                where = client.redact(str(client.url(url)))
                raise ListingError(f"GET {where}: a listed item has no id: {shown}")
        yield page
        nxt = nxt or _link_header_next(response.headers.get("link"))
        if nxt is None:
            return
        if nxt in seen or pages >= MAX_PAGES:
            cursor = client.redact(repr(nxt))
            raise ListingError(
                f"GET {client.url(path)}: the listing's pages loop (cursor {cursor})"
            )
        seen.add(nxt)
        if nxt.startswith(("http://", "https://", "/")):
            url, params = nxt, None
        else:
            url, params = path, {"cursor": nxt}


def read_all_pages(client: ApiClient, path: str) -> tuple[list[Json], int]:
    """Every item of a listing and the number of pages read."""
    pages = list(iter_pages(client, path))
    return [dict(item) for page in pages for item in page], len(pages)


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
    when = (
        value
        if isinstance(value, datetime)
        else datetime.fromisoformat(value.replace("Z", "+00:00"))
    )
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
        weekly["days"] = sorted({weekday_number(d) for d in weekly.get("days", ())})
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


def weekday_names(days: Sequence[int]) -> list[str]:
    return [WEEKDAY_NAMES[d % 7] for d in sorted(set(days))]


def _holds(remote: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether every field of `payload` has its value in `remote` (a missing one reads None)."""
    # The item views compare in C; only a field the platform leaves out needs the slow loop.
    if payload.items() <= remote.items():
        return True
    return not payload.keys() <= remote.keys() and all(
        remote.get(k) == v for k, v in payload.items()
    )


def _created_at(remote: Mapping[str, Any]) -> str | None:
    # Not in either platform document, but common (the engine sandbox writes createdAt).
    value = remote.get("createdAt", remote.get("created_at"))
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# The shared implementation


class RestProvider(ABC):
    """A REST platform with list / create / update / delete / run / runs endpoints.

    Subclasses set `marker_style`, `defaults`, `update_method` and implement the paths and the
    remote <-> document mapping; everything else (paging, markers, comparison) lives here.
    """

    name: ClassVar[str]
    marker_style: ClassVar[MarkerStyle]
    defaults: ClassVar[Mapping[str, Any]]
    update_method: ClassVar[str] = "PATCH"

    def __init__(self, client: ApiClient, target: Target, *, target_name: str, owner: str) -> None:
        self.client = client
        self.target = target
        self.target_name = target_name
        self.owner = owner

    # -- platform parts -------------------------------------------------------------------

    @abstractmethod
    def collection_path(self) -> str: ...

    @abstractmethod
    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json:
        """The platform JSON for a neutral document, marker included."""

    @abstractmethod
    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        """The neutral document for platform JSON; its `name` is the marker's key, if any."""

    @abstractmethod
    def split_marker(self, remote: Mapping[str, Any]) -> tuple[str, Marker | None]:
        """(display title, marker) of a remote object."""

    @abstractmethod
    def status_of(self, remote: Mapping[str, Any]) -> TaskStatus: ...

    @abstractmethod
    def adoption_payload(self, task: LiveTask, remote: Mapping[str, Any], key: str) -> Json:
        """The update body that adds the marker (and nothing else that would change)."""

    def describe_target(self) -> str:
        return f"{self.name} {self.client.base_url}"

    # -- shared ---------------------------------------------------------------------------

    def item_path(self, remote_id: str) -> str:
        return f"{self.collection_path()}/{remote_id}"

    def marker(self, key: str) -> Marker:
        return Marker(self.owner, key)

    def live(self, remote: Json, hints: Mapping[str, DesiredTask] | None = None) -> LiveTask:
        title, marker = self.split_marker(remote)
        hint = hints.get(marker.key) if hints and marker and marker.owner == self.owner else None
        if hint is not None and _holds(remote, hint.payload):
            # Every field the platform holds equals what would be sent: the forms are the same
            # (from_remote reads only those fields), so the conversion is skipped.
            document, normalized = hint.document, hint.normalized
        else:
            document = self.from_remote(remote)
            normalized = normalize(document, self.defaults)
        return LiveTask(
            id=str(remote["id"]),
            title=title,
            marker=marker,
            document=document,
            normalized=normalized,
            status=self.status_of(remote),
            created_at=_created_at(remote),
        )

    def desired(self, resolved: ResolvedSchedule) -> DesiredTask:
        document = resolved.schedule.model_dump(mode="json", exclude_none=True)
        payload = self.to_remote(document, resolved.timezone, resolved.key)
        projected = self.from_remote(payload)  # what the platform will hold
        pos = resolved.where(("name",))
        task = DesiredTask(
            key=resolved.key,
            title=resolved.title,
            payload=payload,
            document=projected,
            normalized=normalize(projected, self.defaults),
            source=f"{resolved.doc.file}:{pos.line}",
        )
        task.normalized_json  # noqa: B018  encoded beside the form, not per live task
        return task

    def list_tasks(self, known: Callable[[], Mapping[str, DesiredTask]] | None = None) -> Listing:
        """Every live task. `known` (desired forms by key) lets in-sync tasks skip conversion."""
        # Each page is converted on a worker while the next one is in flight: waiting on the
        # socket frees the GIL, so the listing costs little more than its round trips. The
        # worker takes a turn only once the next request is written (`waiting`), never
        # competing with sending it: its first turn builds the hints, during the first round
        # trip; page N's comes with the request for page N + 1, the last page's at the end.
        turns = threading.Semaphore(0)
        futures: list[Future[list[tuple[LiveTask, str]]]] = []
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(self._hints_turn, turns, known)
            try:
                for page in iter_pages(self.client, self.collection_path(), waiting=turns.release):
                    futures.append(pool.submit(self._live_page, page, known, turns))
            finally:
                for _ in range(len(futures) + 1):  # no job is left waiting for its turn
                    turns.release()
        converted = [pair for future in futures for pair in future.result()]
        tasks = [task for task, _ in converted]
        return Listing(tasks, len(futures), fingerprint(tasks, [row for _, row in converted]))

    @staticmethod
    def _hints_turn(
        turns: threading.Semaphore, known: Callable[[], Mapping[str, DesiredTask]] | None
    ) -> None:
        turns.acquire()
        if known is not None:
            known()  # cached by the caller; an error surfaces again from a page's conversion

    def _live_page(
        self,
        page: list[Json],
        known: Callable[[], Mapping[str, DesiredTask]] | None,
        turns: threading.Semaphore | None = None,
    ) -> list[tuple[LiveTask, str]]:
        if turns is not None:
            turns.acquire()
        hints = known() if known is not None else None
        out = []
        for item in page:
            task = self.live(item, hints)
            hint = hints.get(task.marker.key) if hints and task.marker else None
            # A task that took its hint's form shares the hint's encoding of it too.
            if hint is not None and hint.normalized is task.normalized:
                out.append((task, fingerprint_row(task, hint.normalized_json)))
            else:
                out.append((task, fingerprint_row(task)))
        return out

    def _task(self, body: Any, fallback_id: str | None = None) -> LiveTask:
        if not isinstance(body, Mapping) or "id" not in body:
            if fallback_id is None:
                raise ApiError(
                    "POST",
                    str(self.client.url(self.collection_path())),
                    None,
                    "the answer has no task id",
                )
            body = {**(body if isinstance(body, Mapping) else {}), "id": fallback_id}
        return self.live(dict(body))

    def create(self, payload: Json) -> LiveTask:
        return self._task(self.client.request("POST", self.collection_path(), json_body=payload))

    def update(self, remote_id: str, payload: Json) -> LiveTask:
        body = self.client.request(self.update_method, self.item_path(remote_id), json_body=payload)
        return self._task(body if body else {**payload, "id": remote_id}, remote_id)

    def delete(self, remote_id: str) -> None:
        try:
            self.client.request("DELETE", self.item_path(remote_id))
        except ApiError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    def adopt(self, task: LiveTask, key: str) -> LiveTask:
        remote = self.to_remote(
            task.document, str(task.document.get("schedule", {}).get("timezone") or "UTC"), key
        )
        return self.update(task.id, self.adoption_payload(task, remote, key))

    def run(self, remote_id: str) -> Any:
        return self.client.request("POST", f"{self.item_path(remote_id)}/run")

    def runs(self, remote_id: str, limit: int) -> list[Json]:
        body = self.client.request(
            "GET", f"{self.item_path(remote_id)}/runs", params={"limit": str(limit)}
        )
        try:
            items, _ = split_page(body if body is not None else [])
        except ValueError as exc:
            raise ListingError(f"unreadable run log: {exc}") from exc
        return [dict(i) for i in items if isinstance(i, Mapping)][:limit]
