"""The provider protocol, and the REST plumbing every provider shares.

    ProviderClass   the class a platform names as its provider: check() (offline), and
                    construction with a connected ApiClient
    Provider        the connected half: list / create / update / delete / run / runs / adopt,
                    to_remote / from_remote, desired() / live() (the comparison forms)
    RestProvider    the shared implementation: tolerant paged listing, the ownership marker,
                    the comparison forms of reconciler.forms. Each platform's provider.py
                    fills in the platform parts.

The protocols sit here, beside their one implementation: they are the shape of a REST
collection (list, create, update, delete, run, runs) and change with RestProvider.
"""

from __future__ import annotations

import json
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from reconciler import timing
from reconciler.errors import ApiError, ListingError, MarkerLost, map_exceptions
from reconciler.forms import (
    DesiredTask,
    FieldChange,
    Json,
    Listing,
    LiveTask,
    Marker,
    Pause,
    TaskStatus,
    cut_copy,
    fingerprint,
    fingerprint_row,
    in_path_order,
    normalize,
    utc_iso,
)
from reconciler.timing import WEEKDAY_NAMES

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from reconciler.errors import Diagnostic
    from reconciler.http import ApiClient
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target

# Where a list may sit in a page object, and where the next page is named: a cursor (sent
# back as `?cursor=`), or a link when the value reads as one (absolute, `/...` or `?...`).
LIST_KEYS = ("items", "data", "tasks", "scheduled_tasks", "results")
CURSOR_KEYS = ("next_cursor", "nextCursor", "cursor", "next", "next_page", "nextPage",
               "next_url", "nextUrl", "next_page_token", "nextPageToken", "next_token",
               "nextToken")  # fmt: skip
# What a page may claim about the whole listing: that there is more, and how big it is.
MORE_KEYS = ("has_more", "hasMore", "has_next", "hasNext", "has_next_page", "hasNextPage")
TOTAL_KEYS = ("total", "total_count", "totalCount", "count", "total_items", "totalItems",
              "total_results", "totalResults")  # fmt: skip
# Where those may be nested instead of sitting beside the list.
META_KEYS = ("meta", "pagination", "paging", "page_info", "pageInfo")
# A listing that does not end is stopped, by pages and by time (each page also has its timeout).
MAX_PAGES = 10_000
MAX_LISTING_SECONDS = 300.0


# ---------------------------------------------------------------------------------------------
# Protocols


class Provider(Protocol):
    """A provider connected to one target."""

    name: ClassVar[str]
    target_name: str
    owner: str

    def list_tasks(
        self,
        known: Callable[[], Mapping[str, DesiredTask]] | None = None,
        listed: Callable[[list[LiveTask]], None] | None = None,
    ) -> Listing: ...
    def desired(self, resolved: ResolvedSchedule) -> DesiredTask: ...
    def live(self, remote: Json, hints: Mapping[str, DesiredTask] | None = None) -> LiveTask: ...
    def create(self, payload: Json) -> LiveTask: ...
    def update(self, remote_id: str, payload: Json) -> LiveTask: ...
    def delete(self, remote_id: str) -> None: ...
    def adopt(self, task: LiveTask, key: str) -> LiveTask: ...
    def with_pause(self, payload: Json, pause: Pause | None) -> Json: ...
    def pause_payload(self, task: LiveTask, pause: Pause | None, *, enabled: bool) -> Json: ...
    def cut_copy(self, tasks: Sequence[LiveTask], payload: Json) -> LiveTask | None: ...
    def marker_lost(self, task: LiveTask, payload: Json, *, created: bool) -> MarkerLost: ...
    def run(self, remote_id: str) -> Any: ...
    def runs(self, remote_id: str, limit: int) -> list[Json]: ...
    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json: ...
    def from_remote(self, remote: Mapping[str, Any]) -> Json: ...
    def describe_target(self) -> str: ...


class ProviderClass(Protocol):
    """The class side of a provider: a Platform's `provider` (or a bare entry point's class)."""

    name: str  # a class attribute; a ClassVar here could never match a class object

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
    """How a marker is written into a text field: `<text><joiner><open>owner/key<close>`.

    A paused object's marker has its pause (forms.Pause) in a tag of the same style just
    before it: `<text><joiner><open>paused ...<close><joiner><open>owner/key<close>`.
    """

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

    @cached_property
    def paused_pattern(self) -> re.Pattern[str]:
        """The pause tag and the marker after it; the tag's text is one line."""
        tag = rf"{re.escape(self.open)}(?P<pause>paused[^\n]*?){re.escape(self.close)}"
        return re.compile(rf"\s*{tag}\s*{self.pattern.pattern}")

    def attach(self, text: str, marker: Marker) -> str:
        text = text.rstrip()
        if marker.pause is not None:
            pause = f"{self.open}{marker.pause.text()}{self.close}"
            text = f"{text}{self.joiner}{pause}" if text else pause
        tag = f"{self.open}{Marker(marker.owner, marker.key)}{self.close}"
        return f"{text}{self.joiner}{tag}" if text else tag

    def detach(self, text: str) -> tuple[str, Marker | None]:
        # Only blanks may follow a marker, and neither owner nor key holds the opening, so a
        # marker can only start at the opening's last occurrence: one match, not a search.
        start = text.rfind(self.open)
        match = self.pattern.match(text, start) if start >= 0 else None
        if match is None:
            return text, None
        if text.find(self.open, 0, start) != -1:  # maybe a pause tag before it
            paused = self.paused_pattern.search(text)
            pause = Pause.parse(paused["pause"]) if paused is not None else None
            if paused is not None and pause is not None:
                marker = Marker(paused["owner"], paused["key"], pause)
                return text[: paused.start()].rstrip(), marker
        return text[:start].rstrip(), Marker(match["owner"], match["key"])


# ---------------------------------------------------------------------------------------------
# Tolerant listing


@dataclass(frozen=True)
class Page:
    """What one page of a listing says: its items, the next page, and what it claims."""

    items: list[Any]
    next: str | None = None  # a cursor, or a link (absolute or relative to this page)
    more: bool | None = None  # its "there is more" flag, when it has one
    more_key: str = ""
    total: int | None = None  # the size of the whole listing, when it declares one
    total_key: str = ""


def _first_next(source: Mapping[str, Any]) -> str | None:
    for key in CURSOR_KEYS:
        value = source.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


def _first_flag(source: Mapping[str, Any], prefix: str) -> tuple[bool | None, str]:
    for key in MORE_KEYS:
        value = source.get(key)
        if isinstance(value, bool):
            return value, prefix + key
    return None, ""


def _first_total(source: Mapping[str, Any], prefix: str) -> tuple[int | None, str]:
    for key in TOTAL_KEYS:
        value = source.get(key)
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value, prefix + key
    return None, ""


def _link_next(links: Any) -> str | None:
    """`links.next` as text, or as `{"href": ...}` (HAL)."""
    if not isinstance(links, Mapping):
        return None
    value = links.get("next")
    if isinstance(value, Mapping):
        value = value.get("href")
    return value if isinstance(value, str) and value else None


def read_page(body: Any) -> Page:
    """One page: a bare array, or an object holding one, its paging fields on top or nested."""
    if isinstance(body, list):
        return Page(body)
    if not isinstance(body, Mapping):
        raise ValueError(f"expected a list or an object, got {type(body).__name__}")
    items = next((body[k] for k in LIST_KEYS if isinstance(body.get(k), list)), None)
    if items is None:
        raise ValueError(f"no list under any of {', '.join(LIST_KEYS)}")
    nxt = _first_next(body) or _link_next(body.get("links")) or _link_next(body.get("_links"))
    more, more_key = _first_flag(body, "")
    total, total_key = _first_total(body, "")
    for name in META_KEYS:
        meta = body.get(name)
        if not isinstance(meta, Mapping):
            continue
        nxt = nxt or _first_next(meta) or _link_next(meta.get("links"))
        if more is None:
            more, more_key = _first_flag(meta, f"{name}.")
        if total is None:
            total, total_key = _first_total(meta, f"{name}.")
    return Page(items, None if more is False else nxt, more, more_key, total, total_key)


def split_page(body: Any) -> tuple[list[Any], str | None]:
    """(items, next cursor or link) of one page: a bare array, or an object holding one."""
    page = read_page(body)
    return page.items, page.next


def _link_header_next(value: str | None) -> str | None:
    for part in (value or "").split(","):
        url, _, params = part.partition(";")
        if re.search(r'rel\s*=\s*"?next"?', params):
            return url.strip().strip("<>")
    return None


def _is_link(value: str) -> bool:
    return value.startswith(("http://", "https://", "/", "?"))


# A page object's last member, when it is a plain cursor: what `ahead` guesses the next page by.
_TAIL_CURSOR = re.compile(
    rb'"(?:' + b"|".join(k.encode() for k in CURSOR_KEYS) + rb')"\s*:\s*'
    rb'(?:"([^"\\]{1,1000})"|(\d{1,30}))\s*}\s*$'
)


def _tail_cursor(content: bytes) -> str | None:
    """The cursor a page object names last, read from the end of its bytes without decoding:
    only a guess (read_page decides), so that the next request can go out first."""
    match = _TAIL_CURSOR.search(content, max(len(content) - 1100, 0))
    if match is None:
        return None
    try:
        value = (match[1] if match[1] is not None else match[2]).decode()
    except UnicodeDecodeError:
        return None
    return None if _is_link(value) else value


class _Sender:
    """A listing's GETs sent ahead, on one daemon thread started at the first: each send
    returns once its request is written (or has failed), so that the work on the page before
    never competes with sending it. A daemon: a request not needed in the end is not waited
    for. (A thread per request cost four times the request's own CPU time.)"""

    def __init__(self, client: ApiClient, waiting: Callable[[], None] | None) -> None:
        self._client, self._waiting = client, waiting
        self._jobs: SimpleQueue[tuple[httpx.URL, Future[httpx.Response], threading.Event] | None]
        self._jobs = SimpleQueue()
        self._started = False

    def send(self, url: httpx.URL) -> Future[httpx.Response]:
        if not self._started:
            threading.Thread(target=self._run, name="next-page", daemon=True).start()
            self._started = True
        future: Future[httpx.Response] = Future()
        sent = threading.Event()
        self._jobs.put((url, future, sent))
        sent.wait()
        return future

    def close(self) -> None:
        if self._started:
            self._jobs.put(None)
            self._started = False

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            url, future, sent = job

            def written(sent: threading.Event = sent) -> None:
                sent.set()
                if self._waiting is not None:
                    self._waiting()

            try:
                future.set_result(self._client.send("GET", url, waiting=written))
            except BaseException as exc:  # handed to the reader, as send would raise it
                future.set_exception(exc)
            finally:
                sent.set()


def _page_key(url: httpx.URL) -> tuple[object, ...]:
    """One page's address, however it is written: host case, default port, parameter order."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port, url.path, tuple(sorted(url.params.multi_items())))


def _page_ids(items: list[Any], key: str) -> list[str] | None:
    """The ids of a page whose every item is an object with a text or whole-number id under
    `key` (as text), else None."""
    try:
        listed = [item[key] for item in items]
    except (KeyError, TypeError, IndexError):
        return None
    kinds = set(map(type, listed))
    if not kinds <= {str, int}:
        return None
    return listed if int not in kinds else list(map(str, listed))  # str(text) is text itself


def iter_pages(
    client: ApiClient,
    path: str,
    *,
    waiting: Callable[[], None] | None = None,
    max_pages: int = MAX_PAGES,
    max_seconds: float = MAX_LISTING_SECONDS,
    query: Mapping[str, str] | None = None,
    id_keys: Sequence[str] = ("id",),
    ahead: bool = False,
    prefetch: bool = False,
) -> Iterator[list[Json]]:
    """Each page's items, following cursors and links. ListingError when it cannot finish, or
    when it says it is incomplete: a "more" flag with no next page, a declared total above what
    the pages held, a next page already read, an id listed twice, or no end in sight.

    `waiting` is called as each request goes out (see ApiClient.send). `query` goes with the
    first request and every cursor (a link carries its own); an item's id is the first of
    `id_keys` it has (run logs name theirs `runId`).

    `ahead`: when a page's bytes end with a plain cursor, the request for that next page goes
    out before the page is decoded (a long chain then costs its round trips, not its decoding
    too). Its answer is used only if the decoded page names that same next page.

    `prefetch`: the request for the next page goes out (on its own thread, as `ahead`'s)
    before a page is handed on, so the caller works on that page during the round trip, on
    its own thread: the page's objects are read where they were decoded.
    """
    from reconciler.http import decode_json  # loaded with the client (validate needs neither)

    base = dict(query or {})
    only = id_keys[0] if len(id_keys) == 1 else None
    collection = client.url(path)
    where = client.redact(str(collection))
    # Each request goes to the URL its page key was taken from, built once.
    url = collection.copy_merge_params(base) if base else collection
    page_key = _page_key(url)
    seen = {page_key}
    ids: set[str] = set()
    pages = held = 0
    declared: tuple[int, str, int] | None = None  # (total, key, page)
    started = time.monotonic()
    pending: tuple[tuple[object, ...], Future[httpx.Response]] | None = None
    sender = _Sender(client, waiting)
    try:
        while True:
            try:
                if pending is not None and pending[0] == page_key:
                    response = pending[1].result()
                else:
                    response = client.send("GET", url, waiting=waiting)
                pending = None
                guess = _tail_cursor(response.content) if ahead else None
                if (
                    guess is not None
                    and pages + 1 < max_pages
                    and time.monotonic() - started <= max_seconds
                ):
                    guessed = collection.copy_merge_params({**base, "cursor": guess})
                    if (guessed_key := _page_key(guessed)) not in seen:
                        pending = (guessed_key, sender.send(guessed))
                body = decode_json(response.content) if response.content else []
                page = read_page(body)
            except ApiError as exc:
                raise ListingError(f"listing failed after {pages} page(s): {exc}") from exc
            except (ValueError, RecursionError) as exc:  # bad JSON, too deep, or an odd shape
                here = client.redact(str(url))  # a link may echo the token
                why = "nested too deeply" if isinstance(exc, RecursionError) else exc
                raise ListingError(f"GET {here}: unreadable listing: {why}") from exc
            pages += 1
            repeated: str | None = None
            # The common case at C speed: objects with ids, none listed before; else item by item.
            listed = _page_ids(page.items, only) if only is not None else None
            unchecked = page.items
            if listed is not None and ids.isdisjoint(listed) and len(set(listed)) == len(listed):
                ids.update(listed)
                unchecked = []
            for item in unchecked:
                id_key = None
                if type(item) is not dict and not isinstance(item, Mapping):
                    pass  # (decoded JSON is a dict: the abstract check only for the rest)
                elif only is not None:  # the common case, kept cheap: a listing's every item
                    id_key = only if only in item else None
                else:  # a loop, not a generator: a run log's every row comes here
                    for spelling in id_keys:
                        if spelling in item:
                            id_key = spelling
                            break
                if id_key is None:
                    shown = client.redact(repr(item))[:100]  # redacted before the cut
                    here = client.redact(str(url))
                    raise ListingError(f"GET {here}: a listed item has no id: {shown}")
                rid = item[id_key]
                key = rid if type(rid) is str else str(rid) if type(rid) is int else None
                if key is not None:
                    if key in ids and repeated is None:
                        repeated = key
                    ids.add(key)
            held += len(page.items)
            if page.total is not None:
                declared = (page.total, page.total_key, pages)

            nxt, link = page.next, page.next is not None and _is_link(page.next)
            if nxt is None and page.more is not False:
                nxt, link = _link_header_next(response.headers.get("link")), True
            if nxt is None:
                address = None
            elif link:
                address = response.request.url.join(nxt)
            else:
                address = collection.copy_merge_params({**base, "cursor": nxt})
            # What the page says about the rest comes first: a loop explains a repeated id.
            if address is not None:
                shown = client.redact(repr(nxt))[:120]
                if (page_key := _page_key(address)) in seen:
                    raise ListingError(
                        f"GET {where}: page {pages} names a next page already read ({shown}): the "
                        "listing's pages loop, so nothing is written to this target; check the "
                        "platform's paging"
                    )
                if pages >= max_pages:
                    raise ListingError(
                        f"GET {where}: no end after {pages:,} pages, each naming a new next page "
                        f"(schedctl reads at most {max_pages:,}): nothing is written to this "
                        "target; check the platform's paging"
                    )
                if time.monotonic() - started > max_seconds:
                    raise ListingError(
                        f"GET {where}: no end after {max_seconds:g} s ({pages:,} pages read, the "
                        f"last naming {shown}): nothing is written to this target; check the "
                        "platform's paging, or its speed"
                    )
                seen.add(page_key)
                url = address
            elif page.more:
                raise ListingError(
                    f"GET {where}: page {pages} says there is more (`{page.more_key}: true`) but "
                    "names no next page (no cursor or link): the listing is incomplete, so "
                    "nothing is written to this target; check the platform's paging"
                )
            if repeated is not None:
                raise ListingError(
                    f"GET {where}: page {pages} lists id {client.redact(repr(repeated))[:80]} "
                    "again: the pages shifted while being read, so others may have been skipped; "
                    "nothing is written to this target; run again"
                )
            if address is None and declared is not None and declared[0] > held:
                total, key, on_page = declared
                raise ListingError(
                    f"GET {where}: page {on_page} declares {total} object(s) (`{key}`) but the "
                    f"{pages} page(s) held {held}: the listing is incomplete, so nothing is written "
                    "to this target; run again, and if it persists check the platform's paging"
                )
            if prefetch and address is not None and pending is None:
                pending = (page_key, sender.send(address))
            yield page.items
            if address is None:
                break
    finally:
        sender.close()


def read_all_pages(client: ApiClient, path: str) -> tuple[list[Json], int]:
    """Every item of a listing and the number of pages read."""
    pages = list(iter_pages(client, path))
    return [dict(item) for page in pages for item in page], len(pages)


# ---------------------------------------------------------------------------------------------
# Reading live objects: what the platform returns is checked as it is read, field by field.
# A failed check makes the object unreadable (LiveTask.unreadable), never the listing.


class Unreadable(ValueError):
    """A live object's field has a shape schedctl cannot read; the message names the field."""


# What converting a malformed object can raise besides Unreadable (the checks below catch the
# shapes we know; this keeps one we did not foresee from stopping the listing).
READ_ERRORS = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError)
_HHMM = re.compile(rf"{timing.CLOCK}(?::00)?")  # a platform may add the seconds


def shown(value: Any, limit: int = 60) -> str:
    """A platform value in a message: JSON, every non-ASCII or control character escaped."""
    if value is None:
        return "missing"
    try:
        text: str = json.dumps(value, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = repr(type(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text_at(source: Mapping[str, Any], key: str, where: str = "") -> str | None:
    """The text at `key` (None when absent or null); Unreadable when it is not text."""
    value = source.get(key)
    if value is None or type(value) is str:
        return value
    raise Unreadable(f"`{where}{key}` is {shown(value)}, not text")


def flag_at(source: Mapping[str, Any], key: str, default: bool, where: str = "") -> bool:
    value = source.get(key)
    if value is None:
        return default
    if type(value) is bool:
        return value
    raise Unreadable(f"`{where}{key}` is {shown(value)}, not true or false")


def whole_at(source: Mapping[str, Any], key: str, where: str = "") -> int | None:
    """The whole number at `key` (None when absent or null; 5.0 reads as 5)."""
    value = source.get(key)
    if value is None or type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise Unreadable(f"`{where}{key}` is {shown(value)}, not a whole number")


def mapping_at(source: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    """The object at `key` ({} when absent or null); Unreadable when it is something else."""
    value = source.get(key)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise Unreadable(f"`{where}{key}` is {shown(value)}, not an object")


def instant_at(source: Mapping[str, Any], key: str, where: str = "") -> str:
    """An ISO 8601 instant at `key`, as UTC text; Unreadable when absent or not one."""
    value = source.get(key)
    if type(value) is str:
        try:
            return utc_iso(value)
        except (ValueError, OverflowError):
            pass
    raise Unreadable(f"`{where}{key}` is {shown(value)}, not an ISO 8601 date and time")


def time_at(source: Mapping[str, Any], key: str, where: str = "") -> str:
    """A wall-clock time `HH:MM` at `key` (`HH:MM:00` reads as `HH:MM`)."""
    value = source.get(key)
    match = _HHMM.fullmatch(value) if type(value) is str else None
    if match is None:
        raise Unreadable(f"`{where}{key}` is {shown(value)}, not a time HH:MM (00:00-23:59)")
    return f"{match[1]}:{match[2]}"


def live_id(value: Any) -> str:
    """A live object's id as text: ids are text or whole numbers, never empty."""
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    raise Unreadable(f"`id` is {shown(value)}, not text or a whole number")


def weekday_names(days: Sequence[int]) -> list[str]:
    return [WEEKDAY_NAMES[d % 7] for d in sorted(set(days))]


def _created_at(remote: Mapping[str, Any]) -> str | None:
    # Not in either platform document, but common (the engine sandbox writes createdAt).
    value = remote.get("createdAt", remote.get("created_at"))
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# The shared implementation


@dataclass(frozen=True)
class _Hints:
    """The desired forms a listing's objects are read from: by key, and by the text of the
    field that carries the marker, as sent."""

    by_key: Mapping[str, DesiredTask]
    by_marked: dict[str, DesiredTask]

    @classmethod
    def of(cls, known: Mapping[str, DesiredTask]) -> _Hints:
        return cls(known, {d.marked: d for d in known.values() if d.marked_split is not None})


class RestProvider(ABC):
    """A REST platform with list / create / update / delete / run / runs endpoints.

    Subclasses set `marker_style`, `marker_field`, `defaults`, `update_method` and implement the
    paths and the remote <-> document mapping; everything else (paging, markers, comparison)
    lives here.
    """

    name: ClassVar[str]
    marker_style: ClassVar[MarkerStyle]
    marker_field: ClassVar[str]  # the remote field the marker is written into
    title_field: ClassVar[str] = "name"  # the display title's (the marker cut off if the same)
    defaults: ClassVar[Mapping[str, Any]]
    update_method: ClassVar[str] = "PATCH"
    enabled_field: ClassVar[str] = "enabled"  # the remote field that switches a task on and off
    # Remote fields (paths) that from_remote copies as they are, when they hold text or true /
    # false, to a document path that normalize leaves as it is: an object edited in these
    # only is read from its desired form (see _from_hint). tests/reconcile/test_fast_paths.py
    # checks each against from_remote.
    plain_fields: ClassVar[Mapping[tuple[str, ...], tuple[str, ...]]] = {}
    # plain_fields by remote key: (document path, flat path), or those of the keys inside it.
    _plain: ClassVar[dict[str, Any]] = {}
    _splits_by_style: ClassVar[bool] = True  # split_marker is RestProvider's
    # The bounds of one listing (see iter_pages).
    max_pages: int = MAX_PAGES
    max_listing_seconds: float = MAX_LISTING_SECONDS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        plain: dict[str, Any] = {}
        for (key, *inner), path in cls.plain_fields.items():
            at = (path, ".".join(path))
            if inner:
                (sub,) = inner  # one level down at most
                plain.setdefault(key, {})[sub] = at
            else:
                plain[key] = at
        cls._plain = plain
        cls._splits_by_style = cls.split_marker is RestProvider.split_marker

    def __init__(self, client: ApiClient, target: Target, *, target_name: str, owner: str) -> None:
        self.client = client
        self.target = target
        self.target_name = target_name
        self.owner = owner

    # -- platform parts -------------------------------------------------------------------

    @classmethod
    def check(
        cls, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        """Offline: each schedule's `problems`, then the minutes more tasks are due in than
        the platform starts per tick."""
        from reconciler.spread import crowd_warnings

        out = [
            d for s in schedules for d in cls.problems(s, f"{cls.name} target {s.target!r}", now)
        ]
        out.extend(crowd_warnings(cls, schedules, now))
        return out

    @classmethod
    def problems(cls, s: ResolvedSchedule, where: str, now: datetime) -> Iterator[Diagnostic]:
        """What this platform cannot express of one schedule or treats differently; `where`
        ("engine target 'prod'") begins each message."""
        return iter(())

    @abstractmethod
    def collection_path(self) -> str: ...

    @abstractmethod
    def to_remote(self, document: Mapping[str, Any], timezone: str, key: str) -> Json:
        """The platform JSON for a neutral document, marker included."""

    @abstractmethod
    def from_remote(self, remote: Mapping[str, Any]) -> Json:
        """The neutral document for platform JSON; its `name` is the marker's key, if any."""

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

    def split_marker(self, remote: Mapping[str, Any]) -> tuple[str, Marker | None]:
        """(display title, marker) of a remote object; text fields only (from_remote says what
        is wrong with the others). A platform that overrides it is split its own way."""
        title, marker, _ = self._split_by_style(remote, None)
        return title, marker

    def _split_by_style(
        self, remote: Mapping[str, Any], hints: _Hints | None
    ) -> tuple[str, Marker | None, DesiredTask | None]:
        """split_marker by `marker_style`, and the desired task that sent the very text of the
        marker field: an object holding it is split as that text was, once."""
        text = remote.get(self.marker_field)
        if type(text) is not str:
            text = ""
        hint = hints.by_marked.get(text) if hints is not None else None
        if hint is not None and hint.marked_split is not None:  # (always, in by_marked)
            rest, marker = hint.marked_split
        else:
            rest, marker = self.marker_style.detach(text)
        if self.title_field != self.marker_field:
            title = remote.get(self.title_field)
            rest = title if type(title) is str else ""
        return rest, marker, hint

    def _split(
        self, remote: Mapping[str, Any], hints: _Hints | None
    ) -> tuple[str, Marker | None, DesiredTask | None]:
        """split_marker, and the desired task of its marker's key (ours only)."""
        if self._splits_by_style:
            title, marker, hint = self._split_by_style(remote, hints)
        else:
            (title, marker), hint = self.split_marker(remote), None
        if hint is None and hints is not None and marker is not None and marker.owner == self.owner:
            hint = hints.by_key.get(marker.key)
        return title, marker, hint

    def live(self, remote: Json, hints: Mapping[str, DesiredTask] | None = None) -> LiveTask:
        """The LiveTask of a remote object; one that cannot be read is marked so, with why."""
        return self._read(remote, _Hints.of(hints) if hints is not None else None)[0]

    def _read(self, remote: Json, hints: _Hints | None) -> tuple[LiveTask, str | None]:
        """live(), and the task's comparison form encoded when it came from its hint."""
        try:
            title, marker, hint = self._split(remote, hints)
            if hint is not None and (forms := self._from_hint(remote, hint)) is not None:
                document, normalized, encoded, edits = forms
                edited_from = hint.normalized if edits else None
            else:
                document, encoded, edits, edited_from = self.from_remote(remote), None, (), None
                normalized = normalize(document, self.defaults)
            rid = remote["id"]
            task = LiveTask(
                id=rid if type(rid) is str and rid else live_id(rid),
                title=title,
                marker=marker,
                document=document,
                normalized=normalized,
                status=self.status_of(remote),
                created_at=_created_at(remote),
                marked="" if marker else self._marked(remote),
                edited_from=edited_from,
                edits=edits,
            )
            return task, encoded
        except READ_ERRORS as exc:
            return self._unreadable(remote, exc), None

    def _from_hint(
        self, remote: Mapping[str, Any], hint: DesiredTask
    ) -> tuple[Json, Json, str, tuple[FieldChange, ...]] | None:
        """The forms of a remote object (document, normalized, normalized encoded, and how it
        differs from the hint's) read from the desired task of its key, without converting it;
        None when they cannot be.

        from_remote reads only the fields a payload has, so an object that holds every field
        of `hint.payload` has the hint's forms; one that differs in plain fields only (a
        prompt edited on the platform, say) has them with its values of those fields.
        """
        payload = hint.payload
        if payload.items() <= remote.items():  # the item views compare in C
            return hint.document, hint.normalized, hint.normalized_json, ()
        plain, known = self._plain, hint.normalized
        document: Json | None = None  # copied at the first edit
        values: Json = {}  # flat path -> the live value
        changes = []
        for key, sent in payload.items():
            got = remote.get(key)  # a missing field: None
            if got == sent:
                continue
            where = plain.get(key)
            if type(where) is dict:  # a nested field: some of the keys inside it are plain
                if type(sent) is not dict or type(got) is not dict or got.keys() != sent.keys():
                    return None
                edits = [(where.get(k), got[k], v) for k, v in sent.items() if got[k] != v]
            else:
                edits = [(where, got, sent)]
            for at, value, was in edits:
                if at is None or type(value) is not type(was) or type(was) not in (str, bool):
                    return None
                path, flat_path = at
                if flat_path not in known:
                    return None
                inner = document = document or dict(hint.document)
                for step in path[:-1]:  # copied along the path: the hint's forms stay as they are
                    inner[step] = inner = dict(inner[step])
                inner[path[-1]] = values[flat_path] = value
                changes.append(FieldChange(flat_path, value, was))  # plain: the forms' values
        if document is None:  # only fields missing where the payload has null
            return hint.document, hint.normalized, hint.normalized_json, ()
        normalized = {**known, **values}  # in the form's order
        return document, normalized, hint.edited_json(values), in_path_order(changes)

    def _marked(self, remote: Mapping[str, Any]) -> str:
        value = remote.get(self.marker_field)
        return value if type(value) is str else ""

    def _unreadable(self, remote: Mapping[str, Any], exc: Exception) -> LiveTask:
        reason = str(exc) if isinstance(exc, Unreadable) else f"{type(exc).__name__}: {exc}"
        reason = self.client.redact(reason)
        rid = remote.get("id")
        try:
            title, marker = self.split_marker(remote)
            status = self.status_of(remote)
        except READ_ERRORS:
            title, marker, status = "", None, TaskStatus()
        return LiveTask(
            id=rid if type(rid) is str else str(rid) if type(rid) is int else shown(rid),
            title=title,
            marker=marker,
            document={},
            normalized={"unreadable": reason},  # in the fingerprint: a saved plan sees a change
            status=status,
            unreadable=reason,
            marked="" if marker else self._marked(remote),
        )

    def desired(self, resolved: ResolvedSchedule) -> DesiredTask:
        document = resolved.schedule.model_dump(mode="json", exclude_none=True)
        payload = self.to_remote(document, resolved.timezone, resolved.key)
        projected = self.from_remote(payload)  # what the platform will hold
        pos = resolved.where(("name",))
        marked = str(payload[self.marker_field])
        task = DesiredTask(
            key=resolved.key,
            title=resolved.title,
            payload=payload,
            document=projected,
            normalized=normalize(projected, self.defaults),
            source=f"{resolved.doc.file}:{pos.line}",
            marked=marked,
            marked_split=self.marker_style.detach(marked) if self._splits_by_style else None,
            template=resolved.template,
            renamed_from=tuple(resolved.schedule.renamed_from or ()),
            protect=resolved.schedule.protect,
            ignore=tuple(
                dict.fromkeys(
                    [*self.target.ignore_changes, *(resolved.schedule.ignore_changes or ())]
                )
            ),
        )
        task.normalized_json  # noqa: B018  encoded beside the form, not per live task
        return task

    def list_tasks(
        self,
        known: Callable[[], Mapping[str, DesiredTask]] | None = None,
        listed: Callable[[list[LiveTask]], None] | None = None,
    ) -> Listing:
        """Every live task. `known` (desired forms by key) lets in-sync tasks skip conversion;
        `listed` is given each page's tasks as they are converted, in page order (the audit
        starts reading their run logs while the listing still pages)."""
        # Each page is converted while the request for the next one is in flight (prefetch):
        # waiting on the socket frees the GIL, so the listing costs little more than its round
        # trips. The conversion runs on this thread, where the page was decoded: on another
        # core, reading those objects cost a third more. The hints are built by a worker from
        # the first round trip on, once the first request is written (`waiting`: never
        # competing with sending it); pages that arrive before they are ready wait for them,
        # while the listing goes on (20,000 desired forms take longer than a round trip).
        written = threading.Event()
        converted: list[tuple[LiveTask, str]] = []
        backlog: list[list[Json]] = []  # pages read before the hints were ready

        def convert(pages: list[list[Json]], hints: _Hints | None) -> None:
            for page in pages:
                done = self._live_page(page, hints)
                converted.extend(done)
                if listed is not None:
                    listed([task for task, _ in done])
            pages.clear()

        count = 0
        with ThreadPoolExecutor(max_workers=1) as pool:
            built = pool.submit(self._hints_turn, written, known)
            try:
                for page in iter_pages(
                    self.client,
                    self.collection_path(),
                    waiting=written.set,
                    max_pages=self.max_pages,
                    max_seconds=self.max_listing_seconds,
                    prefetch=True,
                ):
                    count += 1
                    backlog.append(page)
                    if built.done():  # its result: the hints, or the error building them
                        convert(backlog, built.result())
            finally:
                written.set()  # the hints never wait for a request that is not sent
            convert(backlog, built.result())
        tasks = [task for task, _ in converted]
        return Listing(tasks, count, fingerprint(tasks, [row for _, row in converted]))

    @staticmethod
    def _hints_turn(
        written: threading.Event, known: Callable[[], Mapping[str, DesiredTask]] | None
    ) -> _Hints | None:
        written.wait()
        return _Hints.of(known()) if known is not None else None

    def _live_page(self, page: list[Json], hints: _Hints | None) -> list[tuple[LiveTask, str]]:
        out = []
        for item in page:
            # A task read from its hint shares the hint's encoding of its form too.
            task, encoded = self._read(item, hints)
            out.append((task, fingerprint_row(task, encoded)))
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
        body = self.client.request("POST", self.collection_path(), json_body=payload)
        task = self._task(body)
        if isinstance(body, Mapping) and self.marker_field in body:
            self._check_marker(task, payload, created=True)
        return task

    def update(self, remote_id: str, payload: Json) -> LiveTask:
        body = self.client.request(self.update_method, self.item_path(remote_id), json_body=payload)
        task = self._task(body if body else {**payload, "id": remote_id}, remote_id)
        if isinstance(body, Mapping) and self.marker_field in body:
            self._check_marker(task, payload, created=False)
        return task

    def _check_marker(self, task: LiveTask, payload: Json, *, created: bool) -> None:
        """MarkerLost when the answer to a write no longer carries the marker that was sent."""
        _, expected = self.split_marker(payload)
        if expected is not None and task.marker != expected:
            raise self.marker_lost(task, payload, created=created)

    def cut_copy(self, tasks: Sequence[LiveTask], payload: Json) -> LiveTask | None:
        """The unmarked object among `tasks` that is `payload` with its marker cut off."""
        sent = str(payload.get(self.marker_field) or "")
        candidates = [t for t in tasks if t.marked and sent.startswith(t.marked)]
        if not candidates:
            return None
        normalized = normalize(self.from_remote(payload), self.defaults)
        return next((t for t in candidates if cut_copy(t, sent, normalized)), None)

    def marker_lost(self, task: LiveTask, payload: Json, *, created: bool) -> MarkerLost:
        """The error for a write whose object lost its marker; a just-created one is deleted."""
        field_name = self.marker_field
        sent = str(payload.get(field_name) or "")
        got = task.marked
        if got and sent.startswith(got):
            how = f"cut `{field_name}` to {len(got)} characters (schedctl sent {len(sent)})"
        else:
            how = f"changed `{field_name}` (schedctl sent {len(sent)} characters)"
        head = f"the platform {how} and dropped the ownership marker at its end"
        fix = f"shorten the schedule's {'title' if field_name == 'name' else field_name}"
        if not created:
            return MarkerLost(
                f"{head}: the object (id {task.id}) is no longer marked as schedctl's; {fix} "
                "and restore the marker, or delete the object"
            )
        try:
            self.delete(task.id)
        except ApiError as exc:
            return MarkerLost(
                f"{head}: the object it created (id {task.id}) could not be deleted ({exc}); "
                f"delete it by hand, then {fix}"
            )
        return MarkerLost(
            f"{head}: the object it created (id {task.id}) was deleted again, so that no "
            f"unmarked copy is left behind; {fix}"
        )

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

    def with_pause(self, payload: Json, pause: Pause | None) -> Json:
        """`payload` with `pause` in its marker (and so disabled), or with None without one."""
        text, marker = self.marker_style.detach(str(payload.get(self.marker_field) or ""))
        if marker is None:
            return payload
        marked = self.marker_style.attach(text, Marker(marker.owner, marker.key, pause))
        out = {**payload, self.marker_field: marked}
        if pause is not None:
            out[self.enabled_field] = False
        return out

    def pause_payload(self, task: LiveTask, pause: Pause | None, *, enabled: bool) -> Json:
        """The update body that pauses `task` in place (disabled, `pause` in its marker), or,
        with `pause` None, resumes it (`enabled`, no pause): its other fields as they are."""
        assert task.marker is not None
        key = task.marker.key
        zone = str(task.document.get("schedule", {}).get("timezone") or "UTC")
        remote = self.to_remote({**task.document, "enabled": enabled}, zone, key)
        remote = self.with_pause(remote, pause)
        body = self.adoption_payload(task, remote, key)  # what re-marks it in place
        return {**body, self.enabled_field: remote[self.enabled_field]}

    def run(self, remote_id: str) -> Any:
        return self.client.request("POST", f"{self.item_path(remote_id)}/run")

    def runs_path(self, remote_id: str) -> str:
        """One task's run log."""
        return f"{self.item_path(remote_id)}/runs"

    def run_log_path(self) -> str | None:
        """The log of every task's runs, when the platform keeps one (else None: per task)."""
        return None

    def runs(self, remote_id: str, limit: int) -> list[Json]:
        body = self.client.request("GET", self.runs_path(remote_id), params={"limit": str(limit)})
        with map_exceptions({ValueError: lambda exc: ListingError(f"unreadable run log: {exc}")}):
            items, _ = split_page(body if body is not None else [])
        return [dict(i) for i in items if isinstance(i, Mapping)][:limit]
