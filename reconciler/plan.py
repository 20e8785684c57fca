"""Desired x live -> Plan: plain data, no I/O, no callables.

    diff_target(desired, listing, owner, prune) -> TargetPlan
        create     a desired key with no owned live object (and no other object of its key or title)
        update     an owned object whose normalized form differs: field-level before / after;
                   also a previous owner's object taken over (its marker rewritten, same id)
        delete     an owned object whose key the repository no longer has (only with prune)
        orphan     the same without prune: kept, but shown, since the repository and the
                   platform differ (TargetPlan.orphans, never written)
        conflict   an unmarked object carries a desired title, or another owner's object a
                   desired key or title: reported, never duplicated
        duplicate  several owned objects share a key: the oldest is kept, the rest deleted
        rename     an owned object of a key the schedule lists in `renamed_from`: re-marked
                   in place (same id), with any field changes
        blocked-delete   a delete or duplicate of a protected key: shown, not made
        ignored-drift    live differences in `ignore_changes` fields: shown, never reverted
        paused     an owned object `schedctl pause` disabled, its pause in the marker: a note;
                   updates and renames keep it disabled and keep the pause
        resume     a paused object whose pause ended (or that was enabled by hand): enabled as
                   the repository wants, the pause cleared from the marker
        pause      made by `schedctl pause` only (see reconciler/pause.py): disable in place
                   and record the pause in the marker

"Owned" is marked by `owner` or by one of `previous_owners`. Objects marked by other owners,
and unmarked ones, are never written; nor are unreadable ones (fields of a shape schedctl
cannot read): each is a note of the plan, and a desired key one of them carries is a conflict,
neither updated nor created again. A Plan round-trips through JSON (`plan --out`,
`apply plan.json`) via to_dict / from_dict.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any, Literal

from reconciler import timing
from reconciler.cost import ChangeCost, CostTotal, PlanCost, total
from reconciler.errors import UsageError
from reconciler.forms import (
    DesiredTask,
    FieldChange,
    Json,
    Listing,
    LiveTask,
    Pause,
    TemplateRef,
    cut_copy,
    in_path_order,
)
from reconciler.records import fields_of

# 2: orphans are their own kind, counted in the summaries; the kinds rename, blocked-delete
# and ignored-drift; Change.renamed_from and .blocked; TargetPlan.notes; Plan.select, .exclude.
# 3: the kinds pause, resume and paused; Change.pause ({until, by, note}); and cost, when the
# config asks for it (reconciler/cost.py): Change.cost, TargetPlan.cost, Plan.cost.
FORMAT_VERSION = "3"
Action = Literal[
    "create", "update", "delete", "conflict", "duplicate", "rename", "blocked-delete",
    "ignored-drift", "pause", "resume", "paused", "orphan",
]  # fmt: skip
ACTIONS: tuple[Action, ...] = (
    "create", "update", "delete", "conflict", "duplicate", "rename", "blocked-delete",
    "ignored-drift", "pause", "resume", "paused",
)  # fmt: skip
KINDS: tuple[Action, ...] = (*ACTIONS, "orphan")  # what a summary counts
# Kinds that are shown but are not pending: nothing is written for them, nor left undone.
NOTE_ACTIONS: tuple[Action, ...] = ("blocked-delete", "ignored-drift", "paused")
# Kinds apply writes in place (a create, or an update of the object at remote_id).
WRITE_ACTIONS: tuple[Action, ...] = ("create", "update", "rename", "pause", "resume")


@dataclass(slots=True)  # not frozen, and never changed once made: see forms.TaskStatus
class Change:
    action: Action
    key: str | None
    title: str
    remote_id: str | None = None
    fields: tuple[FieldChange, ...] = ()
    payload: Json | None = None  # the body a create or update sends
    before: Json | None = None  # the live document
    after: Json | None = None  # the desired document, as the platform will hold it
    source: str = ""  # file:line of the schedule
    reason: str = ""
    delete: bool = False  # a duplicate that apply deletes (always, since duplicates are ours)
    template: TemplateRef | None = None  # the template and item of the desired schedule
    renamed_from: str | None = None  # a rename: the key the live object is marked with
    blocked: str = ""  # a blocked-delete: the action it would be (delete or duplicate)
    # The live object's pause: set by a pause, cleared by a resume, kept by an update or a
    # rename (which then send it disabled, the pause in the marker), shown by paused.
    pause: Pause | None = None
    cost: ChangeCost | None = None  # runs and tokens per day before and after

    @property
    def writes(self) -> bool:
        return self.action in (*WRITE_ACTIONS, "delete") or self.delete

    def to_dict(self) -> Json:
        data = asdict(self)
        data["fields"] = [asdict(f) for f in self.fields]
        data["pause"] = self.pause.to_dict() if self.pause else None
        data["cost"] = None if self.cost is None else self.cost.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        fields = tuple(
            FieldChange(f["path"], f.get("before"), f.get("after")) for f in data.get("fields", ())
        )
        known = {
            k: data[k]
            for k in cls.__dataclass_fields__
            if k in data and k not in ("fields", "template", "pause", "cost")
        }
        if known.get("action") not in KINDS:
            raise ValueError(f"unknown action {known.get('action')!r}")
        return cls(
            **known,
            fields=fields,
            template=TemplateRef.from_dict(data.get("template")),
            pause=Pause.from_dict(data.get("pause")),
            cost=ChangeCost.from_dict(data.get("cost")),
        )


@dataclass(frozen=True)
class UnreadableObject:
    """A live object schedctl could not read: shown in the plan, never written."""

    id: str
    title: str
    marker: str | None  # owner/key, when its marker could be read
    reason: str


@dataclass
class TargetPlan:
    target: str
    platform: str
    where: str = ""
    changes: list[Change] = field(default_factory=list)
    orphans: list[Change] = field(default_factory=list)  # owned, not in the repo, prune off
    in_sync: int = 0
    pages: int = 0
    fingerprint: str = ""
    error: str | None = None  # the listing failed: nothing is planned for this target
    unreadable: list[UnreadableObject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a rename whose old key is not live
    cost: CostTotal | None = None  # runs and tokens per day before and after (asked for)

    @property
    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        for change in self.changes:
            counts[change.action] += 1
        counts["orphan"] = len(self.orphans)
        return counts

    @property
    def pending(self) -> bool:
        """Something for apply to do."""
        return any(c.action not in NOTE_ACTIONS for c in self.changes)

    @property
    def differs(self) -> bool:
        """The repository and the platform differ: changes pending, or orphans kept (ignored
        drift and blocked deletes are notes)."""
        return self.pending or bool(self.orphans)

    def to_dict(self) -> Json:
        return {
            **fields_of(self, "target", "platform", "where", "summary"),
            "changes": [c.to_dict() for c in self.changes],
            "orphans": [c.to_dict() for c in self.orphans],
            **fields_of(self, "in_sync", "pages", "fingerprint", "error"),
            "unreadable": [asdict(u) for u in self.unreadable],
            "notes": list(self.notes),
            "cost": None if self.cost is None else self.cost.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetPlan:
        return cls(
            target=data["target"],
            platform=data.get("platform", ""),
            where=data.get("where", ""),
            changes=[Change.from_dict(c) for c in data.get("changes", ())],
            orphans=[Change.from_dict(c) for c in data.get("orphans", ())],
            in_sync=int(data.get("in_sync", 0)),
            pages=int(data.get("pages", 0)),
            fingerprint=data.get("fingerprint", ""),
            error=data.get("error"),
            unreadable=[UnreadableObject(**u) for u in data.get("unreadable", ())],
            notes=[str(n) for n in data.get("notes", ())],
            cost=CostTotal.from_dict(data.get("cost")),
        )


@dataclass
class Plan:
    targets: list[TargetPlan]
    owner: str
    prune: bool = False
    config: str | None = None  # the config file the plan was made with
    created_at: str = ""
    previous_owners: tuple[str, ...] = ()  # their objects were planned as this owner's
    # The PATHS creates and updates came from (None: the whole repository). Orphans and
    # deletes are judged against the whole repository either way.
    paths: tuple[str, ...] | None = None
    # --select / --exclude key globs: the plan is partial, prune saw selected keys only.
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.select or self.exclude)

    @property
    def pending(self) -> bool:
        return any(t.pending for t in self.targets)

    @property
    def differs(self) -> bool:
        return any(t.differs for t in self.targets)

    @property
    def failed(self) -> bool:
        return any(t.error for t in self.targets)

    @property
    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        for t in self.targets:
            for action, count in t.summary.items():
                counts[action] += count
        return counts

    @property
    def cost(self) -> PlanCost | None:
        """The whole plan's change in runs, tokens and money per day (None: not asked for)."""
        return total(t.cost for t in self.targets if t.cost is not None)

    @property
    def over_budget(self) -> list[str]:
        """The token budgets its changes cross without a budget_exception (file:line each)."""
        return [
            message
            for t in self.targets
            for c in t.changes
            if c.cost is not None and c.cost.blocks
            for message in c.cost.over
        ]

    def to_dict(self) -> Json:
        return {
            "format_version": FORMAT_VERSION,
            "owner": self.owner,
            "prune": self.prune,
            "config": self.config,
            "created_at": self.created_at,
            "previous_owners": list(self.previous_owners),
            "paths": None if self.paths is None else list(self.paths),
            "select": list(self.select),
            "exclude": list(self.exclude),
            "summary": self.summary,
            "cost": None if (cost := self.cost) is None else cost.to_dict(),
            "targets": [t.to_dict() for t in self.targets],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        if not isinstance(data, Mapping) or data.get("format_version") != FORMAT_VERSION:
            raise UsageError(f"not a schedctl plan (expected format_version {FORMAT_VERSION!r})")
        try:
            return cls(
                targets=[TargetPlan.from_dict(t) for t in data["targets"]],
                owner=data["owner"],
                prune=bool(data.get("prune", False)),
                config=data.get("config"),
                created_at=data.get("created_at", ""),
                previous_owners=tuple(map(str, data.get("previous_owners") or ())),
                paths=None if data.get("paths") is None else tuple(map(str, data["paths"])),
                select=tuple(map(str, data.get("select") or ())),
                exclude=tuple(map(str, data.get("exclude") or ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the saved plan is damaged: {exc!r}") from None


# ---------------------------------------------------------------------------------------------


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The paths whose values differ."""
    if before is after:  # the common case: in sync, the listing took the desired form
        return ()
    if before.keys() == after.keys():  # values differ, not paths (or none differs)
        changed = [p for p, value in before.items() if after[p] != value]
        if not changed:
            return ()
    else:  # a path on one side only differs unless its value is None (what the other reads)
        changed = [p for p, value in before.items() if after.get(p) != value]
        changed += [p for p, value in after.items() if p not in before and value is not None]
    return in_path_order([FieldChange(p, before.get(p), after.get(p)) for p in changed])


def _created(value: str | None) -> float | None:
    """A created-at value as a number that orders in time: epoch numbers or ISO timestamps."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    try:
        return timing.parse_instant(value).timestamp()
    except ValueError:
        return None


def oldest(group: Sequence[LiveTask]) -> LiveTask:
    """Of several owned objects with one key, the one to keep: the oldest.

    By created-at where every copy has a readable one, else by listing order (the platforms
    list in creation order). Ties keep listing order.
    """
    if len(group) == 1:
        return group[0]
    stamps = [_created(t.created_at) for t in group]
    if any(s is None for s in stamps):
        return group[0]
    return group[min(range(len(group)), key=lambda i: (stamps[i], i))]


def diff_target(
    target: str,
    platform: str,
    desired: Iterable[DesiredTask],
    listing: Listing,
    *,
    owner: str,
    previous_owners: Collection[str] = (),
    prune: bool = False,
    allow_empty: bool = False,
    where: str = "",
    elsewhere: Collection[str] = (),
    protect: Sequence[str] = (),
    allow_delete: Collection[str] = (),
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    now: datetime | None = None,
) -> TargetPlan:
    """The changes that make `listing` match `desired` on one target.

    `elsewhere`: keys the repository has for this target beyond `desired` (when `desired` came
    from narrowed PATHS). Their objects are neither orphans nor changed, only de-duplicated.
    `protect`: key globs never deleted (beside schedules with `protect: true`) unless named in
    `allow_delete`. `select` / `exclude`: key globs; keys outside the selection are neither
    changed nor pruned nor de-duplicated. `now` (default: the clock) decides whether a pause
    has ended.
    """
    now = now or datetime.now(timezone.utc)
    chosen = bool(select or exclude)  # else every key is selected: no glob is matched
    if chosen:
        wanted = {d.key: d for d in desired if selected(d.key, select, exclude)}
    else:
        wanted = {d.key: d for d in desired}
    renaming = [d for d in wanted.values() if d.renamed_from]
    olds = {old for d in renaming for old in d.renamed_from}  # keys being renamed
    guarded = {k for k, d in wanted.items() if d.protect}  # `protect: true`
    ours = {owner, *previous_owners}
    owned: dict[str, list[LiveTask]] = {}
    unmarked: dict[str, list[LiveTask]] = {}
    others_by_key: dict[str, LiveTask] = {}
    others_by_title: dict[str, LiveTask] = {}
    unreadable: list[LiveTask] = []
    blocked: dict[str, LiveTask] = {}  # desired keys an unreadable object of ours carries
    for task in listing.tasks:  # listing order: usually creation order, so [0] is the oldest
        if task.unreadable is not None:
            unreadable.append(task)
            if task.marker is not None and task.marker.owner in ours:
                blocked.setdefault(task.marker.key, task)
                continue
        if task.marker is None:
            unmarked.setdefault(task.title, []).append(task)
        elif task.marker.owner in ours:
            if not chosen or task.marker.key in olds or selected(task.marker.key, select, exclude):
                owned.setdefault(task.marker.key, []).append(task)
        else:
            others_by_key.setdefault(task.marker.key, task)
            others_by_title.setdefault(task.title, task)

    plan = TargetPlan(target, platform, where, pages=listing.pages, fingerprint=listing.fingerprint)
    plan.unreadable = [
        UnreadableObject(t.id, t.title, str(t.marker) if t.marker else None, str(t.unreadable))
        for t in unreadable
    ]
    # Unmarked objects by the text of their marker field, to spot copies whose marker was cut.
    cut = {t.marked: t for t in listing.tasks if t.marked} if wanted else {}
    cut_sizes = sorted({len(text) for text in cut})
    if prune and not wanted and not elsewhere and owned and not allow_empty:
        raise UsageError(
            f"target {target!r}: no schedule is desired here, so --prune would delete all "
            f"{sum(map(len, owned.values()))} object(s) of owner {owner!r}; "
            "pass --allow-empty if that is what you want"
        )

    def shielded(key: str) -> bool:
        return key not in allow_delete and (
            key in guarded or any(fnmatchcase(key, g) for g in protect)
        )

    renamed = _renames(wanted, renaming, owned, plan.notes)
    moved: dict[str, LiveTask] = {}  # old key -> its object, re-marked with the new key
    in_sync = 0
    for key in sorted(wanted):
        d = wanted[key]
        old = renamed.get(key)
        group = owned.get(key) or (owned.get(old) if old else None)
        if key in blocked:
            bad = blocked[key]
            plan.changes.append(
                Change(
                    "conflict",
                    key,
                    d.title,
                    bad.id,
                    after=d.document,
                    source=d.source,
                    reason=f"the live object id {bad.id} carries this schedule's marker but is "
                    f"unreadable ({bad.unreadable}): nothing is updated or created for this key "
                    "until it is fixed or deleted on the platform",
                )
            )
        elif group:
            keep = oldest(group)
            assert keep.marker is not None
            if keep.normalized is d.normalized:  # the common case: the listing matched the hint
                fields: tuple[FieldChange, ...] = ()
            elif keep.edited_from is d.normalized:  # read from the hint, some values edited
                fields = keep.edits
            else:
                fields = field_diff(keep.normalized, d.normalized)
            reason = ""
            kept = paused(keep, now)  # stays disabled: that is the pause, not drift
            ended = keep.marker.pause if kept is None else None
            if kept is not None:
                fields = tuple(f for f in fields if f.path != "enabled")
            ignored = tuple(f for f in fields if ignored_path(f.path, d.ignore)) if d.ignore else ()
            if ignored:
                fields = tuple(f for f in fields if f not in ignored)
            if keep.marker.key != key or keep.marker.owner != owner:  # re-marked in place
                mine = f"{owner}/{key}"
                fields = (FieldChange("marker", str(keep.marker), mine), *fields)
                if keep.marker.key != key:  # renamed: the same id
                    reason = f"renamed from {keep.marker.key!r}: re-marked as {mine}, same id"
                else:  # a previous owner's: taken over
                    reason = f"marked by previous owner {keep.marker.owner!r}: re-marked as {mine}"
            if ended is not None:
                fields = (FieldChange("pause", ended.text(), None), *fields)
                enabled = d.normalized.get("enabled") is not False
                reason = "; ".join(filter(None, (resumed_reason(ended, keep, enabled), reason)))
            if fields:
                action: Action = (
                    "rename" if keep.marker.key != key else "resume" if ended else "update"
                )
                plan.changes.append(
                    Change(
                        action,
                        key,
                        d.title,
                        keep.id,
                        fields,
                        d.payload,
                        keep.document,
                        d.document,
                        d.source,
                        reason,
                        template=d.template,
                        renamed_from=keep.marker.key if keep.marker.key != key else None,
                        pause=kept or (ended if action == "resume" else None),
                    )
                )
            else:
                in_sync += 1
            if kept is not None:
                plan.changes.append(
                    Change(
                        "paused",
                        key,
                        d.title,
                        keep.id,
                        source=d.source,
                        reason=f"{kept.describe()}: left disabled; `schedctl resume {key}` ends it",
                        pause=kept,
                    )
                )
            if ignored:
                names = ", ".join(d.ignore)
                plan.changes.append(
                    Change(
                        "ignored-drift",
                        key,
                        d.title,
                        keep.id,
                        ignored,
                        source=d.source,
                        reason=f"live differences in ignore_changes ({names}): left as they are",
                    )
                )
            if keep.marker.key != key:  # the old key's other copies: its orphans, below
                moved[keep.marker.key] = keep
            elif len(group) > 1:
                copies = _duplicates(key, group, keep)
                plan.changes.extend(_block(c) if shielded(key) else c for c in copies)
        elif cut and (copy := _cut_copy(cut, cut_sizes, d)) is not None:
            plan.changes.append(
                _conflict(
                    d,
                    copy,
                    f"an object without a marker (id {copy.id}) is this schedule with its "
                    f"marker cut off (the platform kept {len(copy.marked)} of "
                    f"{len(d.marked)} characters): delete it and shorten the schedule's text",
                )
            )
        elif (clash := _clash(target, d, unmarked, others_by_key, others_by_title)) is not None:
            plan.changes.append(clash)
        else:
            fields = field_diff({}, d.normalized)
            plan.changes.append(
                Change(
                    "create",
                    key,
                    d.title,
                    None,
                    fields,
                    d.payload,
                    None,
                    d.document,
                    d.source,
                    template=d.template,
                )
            )

    for old, task in moved.items():
        if len(owned[old]) == 1:
            del owned[old]
        else:
            owned[old] = [t for t in owned[old] if t is not task]
    # A renamed key kept outside the selection is left alone: a selection never prunes out of it.
    gone = [k for k in owned if k not in wanted and (not chosen or selected(k, select, exclude))]
    for key in sorted(gone):
        group = owned[key]
        if prune and key not in elsewhere:
            plan.changes.extend(
                _block(_gone(key, task)) if shielded(key) else _gone(key, task) for task in group
            )
            continue
        # Left in place (wanted outside PATHS, or an orphan without prune), but one copy only.
        keep = oldest(group)
        if len(group) > 1:
            copies = _duplicates(key, group, keep)
            plan.changes.extend(_block(c) if shielded(key) else c for c in copies)
        if key not in elsewhere:
            plan.orphans.append(_gone(key, keep, "orphan"))
    plan.in_sync = in_sync
    return plan


def paused(task: LiveTask, now: datetime) -> Pause | None:
    """The pause `task` is under: its marker's, while it is disabled and the pause lasts."""
    pause = task.marker.pause if task.marker is not None else None
    if pause is None or task.normalized.get("enabled") is not False or pause.ended(now):
        return None
    return pause


def resumed_reason(pause: Pause, task: LiveTask, enabled: bool = True) -> str:
    """Why a paused object is resumed (its pause ended, or someone enabled it by hand), and
    what apply does about it (`enabled`: what the repository wants)."""
    if task.normalized.get("enabled") is not False:
        why = "enabled on the platform while paused, so the pause is over: apply"
    elif enabled:
        why = "the pause ended: apply enables it and"
    else:
        why = "the pause ended: apply leaves it disabled, as the repository says, and"
    return f"{pause.describe()}: {why} clears the pause from the marker"


def selected(key: str, select: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether `key` is inside a --select / --exclude selection (no select: every key)."""
    if select and not any(fnmatchcase(key, g) for g in select):
        return False
    return not any(fnmatchcase(key, g) for g in exclude)


def _renames(
    wanted: Mapping[str, DesiredTask],
    renaming: Sequence[DesiredTask],
    owned: Mapping[str, Sequence[LiveTask]],
    notes: list[str],
) -> dict[str, str]:
    """new key -> the old key whose live object is re-marked; notes for those that cannot be.
    `renaming`: the desired tasks with keys they had before."""
    out: dict[str, str] = {}
    for d in sorted(renaming, key=lambda d: d.key):
        key = d.key
        if key in owned:
            continue  # done already (the old entry may stay)
        for old in d.renamed_from:
            if old in wanted:
                notes.append(
                    f"rename {old} → {key}: {old!r} is still a schedule here, so it is not renamed"
                )
            elif old in out.values():
                notes.append(f"rename {old} → {key}: {old!r} is renamed to another key already")
            elif old in owned:
                out[key] = old
                break
        else:
            gone = ", ".join(d.renamed_from)
            notes.append(
                f"rename {gone} → {key}: no live task has the old key, so {key} is created"
            )
    return out


def ignored_path(path: str, names: Sequence[str]) -> bool:
    """Whether a comparison path is one of the `ignore_changes` fields `names`."""
    for name in names:
        head = "action.prompt" if name == "prompt" else name
        if path == head or path.startswith(head + "."):
            return True
    return False


def _block(change: Change) -> Change:
    """A delete or duplicate of a protected key, as the blocked-delete the plan shows."""
    why = "protected" + (f"; {change.reason}" if change.reason else "")
    return replace(
        change,
        action="blocked-delete",
        delete=False,
        blocked=change.action,
        reason=f"{why}: not deleted; `apply --allow-delete {change.key}` deletes it",
    )


def unblock(change: Change) -> Change:
    """A blocked-delete let through by `apply --allow-delete`: the delete it would have been."""
    action: Action = "duplicate" if change.blocked == "duplicate" else "delete"
    return replace(change, action=action, delete=action == "duplicate", blocked="")


def _gone(key: str, task: LiveTask, action: Action = "delete") -> Change:
    return Change(
        action,
        key,
        task.title,
        task.id,
        field_diff(task.normalized, {}),
        None,
        task.document,
        reason="no longer in the repository",
    )


def _clash(
    target: str,
    d: DesiredTask,
    unmarked: Mapping[str, Sequence[LiveTask]],
    others_by_key: Mapping[str, LiveTask],
    others_by_title: Mapping[str, LiveTask],
) -> Change | None:
    """The conflict that stops creating `d`: another object already has its key or title."""
    other = others_by_key.get(d.key)
    if other is not None:
        what = "this key"
    elif d.title in unmarked:
        clash = unmarked[d.title][0]
        return _conflict(
            d,
            clash,
            f"an object without a schedctl marker (id {clash.id}) already has this title; "
            f"`schedctl import --target {target} --adopt` takes it over",
        )
    else:
        other = others_by_title.get(d.title)
        what = "this title"
    if other is None:
        return None
    assert other.marker is not None
    them = other.marker.owner
    return _conflict(
        d,
        other,
        f"an object of another owner, {them!r} (id {other.id}, marker {other.marker}), "
        f"already has {what}; if this repository was {them!r} before, add "
        f"`previous_owners: [{them}]` to the config to take it over",
    )


def _conflict(d: DesiredTask, live: LiveTask, reason: str) -> Change:
    """`d` is not created: `live` already stands where it would (shown side by side)."""
    return Change(
        "conflict",
        d.key,
        d.title,
        live.id,
        after=d.document,
        before=live.document,
        source=d.source,
        template=d.template,
        reason=reason,
    )


def _cut_copy(
    by_marked: Mapping[str, LiveTask], sizes: Sequence[int], desired: DesiredTask
) -> LiveTask | None:
    """The unmarked live object that is `desired` with its marker cut off, if any."""
    sent = desired.marked
    for size in sizes:
        if size >= len(sent):
            break
        task = by_marked.get(sent[:size])
        if task is not None and cut_copy(task, sent, desired.normalized):
            return task
    return None


def _duplicates(key: str, group: Sequence[LiveTask], keep: LiveTask) -> list[Change]:
    return [
        Change(
            "duplicate",
            key,
            task.title,
            task.id,
            before=task.document,
            delete=True,
            reason=f"a second copy of this key: the oldest (id {keep.id}) is kept, this one deleted",
        )
        for task in group
        if task is not keep
    ]
