"""Desired x live -> Plan: plain data, no I/O, no callables.

    diff_target(desired, listing, owner, prune) -> TargetPlan
        create     a desired key with no owned live object (and no other object of its key or title)
        update     an owned object whose normalized form differs: field-level before / after;
                   also a previous owner's object taken over (its marker rewritten, same id)
        delete     an owned object whose key the repository no longer has (only with prune)
        conflict   an unmarked object carries a desired title, or another owner's object a
                   desired key or title: reported, never duplicated
        duplicate  several owned objects share a key: the oldest is kept, the rest deleted

"Owned" is marked by `owner` or by one of `previous_owners`. Objects marked by other owners,
and unmarked ones, are never written. A Plan round-trips through JSON (`plan --out`,
`apply plan.json`) via to_dict / from_dict.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from reconciler.errors import UsageError
from reconciler.providers.base import DesiredTask, Json, Listing, LiveTask

FORMAT_VERSION = "1"
Action = Literal["create", "update", "delete", "conflict", "duplicate"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "conflict", "duplicate")
# Paths listed first in a field diff, in this order; the rest follow alphabetically.
_PATH_ORDER = ("title", "description", "enabled", "schedule", "action", "deliver")


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
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

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update", "delete") or self.delete

    def to_dict(self) -> Json:
        data = asdict(self)
        data["fields"] = [asdict(f) for f in self.fields]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        fields = tuple(
            FieldChange(f["path"], f.get("before"), f.get("after")) for f in data.get("fields", ())
        )
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "fields"}
        if known.get("action") not in ACTIONS:
            raise ValueError(f"unknown action {known.get('action')!r}")
        return cls(**known, fields=fields)


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

    @property
    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def pending(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> Json:
        return {
            "target": self.target,
            "platform": self.platform,
            "where": self.where,
            "summary": self.summary,
            "changes": [c.to_dict() for c in self.changes],
            "orphans": [c.to_dict() for c in self.orphans],
            "in_sync": self.in_sync,
            "pages": self.pages,
            "fingerprint": self.fingerprint,
            "error": self.error,
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

    @property
    def pending(self) -> bool:
        return any(t.pending for t in self.targets)

    @property
    def failed(self) -> bool:
        return any(t.error for t in self.targets)

    @property
    def summary(self) -> dict[str, int]:
        total: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for t in self.targets:
            for action, count in t.summary.items():
                total[action] += count
        return total

    def to_dict(self) -> Json:
        return {
            "format_version": FORMAT_VERSION,
            "owner": self.owner,
            "prune": self.prune,
            "config": self.config,
            "created_at": self.created_at,
            "previous_owners": list(self.previous_owners),
            "paths": None if self.paths is None else list(self.paths),
            "summary": self.summary,
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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the saved plan is damaged: {exc!r}") from None


# ---------------------------------------------------------------------------------------------


def _path_rank(path: str) -> tuple[int, str]:
    head = path.split(".", 1)[0]
    return (_PATH_ORDER.index(head) if head in _PATH_ORDER else len(_PATH_ORDER), path)


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    if before is after or before == after:  # the common case: in sync (often the same dict)
        return ()
    # A path on one side only differs unless its value is None (what the other side reads).
    changed = [p for p, value in before.items() if after.get(p) != value]
    changed += [p for p, value in after.items() if p not in before and value is not None]
    changed.sort(key=_path_rank)
    return tuple([FieldChange(p, before.get(p), after.get(p)) for p in changed])


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
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


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
) -> TargetPlan:
    """The changes that make `listing` match `desired` on one target.

    `elsewhere`: keys the repository has for this target beyond `desired` (when `desired` came
    from narrowed PATHS). Their objects are neither orphans nor changed, only de-duplicated.
    """
    wanted = {d.key: d for d in desired}
    ours = {owner, *previous_owners}
    owned: dict[str, list[LiveTask]] = {}
    unmarked: dict[str, list[LiveTask]] = {}
    others_by_key: dict[str, LiveTask] = {}
    others_by_title: dict[str, LiveTask] = {}
    for task in listing.tasks:  # listing order: usually creation order, so [0] is the oldest
        if task.marker is None:
            unmarked.setdefault(task.title, []).append(task)
        elif task.marker.owner in ours:
            owned.setdefault(task.marker.key, []).append(task)
        else:
            others_by_key.setdefault(task.marker.key, task)
            others_by_title.setdefault(task.title, task)

    plan = TargetPlan(target, platform, where, pages=listing.pages, fingerprint=listing.fingerprint)
    if prune and not wanted and not elsewhere and owned and not allow_empty:
        raise UsageError(
            f"target {target!r}: no schedule is desired here, so --prune would delete all "
            f"{sum(map(len, owned.values()))} object(s) of owner {owner!r}; "
            "pass --allow-empty if that is what you want"
        )

    in_sync = 0
    for key in sorted(wanted):
        d = wanted[key]
        group = owned.get(key)
        if group:
            keep = oldest(group)
            assert keep.marker is not None
            if keep.normalized is d.normalized:  # the common case: the listing matched the hint
                fields: tuple[FieldChange, ...] = ()
            else:
                fields = field_diff(keep.normalized, d.normalized)
            reason = ""
            if keep.marker.owner != owner:  # a previous owner's: taken over in place
                mine = f"{owner}/{key}"
                fields = (FieldChange("marker", str(keep.marker), mine), *fields)
                reason = f"marked by previous owner {keep.marker.owner!r}: re-marked as {mine}"
            if fields:
                plan.changes.append(
                    Change(
                        "update",
                        key,
                        d.title,
                        keep.id,
                        fields,
                        d.payload,
                        keep.document,
                        d.document,
                        d.source,
                        reason,
                    )
                )
            else:
                in_sync += 1
            if len(group) > 1:
                plan.changes.extend(_duplicates(key, group, keep))
        elif (clash := _clash(target, d, unmarked, others_by_key, others_by_title)) is not None:
            plan.changes.append(clash)
        else:
            fields = field_diff({}, d.normalized)
            plan.changes.append(
                Change("create", key, d.title, None, fields, d.payload, None, d.document, d.source)
            )

    for key in sorted(set(owned) - set(wanted)):
        group = owned[key]
        if prune and key not in elsewhere:
            plan.changes.extend(_gone(key, task) for task in group)
            continue
        # Left in place (wanted outside PATHS, or an orphan without prune), but one copy only.
        keep = oldest(group)
        if len(group) > 1:
            plan.changes.extend(_duplicates(key, group, keep))
        if key not in elsewhere:
            plan.orphans.append(_gone(key, keep))
    plan.in_sync = in_sync
    return plan


def _gone(key: str, task: LiveTask) -> Change:
    return Change(
        "delete",
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
        return Change(
            "conflict",
            d.key,
            d.title,
            clash.id,
            after=d.document,
            before=clash.document,
            source=d.source,
            reason=f"an object without a schedctl marker (id {clash.id}) already has this title; "
            f"`schedctl import --target {target} --adopt` takes it over",
        )
    else:
        other = others_by_title.get(d.title)
        what = "this title"
    if other is None:
        return None
    assert other.marker is not None
    them = other.marker.owner
    return Change(
        "conflict",
        d.key,
        d.title,
        other.id,
        after=d.document,
        before=other.document,
        source=d.source,
        reason=f"an object of another owner, {them!r} (id {other.id}, marker {other.marker}), "
        f"already has {what}; if this repository was {them!r} before, add "
        f"`previous_owners: [{them}]` to the config to take it over",
    )


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
