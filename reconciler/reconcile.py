"""Plan and apply against connected targets.

    make_plan(project, conns)   one listing per target -> Plan (plan.py does the diffing)
    check_fresh(plan, conns)    a saved plan against fresh listings: StalePlanError when stale,
                                or when any id in it is not this owner's object of that key
    apply_plan(plan, conns)     -> ApplyResult, one ChangeResult per change

Apply order: creates and updates of every target concurrently (one thread pool; each target
has one shared httpx client); then, only when nothing failed anywhere, deletes (orphans under
prune, and always the extra copies of a duplicated key), each re-checked on a fresh listing.
A create whose answer never came (AmbiguousWrite) is not re-sent blind: the target is listed
again, and the object adopted when its marker shows it was created.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from reconciler.errors import (
    AmbiguousWrite,
    ListingError,
    SchedctlError,
    StalePlanError,
    UsageError,
    map_exceptions,
)
from reconciler.plan import (
    NOTE_ACTIONS,
    WRITE_ACTIONS,
    Change,
    Plan,
    TargetPlan,
    diff_target,
    unblock,
)
from reconciler.targets import failed_targets

if TYPE_CHECKING:
    from reconciler.forms import DesiredTask, Json, Listing, LiveTask
    from reconciler.loader import Project
    from reconciler.targets import Connection

Status = Literal["done", "adopted", "failed", "skipped"]
# Rounds of "re-list, adopt what was created, re-send what was not" after ambiguous creates.
AMBIGUOUS_ROUNDS = 3


@dataclass(frozen=True)
class ChangeResult:
    target: str
    change: Change
    status: Status
    message: str = ""
    remote_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("done", "adopted")


@dataclass
class ApplyResult:
    results: list[ChangeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # per target: listing failed, ...

    @property
    def failed(self) -> list[ChangeResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        # A conflict is a change that was not made: the run did not reach the desired state.
        skipped_conflicts = any(r.change.action == "conflict" for r in self.results)
        return not self.failed and not self.errors and not skipped_conflicts

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            name = f"{r.change.action}:{r.status}"
            out[name] = out.get(name, 0) + 1
        return out


OnResult = Callable[[ChangeResult], None]


# ---------------------------------------------------------------------------------------------
# Plan


@dataclass(frozen=True)
class Survey:
    """One target's desired forms and its live listing (or why the listing failed)."""

    desired: list[DesiredTask]
    listing: Listing | None
    error: str | None = None


def survey(
    project: Project,
    conns: Mapping[str, Connection],
    listed: Mapping[str, Callable[[list[LiveTask]], None]] | None = None,
) -> dict[str, Survey]:
    """Desired forms and one listing per target, the listings side by side.

    A target's desired forms are built by a worker of its listing during the first round
    trip, and serve as hints there (in-sync tasks skip conversion). The collector and the
    switch interval are the command's (see tuning). `listed`: by target, given each page's
    tasks as they are converted (see RestProvider.list_tasks).
    """

    def forms_of(name: str) -> Callable[[], dict[str, DesiredTask]]:
        provider = conns[name].provider
        return functools.cache(
            lambda: {s.key: provider.desired(s) for s in project.for_target(name)}
        )

    def one(name: str, forms: Callable[[], dict[str, DesiredTask]]) -> Survey:
        try:
            tell, provider = listed.get(name) if listed else None, conns[name].provider
            # Only when asked: a provider of another package may not take `listed`.
            listing = provider.list_tasks(forms, tell) if tell else provider.list_tasks(forms)
        except ListingError as exc:
            return Survey(list(forms().values()), None, f"target {name!r}: {exc}")
        return Survey(list(forms().values()), listing)

    if not conns:  # every target failed to connect
        return {}
    if len(conns) == 1:  # the common case: no thread to start and hand over to
        return {name: one(name, forms_of(name)) for name in conns}
    with ThreadPoolExecutor(max_workers=len(conns), thread_name_prefix="survey") as pool:
        futures = {name: pool.submit(one, name, forms_of(name)) for name in conns}
        return {name: future.result() for name, future in futures.items()}


def make_plan(
    project: Project,
    conns: Mapping[str, Connection],
    *,
    prune: bool | None = None,
    allow_empty: bool = False,
    repository: Mapping[str, Collection[str]] | None = None,
    paths: Sequence[str] | None = None,
    allow_delete: Collection[str] = (),
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    now: datetime | None = None,
) -> Plan:
    """List every target once and diff it against the project's schedules.

    `prune`: the command line's choice; None leaves it to the config (per target, see
    Config.prune_for). A target that could not be connected (see targets.connect) or listed
    gets a TargetPlan with its error; the others are planned all the same.

    When `project` was loaded from PATHS narrower than the repository, `repository` holds the
    keys the whole repository has, by target (see repository_keys): orphans and deletes are
    judged against those, creates and updates come from `project` alone. `now` (default: the
    clock) decides which pauses have ended.
    """
    now = now or datetime.now(timezone.utc)
    config = project.config
    owner = config.owner
    previous = tuple(config.previous_owners)
    planned: dict[str, TargetPlan] = {}
    pruned = False
    for name, found in survey(project, conns).items():
        conn = conns[name]
        where = conn.provider.describe_target()
        if found.listing is None:
            planned[name] = TargetPlan(name, conn.platform, where, error=found.error)
            continue
        prunes = config.prune_for(name, prune)
        planned[name] = diff_target(
            name,
            conn.platform,
            found.desired,
            found.listing,
            owner=owner,
            previous_owners=previous,
            prune=prunes,
            allow_empty=allow_empty,
            where=where,
            elsewhere=repository.get(name, ()) if repository is not None else (),
            protect=project.config.protect,
            allow_delete=allow_delete,
            select=select,
            exclude=exclude,
            now=now,
        )
        _keep_ignored(planned[name], found, conn)
        _keep_paused(planned[name], conn)
        if config.wants_cost():
            planned[name] = _costed(project, planned[name], found.listing, conn)
        pruned = pruned or prunes
    for name, problem in failed_targets(conns).items():
        platform = config.targets[name].platform if name in config.targets else ""
        planned[name] = TargetPlan(name, platform, error=problem)
    order = [n for n in config.targets if n in planned]
    targets = [planned[n] for n in order] + [t for n, t in planned.items() if n not in order]
    return Plan(
        targets,
        owner=owner,
        prune=pruned,
        config=str(Path(project.config_file).resolve()) if project.config_file else None,
        created_at=now.isoformat(timespec="seconds"),
        previous_owners=previous,
        paths=None if repository is None else tuple(paths or ()),
        select=tuple(select),
        exclude=tuple(exclude),
    )


# Run logs read at once for a plan's cost: the tasks it changes, never every task.
COST_FETCHES = 8


def _costed(
    project: Project, planned: TargetPlan, listing: Listing, conn: Connection
) -> TargetPlan:
    """`planned` with its cost (reconciler/cost.py), from the last runs of the tasks it changes
    and of the template siblings a new task is estimated from, COST_FETCHES logs at a time.
    A log that cannot be read leaves that task's tokens unknown, said in a note."""
    from reconciler import cost
    from reconciler.model import CostSettings
    from reconciler.platforms.rest import Unreadable
    from reconciler.runlog import read_run

    config = project.config
    last = (config.cost or CostSettings()).last_runs
    owners = {config.owner, *config.previous_owners}
    ids = cost.wanted_ids(planned, project.for_target(planned.target), listing, owners)

    def one(task_id: str) -> cost.Observed | str:
        try:
            rows = conn.provider.runs(task_id, last)
        except SchedctlError as exc:
            return (
                f"cost: the run log of id {task_id} cannot be read ({exc}): its tokens are unknown"
            )
        runs = []
        for raw in rows:
            with contextlib.suppress(Unreadable):  # a row that cannot be read is not a cost
                runs.append(read_run(raw, task_id))
        return cost.observe(runs, last)

    observed: dict[str, cost.Observed] = {}
    if ids:
        with ThreadPoolExecutor(min(COST_FETCHES, len(ids)), thread_name_prefix="cost") as pool:
            for task_id, found in zip(ids, pool.map(one, ids), strict=True):
                if isinstance(found, str):
                    planned.notes.append(found)
                else:
                    observed[task_id] = found
    return cost.cost_target(planned, project, listing, observed, datetime.now(timezone.utc))


def _keep_ignored(planned: TargetPlan, found: Survey, conn: Connection) -> None:
    """Updates and renames send the live values of `ignore_changes` fields, not the desired."""
    drifted = {c.key for c in planned.changes if c.action == "ignored-drift"}
    if not drifted:
        return
    assert found.listing is not None
    desired = {d.key: d for d in found.desired}
    by_id = {t.id: t for t in found.listing.tasks}
    for i, change in enumerate(planned.changes):
        if change.action in ("update", "rename", "resume") and change.key in drifted:
            d, live = desired[str(change.key)], by_id[str(change.remote_id)]
            payload = _keeping(conn.provider.to_remote, d, live)
            planned.changes[i] = replace(change, payload=payload)


def _keeping(to_remote: Callable[[Json, str, str], Json], d: DesiredTask, live: LiveTask) -> Json:
    """The body for `d` with its `ignore_changes` fields as `live` has them."""
    document = copy.deepcopy(d.document)
    for name in d.ignore:
        if name == "prompt":
            prompt = (live.document.get("action") or {}).get("prompt")
            if prompt is not None and isinstance(document.get("action"), dict):
                document["action"]["prompt"] = prompt
        elif name in live.document:
            document[name] = copy.deepcopy(live.document[name])
        else:
            document.pop(name, None)
    return to_remote(document, "UTC", d.key)


def _keep_paused(planned: TargetPlan, conn: Connection) -> None:
    """Updates and renames of a paused object send it disabled, its pause kept in the marker."""
    for i, change in enumerate(planned.changes):
        if change.action in ("update", "rename") and change.pause and change.payload:
            payload = conn.provider.with_pause(change.payload, change.pause)
            planned.changes[i] = replace(change, payload=payload)


def allow_deletes(plan: Plan, keys: Collection[str]) -> None:
    """Let the blocked deletes of the named keys through (`apply --allow-delete KEY`)."""
    for target in plan.targets:
        target.changes = [
            unblock(c) if c.action == "blocked-delete" and c.key in keys else c
            for c in target.changes
        ]


def repository_keys(project: Project) -> dict[str, frozenset[str]]:
    """Every schedule key of a (whole-repository) project, by target."""
    keys: dict[str, set[str]] = {}
    for s in project.schedules:
        keys.setdefault(s.target, set()).add(s.key)
    return {target: frozenset(found) for target, found in keys.items()}


def saved_plan(paths: Sequence[str]) -> Plan | None:
    """The plan saved by `plan --out` when PATHS is one such .json file (`apply plan.json`);
    None when PATHS are schedule files."""
    if len(paths) != 1 or not paths[0].endswith(".json") or not Path(paths[0]).is_file():
        return None
    return read_plan(paths[0])


def read_plan(path: str) -> Plan:
    """A plan saved by `plan --out`; UsageError naming the file when it is none."""

    def unreadable(exc: Exception) -> UsageError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return UsageError(f"{path}: cannot read the saved plan: {reason}")

    def invalid(exc: Exception) -> UsageError:
        return UsageError(f"{path}: not a saved plan: {exc}")

    with map_exceptions({OSError: unreadable, ValueError: invalid, UsageError: invalid}):
        return Plan.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def check_fresh(
    plan: Plan,
    conns: Mapping[str, Connection],
    *,
    owner: str,
    previous_owners: Collection[str] = (),
) -> None:
    """Refuse a saved plan whose live listings changed since it was made, or that was edited.

    `owner` and `previous_owners` are the config's. A plan is data a user can edit, so beyond
    the fingerprint every id it writes is checked against the fresh listing: it must be an
    object of this owner (or of a previous owner the plan names) with that change's key.
    """
    if plan.owner != owner:
        raise StalePlanError(
            f"the saved plan was made for owner {plan.owner!r}, but the config's owner is "
            f"{owner!r}: run `schedctl plan --out` again"
        )
    unknown = sorted(set(plan.previous_owners) - set(previous_owners))
    if unknown:
        raise StalePlanError(
            f"the saved plan takes over objects of {', '.join(map(repr, unknown))}, which the "
            "config's previous_owners does not name: run `schedctl plan --out` again"
        )
    listings: dict[str, Listing] = {}
    for target in plan.targets:
        if target.error:
            raise StalePlanError(
                f"the saved plan has a failed target {target.target!r}: {target.error}"
            )
        conn = conns.get(target.target)
        if conn is None:
            problem = failed_targets(conns).get(target.target)
            if problem is not None:
                raise StalePlanError(
                    f"the saved plan cannot be checked against the platform: {problem}; "
                    "nothing was written"
                )
            raise UsageError(
                f"the saved plan names target {target.target!r}, which the config lacks"
            )
        listing = conn.provider.list_tasks()
        if listing.fingerprint != target.fingerprint:
            raise StalePlanError(
                f"target {target.target!r} changed since the plan was made "
                "(its live listing differs): run `schedctl plan --out` again"
            )
        listings[target.target] = listing
    # Every listing first, then the ids: nothing is written unless the whole plan holds.
    owners = {plan.owner, *plan.previous_owners}
    for target in plan.targets:
        problem = _foreign_write(target, listings[target.target], owners, conns[target.target])
        if problem is not None:
            raise StalePlanError(
                f"the saved plan was edited or does not fit the live objects: target "
                f"{target.target!r}: {problem}; nothing was written. "
                "Make a new one with `schedctl plan --out`"
            )


def _foreign_write(
    target: TargetPlan, listing: Listing, owners: Collection[str], conn: Connection
) -> str | None:
    """Why a saved target plan would write what is not this owner's, or None when it would not."""
    by_id = {t.id: t for t in listing.tasks}
    writes: dict[str, Change] = {}
    doomed: dict[str | None, set[str]] = {}  # key -> the ids the plan deletes
    for change in target.changes:
        if change.action in ("conflict", *NOTE_ACTIONS):
            continue  # never written
        name = f"{change.action} {change.key!r}" + (
            f" (id {change.remote_id})" if change.remote_id is not None else ""
        )
        if change.action == "create":
            if change.remote_id is not None:
                return f"{name}: a create carries an id"
        else:
            live = by_id.get(str(change.remote_id))
            if live is None:
                return f"{name}: no live object has this id"
            if live.marker is None:
                return f"{name}: the live object has no schedctl marker"
            if live.marker.owner not in owners:
                return f"{name}: the live object belongs to owner {live.marker.owner!r}"
            key = change.renamed_from if change.action == "rename" else change.key
            if live.marker.key != key:
                return f"{name}: the live object has key {live.marker.key!r}"
            if live.id in writes:
                return f"{name}: the id is written twice (also by {writes[live.id].action})"
            writes[live.id] = change
        if change.action in WRITE_ACTIONS:
            problem = _payload_problem(change, conn)
            if problem is not None:
                return f"{name}: {problem}"
        else:
            doomed.setdefault(change.key, set()).add(str(change.remote_id))
    for change in target.changes:
        if change.action == "duplicate":
            copies = {t.id for t in _owned(listing, owners, change.key)}
            if not copies - doomed[change.key]:
                return f"duplicate {change.key!r}: the plan deletes every copy of this key"
    return None


def _payload_problem(change: Change, conn: Connection) -> str | None:
    """What is wrong with the marker a saved create or update would write."""
    if not isinstance(change.payload, dict):
        return "it has no payload"
    try:
        marker = conn.provider.live({**change.payload, "id": change.remote_id or "-"}).marker
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"its payload is unreadable ({exc})"
    wanted = f"{conn.provider.owner}/{change.key}"
    if str(marker) != wanted:
        return f"its payload would write the marker {marker or 'none'}, not {wanted}"
    return None


# ---------------------------------------------------------------------------------------------
# Apply


def _owned(listing: Listing, owners: Collection[str], key: str | None) -> list[LiveTask]:
    return [
        t
        for t in listing.tasks
        if t.marker is not None and t.marker.owner in owners and t.marker.key == key
    ]


class _Run:
    """One apply: the pool, the connections, and the results as they come in."""

    def __init__(
        self,
        plan: Plan,
        conns: Mapping[str, Connection],
        concurrency: int,
        on_result: OnResult | None,
    ) -> None:
        self.plan = plan
        self.conns = conns
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="apply")
        self.on_result = on_result
        self.result = ApplyResult()
        self.owners = {plan.owner, *plan.previous_owners}

    def record(self, result: ChangeResult) -> None:
        self.result.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def write(self, target: str, change: Change) -> ChangeResult | tuple[str, Change]:
        """One create or update; ("ambiguous", change) when a create's answer never came."""
        provider = self.conns[target].provider
        try:
            if change.action == "create":
                assert change.payload is not None
                task = provider.create(change.payload)
            else:
                assert change.payload is not None and change.remote_id is not None
                task = provider.update(change.remote_id, change.payload)
        except AmbiguousWrite as exc:
            if change.action == "create":  # settled by re-listing; updates are retried by http
                return ("ambiguous", change)
            return ChangeResult(target, change, "failed", str(exc), change.remote_id)
        except SchedctlError as exc:
            return ChangeResult(target, change, "failed", str(exc), change.remote_id)
        return ChangeResult(target, change, "done", "", task.id)

    def writes(self, jobs: Sequence[tuple[str, Change]]) -> dict[str, list[Change]]:
        """Run jobs concurrently; record results; the ambiguous creates, by target."""
        ambiguous: dict[str, list[Change]] = {}
        futures = [
            (target, self.pool.submit(self.write, target, change)) for target, change in jobs
        ]
        for target, future in futures:
            outcome = future.result()
            if isinstance(outcome, ChangeResult):
                self.record(outcome)
            else:
                ambiguous.setdefault(target, []).append(outcome[1])
        return ambiguous

    def settle_ambiguous(self, ambiguous: dict[str, list[Change]]) -> None:
        """Adopt what an unanswered create did create; re-send (after checking) what it did not."""
        for _ in range(AMBIGUOUS_ROUNDS):
            if not ambiguous:
                return
            resend: list[tuple[str, Change]] = []
            for target, changes in ambiguous.items():
                try:
                    listing = self.conns[target].provider.list_tasks()
                except ListingError as exc:
                    for change in changes:
                        self.record(
                            ChangeResult(target, change, "failed", f"no answer, then {exc}")
                        )
                    continue
                provider = self.conns[target].provider
                for change in changes:
                    found = _owned(listing, (self.plan.owner,), change.key)
                    assert change.payload is not None
                    if found:
                        message = "the answer was lost, but the listing shows it was created"
                        self.record(ChangeResult(target, change, "adopted", message, found[0].id))
                    elif cut := provider.cut_copy(listing.tasks, change.payload):
                        # Created, but its marker was cut off: re-sending would make another.
                        problem = provider.marker_lost(cut, change.payload, created=True)
                        self.record(ChangeResult(target, change, "failed", str(problem), cut.id))
                    else:
                        resend.append((target, change))
            ambiguous = self.writes(resend)
        for target, changes in ambiguous.items():
            for change in changes:
                message = f"no answer after {AMBIGUOUS_ROUNDS + 1} tries; run apply again"
                self.record(ChangeResult(target, change, "failed", message))

    def delete(self, target: str, change: Change, message: str = "") -> ChangeResult:
        try:
            assert change.remote_id is not None
            self.conns[target].provider.delete(change.remote_id)
        except SchedctlError as exc:
            return ChangeResult(target, change, "failed", str(exc), change.remote_id)
        return ChangeResult(target, change, "done", message, change.remote_id)

    def deletes(self, by_target: Mapping[str, Sequence[Change]]) -> None:
        """Each delete re-checked on a fresh listing: still there, still ours, still surplus.

        A duplicate goes only while another copy of its key stays (one this run keeps).
        """
        jobs: list[tuple[str, Change, str]] = []
        for target, changes in by_target.items():
            try:
                listing = self.conns[target].provider.list_tasks()
            except ListingError as exc:
                self.result.errors.append(f"target {target!r}: no delete made: {exc}")
                for change in changes:
                    self.record(ChangeResult(target, change, "skipped", "the fresh listing failed"))
                continue
            by_id = {t.id: t for t in listing.tasks}
            doomed: dict[str | None, set[str]] = {}
            for change in changes:
                doomed.setdefault(change.key, set()).add(str(change.remote_id))
            for change in changes:
                live = by_id.get(str(change.remote_id))
                mine = {t.id for t in _owned(listing, self.owners, change.key)}
                kept = sorted(mine - doomed[change.key])
                if live is None:
                    self.record(
                        ChangeResult(target, change, "done", "already gone", change.remote_id)
                    )
                elif live.id not in mine:
                    self.record(ChangeResult(target, change, "skipped", "no longer marked as ours"))
                elif live.unreadable:
                    why = f"unreadable now ({live.unreadable})"
                    self.record(ChangeResult(target, change, "skipped", why, change.remote_id))
                elif change.action == "duplicate" and not kept:
                    # The copy the plan kept is gone: deleting this one would leave none.
                    why = "the copy kept in its place is gone, so this one stays; run apply again"
                    self.record(ChangeResult(target, change, "failed", why, change.remote_id))
                elif change.action == "duplicate":
                    message = f"deleted id {live.id}; kept id {', '.join(kept)}"
                    jobs.append((target, change, message))
                else:
                    jobs.append((target, change, ""))
        for future in [self.pool.submit(self.delete, *job) for job in jobs]:
            self.record(future.result())


def apply_plan(
    plan: Plan,
    conns: Mapping[str, Connection],
    *,
    concurrency: int = 8,
    on_result: OnResult | None = None,
) -> ApplyResult:
    """Carry out a plan; never raises for a failed change: each has its result."""
    run = _Run(plan, conns, concurrency, on_result)
    try:
        writes: list[tuple[str, Change]] = []
        deletes: dict[str, list[Change]] = {}
        for target in plan.targets:
            if target.error:
                run.result.errors.append(target.error)
                continue
            for change in target.changes:
                if change.action in WRITE_ACTIONS:
                    writes.append((target.target, change))
                elif change.action in ("delete", "duplicate"):  # extra copies go without prune
                    deletes.setdefault(target.target, []).append(change)
                else:
                    run.record(
                        ChangeResult(
                            target.target, change, "skipped", change.reason, change.remote_id
                        )
                    )
        run.settle_ambiguous(run.writes(writes))
        if run.result.failed or run.result.errors:
            n = len(run.result.failed)
            why = f"not deleted: {n} change(s) failed" if n else "not deleted: a target failed"
            for name, changes in deletes.items():
                for change in changes:
                    run.record(ChangeResult(name, change, "skipped", why, change.remote_id))
        elif deletes:
            run.deletes(deletes)
    finally:
        run.pool.shutdown(wait=True)
    return run.result
