"""Run logs at the edge: fetched through the providers, read tolerantly, audited.

    read_run        one platform run row -> audit.Run (Unreadable names the field)
    fetch_log       one paged run log, newest first, read back to the window's start
    audit_project   list every target, fetch its run log, and audit it (reconciler.audit)

Where a platform keeps one log of every task's runs (engine: the instance's global log, see
the provider's run_log_path) that log is read, beside the task listing; otherwise (aitroop)
each task's own log is read, concurrently, at most `concurrency` at once, asked for as soon as
the task's listing page is read, and each desired key is judged (audit.Judge) on the worker
that fetched the last of its copies' logs: the listing, the requests and the judging overlap.
Logs are newest first: reading stops at the first page that reaches back past the window.

A run row that cannot be read is a note on its target's result, never a crash; a log that
cannot be read at all (a failed request, an incomplete listing) is the target's error: no
findings are made from part of a log, where a slot would look missed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from reconciler import platforms
from reconciler.audit import (
    DEFAULT_TICK,
    DEFAULT_TOLERANCE,
    AuditReport,
    Expected,
    Judge,
    Run,
    TargetAudit,
    TargetInput,
    audit_target,
    in_window,
)
from reconciler.cost import spend_findings
from reconciler.errors import ListingError, SchedctlError
from reconciler.plan import selected
from reconciler.platforms.rest import RestProvider, Unreadable, iter_pages, shown
from reconciler.reconcile import survey
from reconciler.targets import failed_targets
from reconciler.tuning import fan_out

if TYPE_CHECKING:
    from reconciler.forms import Listing, LiveTask
    from reconciler.loader import Project, ResolvedSchedule
    from reconciler.reconcile import Survey
    from reconciler.targets import Connection

PAGE_LIMIT = 500  # runs asked for per page (`?limit=`); a platform may send fewer
RUN_ID_KEYS = ("runId", "run_id", "id")
_TASK = ("taskId", "task_id")
_TRIGGER = ("triggerType", "triggered", "trigger")
_STARTED = ("startedAt", "started_at")
_COMPLETED = ("completedAt", "completed_at")
_DURATION = ("durationMs", "duration_ms")
_ERROR = ("error", "last_error")
_TOKENS = ("tokenUsage", "token_usage", "tokens")
# Inside a token-usage object: a total, else the parts that add up to one.
_TOKEN_TOTALS = ("total", "total_tokens", "totalTokens")
_TOKEN_PARTS = (
    ("input", "output"),
    ("input_tokens", "output_tokens"),
    ("inputTokens", "outputTokens"),
    ("prompt_tokens", "completion_tokens"),
    ("promptTokens", "completionTokens"),
)
NOTES_SHOWN = 20  # unreadable rows named per target; the rest are counted


def _first(raw: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = raw.get(key)
        if value is not None:
            return value
    return None


def _epoch(value: Any, name: str, *, required: bool) -> float | None:
    if type(value) is str:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    elif type(value) in (int, float) and value == value:  # not NaN
        return value / 1000 if value > 10**11 else float(value)  # milliseconds or seconds
    elif value is None and not required:
        return None
    if required:
        raise Unreadable(f"`{name}` is {shown(value)}, not an ISO 8601 date and time")
    return None


def _whole(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _tokens(value: Any) -> int | None:
    if isinstance(value, Mapping):
        total = _whole(_first(value, _TOKEN_TOTALS))
        if total is not None:
            return total
        for a, b in _TOKEN_PARTS:
            x, y = _whole(value.get(a)), _whole(value.get(b))
            if x is not None or y is not None:
                return (x or 0) + (y or 0)
        return None
    return _whole(value)


def _id(value: Any, name: str) -> str:
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    raise Unreadable(f"`{name}` is {shown(value)}, not text or a whole number")


# The documented spellings, read straight when every value has its plain type (a week of
# 100,000 rows is read in the time of its requests): id, task, trigger, start, end, duration,
# tokens. Anything else takes the tolerant way below.
_ENGINE = ("runId", "taskId", "triggerType", "startedAt", "completedAt", "durationMs", "tokenUsage")
_AITROOP = (
    "id",
    "task_id",
    "triggered",
    "started_at",
    "completed_at",
    "duration_ms",
    "token_usage",
)
_fromiso = datetime.fromisoformat


def _plain(raw: Mapping[str, Any], task_id: str | None) -> Run | None:
    keys = _ENGINE if "startedAt" in raw else _AITROOP if "started_at" in raw else None
    if keys is None:
        return None
    rid_key, task_key, trigger_key, start_key, end_key, duration_key, tokens_key = keys
    start = raw[start_key]
    rid, task, end = raw.get(rid_key), raw.get(task_key) or task_id, raw.get(end_key)
    status, error, duration = raw.get("status"), raw.get("error"), raw.get(duration_key)
    if not (
        type(rid) is str
        and rid
        and type(task) is str
        and type(start) is str
        and type(status) is str
        and (end is None or type(end) is str)
        and (error is None or type(error) is str)
        and (duration is None or type(duration) is int)
    ):
        return None
    try:
        began = _fromiso(start)
        # The end only matters for overlaps; a duration says it without another parse.
        ended = None if end is None or duration is not None else _fromiso(end)
    except ValueError:  # "Z" before Python 3.11, or not a time: the tolerant way says which
        return None
    if began.tzinfo is None or (ended is not None and ended.tzinfo is None):
        return None
    tokens = raw.get(tokens_key)
    started = began.timestamp()
    return Run(
        rid,
        task,
        "manual" if raw.get(trigger_key) == "manual" else "scheduler",
        status,
        started,
        ended.timestamp()
        if ended is not None
        else None
        if end is None
        else started + duration / 1000,  # type: ignore[operator]
        duration,
        error,
        tokens if tokens is None or type(tokens) is int else _tokens(tokens),
    )


def read_run(raw: Any, task_id: str | None = None) -> Run:
    """A run row as the audit reads it; `task_id` for a per-task log's rows that omit it.

    Both platforms' spellings are read (engine camelCase, aitroop snake_case). A trigger other
    than "manual" is the scheduler's. Unreadable when the row has no id, task or start time.
    """
    if type(raw) is dict:
        run = _plain(raw, task_id)
        if run is not None:
            return run
    return _tolerant(raw, task_id)


def _tolerant(raw: Any, task_id: str | None) -> Run:
    if not isinstance(raw, Mapping):
        raise Unreadable(f"a run is {shown(raw)}, not an object")
    run_id = _id(_first(raw, RUN_ID_KEYS), "runId")
    owner = _first(raw, _TASK)
    task = task_id if owner is None and task_id is not None else _id(owner, "taskId")
    started = _epoch(_first(raw, _STARTED), "startedAt", required=True)
    assert started is not None
    trigger = _first(raw, _TRIGGER)
    status = raw.get("status")
    error = _first(raw, _ERROR)
    return Run(
        run_id,
        task,
        "manual" if trigger == "manual" else "scheduler",
        status if type(status) is str else "unknown",
        started,
        _epoch(_first(raw, _COMPLETED), "completedAt", required=False),
        _whole(_first(raw, _DURATION)),
        error if error is None or type(error) is str else shown(error, 200),
        _tokens(_first(raw, _TOKENS)),
    )


@dataclass
class RunLog:
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # rows that could not be read
    pages: int = 0


def _read_page(page: Sequence[Any], task_id: str | None, where: str, conn: Connection) -> RunLog:
    out = RunLog(pages=1)
    for raw in page:
        try:
            out.runs.append(read_run(raw, task_id))
        except Unreadable as exc:
            why = conn.client.redact(str(exc))
            out.notes.append(f"GET {where}: a run cannot be read: {why}")
    return out


def _reaches_back(page: Sequence[Any], since: float, task_id: str | None) -> bool:
    """Whether a newest-first page's last row started before `since` (the rest is older)."""
    if not page:
        return True
    try:
        first, last = read_run(page[0], task_id).started, read_run(page[-1], task_id).started
    except Unreadable:
        return False  # cannot tell: read on
    return first >= last and last < since


def fetch_log(conn: Connection, path: str, since: float, task_id: str | None = None) -> RunLog:
    """One run log, newest first, read until a page reaches back before `since`.

    A chain of pages asks for each next page before decoding this one (iter_pages `ahead`),
    and its rows are read on a worker while the next pages are in flight; the last page is
    read here, so a log of one page (most per-task logs) starts no thread. ListingError when
    the log cannot be read whole (see iter_pages).
    """
    client = conn.client
    where = client.redact(str(client.url(path)))
    pages = iter_pages(
        client, path, query={"limit": str(PAGE_LIMIT)}, id_keys=RUN_ID_KEYS, ahead=True
    )
    read: list[Future[RunLog]] = []
    worker: ThreadPoolExecutor | None = None
    held: list[Any] | None = None
    try:
        for page in pages:
            if held is not None:
                worker = worker or ThreadPoolExecutor(1, thread_name_prefix="runlog-read")
                read.append(worker.submit(_read_page, held, task_id, where, conn))
            held = page
            if _reaches_back(page, since, task_id):
                break
    finally:
        if worker is not None:
            worker.shutdown(wait=False)
    out = RunLog()
    parts = [future.result() for future in read]
    if held is not None:
        parts.append(_read_page(held, task_id, where, conn))
    for part in parts:
        out.runs.extend(part.runs)
        out.notes.extend(part.notes)
        out.pages += 1
    return out


@dataclass
class _Fetch:
    """One target's run logs under way: its global log, or one log per audited task, asked
    for as the listing's pages come in (_start).

    Once the listing is whole (_prepare) each task's log is judged as it comes in
    (_arrived): a desired key as soon as the logs of all its live copies are in, on the
    worker that fetched the last of them, so that the judging overlaps the other requests.
    """

    since: float
    until: float
    futures: list[tuple[str | None, Future[RunLog]]] = field(default_factory=list)
    started: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    judge: Judge | None = None
    by_task: dict[str, list[Run]] = field(default_factory=dict)  # the window's runs so far
    ids_of: dict[str, list[str]] = field(default_factory=dict)  # key -> its copies' task ids
    key_of: dict[str, str] = field(default_factory=dict)  # task id -> its desired key
    waiting: dict[str, int] = field(default_factory=dict)  # key -> its logs still to come
    # A row naming another task than its log does: then the whole is judged at the end.
    mixed: bool = False


def _max_retries(resolved: ResolvedSchedule, rules: platforms.RunRules | None) -> int | None:
    if rules is not None and not rules.honours_max_retries:
        return None
    if resolved.schedule.max_retries is not None:
        return resolved.schedule.max_retries
    return rules.default_max_retries if rules is not None else None


def expected_of(
    resolved: Sequence[ResolvedSchedule], rules: platforms.RunRules | None
) -> list[Expected]:
    """The desired schedules of one target as the audit takes them, pinned to their lines."""
    out = []
    for s in resolved:
        line = s.where(("schedule",), key=True).line or s.where(("name",)).line
        out.append(
            Expected(
                s.key,
                s.title,
                s.schedule.schedule,
                s.timezone,
                s.schedule.enabled,
                _max_retries(s, rules),
                s.doc.file,
                line,
            )
        )
    return out


def _audited(task: LiveTask, owner: str, keep: Callable[[str], bool]) -> bool:
    marker = task.marker
    return (
        task.unreadable is None
        and marker is not None
        and marker.owner == owner
        and keep(marker.key)
    )


def audit_project(
    project: Project,
    conns: Mapping[str, Connection],
    *,
    since: datetime,
    until: datetime,
    concurrency: int = 16,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tolerance: timedelta = DEFAULT_TOLERANCE,
    surveys: Mapping[str, Survey] | None = None,
) -> AuditReport:
    """Audit every connected target over [since, until]; a target that fails has its error.

    `surveys`: listings already made (status makes one), else they are made here.
    """
    start, end = since.timestamp(), until.timestamp()
    owner = project.config.owner

    def keep(key: str) -> bool:
        return selected(key, select, exclude)

    results: dict[str, TargetAudit] = {}
    # Per-task logs are a fan-out (see tuning); a global log is one chain of pages, which the
    # command's short interval suits.
    fanning = any(_global_path(c) is None for c in conns.values())
    with (
        fan_out() if fanning else nullcontext(),
        ThreadPoolExecutor(max(concurrency, 1), "runlog") as pool,
    ):
        fetches = {name: _Fetch(start, end) for name in conns}
        per_task: dict[str, Callable[[list[LiveTask]], None]] = {}
        for name, conn in conns.items():
            path = _global_path(conn)
            if path is not None:  # a global log needs no task ids: read beside the listing
                fetches[name].futures.append((None, pool.submit(fetch_log, conn, path, start)))
            elif callable(getattr(conn.provider, "runs_path", None)):
                per_task[name] = functools.partial(_start, pool, conn, fetches[name], owner, keep)
        # Each task's log is asked for as soon as its listing page is read, so the fan-out
        # overlaps the listing's round trips (`listed`, called as each page is converted),
        # where the listing is RestProvider's own (another may not take `listed`).
        told = {n: f for n, f in per_task.items() if _tells_pages(conns[n])}
        found = surveys if surveys is not None else survey(project, conns, told)
        for name, conn in conns.items():
            listing = found[name].listing if name in found else None
            if listing is None:
                continue
            if name in per_task:  # what no page handed on (surveys given)
                per_task[name](listing.tasks)
            _prepare(project, conn, listing, fetches[name], keep, tolerance)
        for name, conn in conns.items():
            results[name] = _audit_one_target(
                project, conn, found.get(name), fetches[name], keep, tolerance
            )
    for audited in results.values():  # actual spend against the budgets
        audited.findings.extend(spend_findings(audited, project))
    for name, why in failed_targets(conns).items():
        platform = project.config.targets[name].platform if name in project.config.targets else ""
        results[name] = TargetAudit(name, platform, "", start, end, error=why)
    ordered = [results[n] for n in project.config.targets if n in results]
    return AuditReport(owner, start, end, ordered, project.config_file)


def _start(
    pool: ThreadPoolExecutor,
    conn: Connection,
    fetch: _Fetch,
    owner: str,
    keep: Callable[[str], bool],
    tasks: Sequence[LiveTask],
) -> None:
    """Ask for the run log of each audited task not asked for yet."""
    runs_path = conn.provider.runs_path  # type: ignore[attr-defined]
    with fetch.lock:
        for task in tasks:
            if task.id not in fetch.started and _audited(task, owner, keep):
                fetch.started.add(task.id)
                future = pool.submit(_fetch_task, conn, fetch, runs_path(task.id), task.id)
                fetch.futures.append((task.id, future))


def _fetch_task(conn: Connection, fetch: _Fetch, path: str, task_id: str) -> RunLog:
    log = fetch_log(conn, path, fetch.since, task_id)
    _arrived(fetch, task_id, log)
    return log


def _arrived(fetch: _Fetch, task_id: str, log: RunLog) -> None:
    """One task's log is in: its window's runs kept, and its key judged once all are in."""
    if any(run.task_id != task_id for run in log.runs):
        with fetch.lock:
            fetch.mixed = True
        return
    part = in_window(log.runs, fetch.since, fetch.until)
    with fetch.lock:
        fetch.by_task.update(part)
        fetch.by_task.setdefault(task_id, [])  # in, with no run in the window
        key = fetch.key_of.get(task_id)
        if fetch.judge is None or key is None or fetch.mixed:
            return  # not judged yet: _prepare or the end does it
        fetch.waiting[key] -= 1
        if fetch.waiting[key]:
            return
        judge, by_task = fetch.judge, {t: fetch.by_task[t] for t in fetch.ids_of[key]}
    judge.judge_key(key, by_task)


def _target_input(
    project: Project,
    conn: Connection,
    listing: Listing,
    keep: Callable[[str], bool],
    runs: Sequence[Run] = (),
    notes: Sequence[str] = (),
) -> TargetInput:
    platform = platforms.get(conn.platform)
    owner = project.config.owner
    ids = {t.id for t in listing.tasks if _audited(t, owner, keep)}
    expected = expected_of(project.for_target(conn.name), platform.rules)
    return TargetInput(
        target=conn.name,
        platform=conn.platform,
        where=conn.provider.describe_target(),
        tick=platform.facts.tick or DEFAULT_TICK,
        expected=[e for e in expected if keep(e.key)],
        tasks=[t for t in listing.tasks if t.id in ids],
        runs=[r for r in runs if r.task_id in ids],
        owner=owner,
        notes=notes,
    )


def _prepare(
    project: Project,
    conn: Connection,
    listing: Listing,
    fetch: _Fetch,
    keep: Callable[[str], bool],
    tolerance: timedelta,
) -> None:
    """The listing is whole: per-task logs are judged from now on as they come in, and the
    keys whose logs are all in already are judged here."""
    if not fetch.started:  # a global log (or none): judged at the end
        return
    inp = _target_input(project, conn, listing, keep)
    judge = Judge(inp, fetch.since, fetch.until, tolerance)
    with fetch.lock:
        fetch.ids_of = judge.needs()
        for key, ids in fetch.ids_of.items():
            fetch.key_of.update(dict.fromkeys(ids, key))
            fetch.waiting[key] = sum(tid not in fetch.by_task for tid in ids)
        fetch.judge = judge
        ready = [] if fetch.mixed else [k for k, count in fetch.waiting.items() if not count]
        parts = {k: {t: fetch.by_task[t] for t in fetch.ids_of[k]} for k in ready}
    for key, by_task in parts.items():
        judge.judge_key(key, by_task)


def _tells_pages(conn: Connection) -> bool:
    return getattr(type(conn.provider), "list_tasks", None) is RestProvider.list_tasks


def _global_path(conn: Connection) -> str | None:
    path = getattr(conn.provider, "run_log_path", None)
    return path() if callable(path) else None


def _audit_one_target(
    project: Project,
    conn: Connection,
    found: Survey | None,
    fetch: _Fetch,
    keep: Callable[[str], bool],
    tolerance: timedelta,
) -> TargetAudit:
    name, start, end = conn.name, fetch.since, fetch.until
    where = conn.provider.describe_target()
    if found is None or found.listing is None:
        for _, future in fetch.futures:
            future.cancel()
        error = (found.error if found else None) or f"target {name!r}: not listed"
        return TargetAudit(name, conn.platform, where, start, end, error=error)
    runs: list[Run] = []
    notes: list[str] = []
    # Woken once, when every log is in (or one failed): waiting on each in turn wakes this
    # thread, and takes the GIL from the fetching workers, as often as there are logs.
    wait([future for _, future in fetch.futures], return_when=FIRST_EXCEPTION)
    try:
        for _, future in fetch.futures:
            log = future.result()
            runs.extend(log.runs)
            notes.extend(log.notes)
    except (ListingError, SchedctlError) as exc:
        for _, future in fetch.futures:
            future.cancel()
        return TargetAudit(
            name, conn.platform, where, start, end, error=f"target {name!r}: run log: {exc}"
        )
    if len(notes) > NOTES_SHOWN:
        notes = [*notes[:NOTES_SHOWN], f"... and {len(notes) - NOTES_SHOWN} more unreadable runs"]
    judge = fetch.judge
    if judge is None or fetch.mixed:
        inp = _target_input(project, conn, found.listing, keep, runs, notes)
        return audit_target(inp, start, end, tolerance)
    # Every log is in, so every key it could judge was judged as its logs came in; each run
    # names the audited task whose log held it (not mixed), so none is left out.
    return judge.finish(fetch.by_task, replace(judge.inp, runs=runs, notes=notes))
