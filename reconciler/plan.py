"""Desired x live -> Plan: plain data, no I/O, no callables.

    diff_target(desired, listing, owner, prune) -> TargetPlan
        create     a desired key with no owned live object (and no unmarked one of its title)
        update     an owned object whose normalized form differs: field-level before / after
        delete     an owned object whose key the repository no longer has (only with prune)
        conflict   an unmarked object carries a desired title: reported, never duplicated
        duplicate  several owned objects share a key: one is kept, the rest deleted under prune

Objects marked by other owners, and unmarked ones, are never written. A Plan round-trips
through JSON (`plan --out`, `apply plan.json`) via to_dict / from_dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from reconciler.errors import UsageError
from reconciler.fleet import TemplateRef
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
    delete: bool = False  # a duplicate that prune deletes
    template: TemplateRef | None = None  # the template and item of the desired schedule

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
        known = {
            k: data[k]
            for k in cls.__dataclass_fields__
            if k in data and k not in ("fields", "template")
        }
        return cls(**known, fields=fields, template=TemplateRef.from_dict(data.get("template")))


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
    paths = sorted(set(before) | set(after), key=_path_rank)
    return tuple(
        FieldChange(p, before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)
    )


def _keep_one(group: Sequence[LiveTask], desired: DesiredTask | None) -> LiveTask:
    """Of several owned objects with one key, the one to keep: the closest to desired, oldest first."""
    if desired is None or len(group) == 1:
        return group[0]
    return min(group, key=lambda t: len(field_diff(t.normalized, desired.normalized)))


def diff_target(
    target: str,
    platform: str,
    desired: Iterable[DesiredTask],
    listing: Listing,
    *,
    owner: str,
    prune: bool = False,
    allow_empty: bool = False,
    where: str = "",
) -> TargetPlan:
    """The changes that make `listing` match `desired` on one target."""
    wanted = {d.key: d for d in desired}
    owned: dict[str, list[LiveTask]] = {}
    unmarked: dict[str, list[LiveTask]] = {}
    for task in listing.tasks:  # listing order: usually creation order, so [0] is the oldest
        if task.marker is None:
            unmarked.setdefault(task.title, []).append(task)
        elif task.marker.owner == owner:
            owned.setdefault(task.marker.key, []).append(task)

    plan = TargetPlan(target, platform, where, pages=listing.pages, fingerprint=listing.fingerprint)
    if prune and not wanted and owned and not allow_empty:
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
            keep = group[0] if len(group) == 1 else _keep_one(group, d)
            if keep.normalized is d.normalized:  # the common case: the listing matched the hint
                in_sync += 1
            elif fields := field_diff(keep.normalized, d.normalized):
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
                        template=d.template,
                    )
                )
            else:
                in_sync += 1
            if len(group) > 1:
                plan.changes.extend(_duplicates(key, group, keep, prune))
        elif d.title in unmarked:
            clash = unmarked[d.title][0]
            plan.changes.append(
                Change(
                    "conflict",
                    key,
                    d.title,
                    clash.id,
                    after=d.document,
                    before=clash.document,
                    source=d.source,
                    template=d.template,
                    reason=f"an object without a schedctl marker (id {clash.id}) already has this title; "
                    f"`schedctl import --target {target} --adopt` takes it over",
                )
            )
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

    for key in sorted(set(owned) - set(wanted)):
        for task in owned[key]:
            gone = Change(
                "delete",
                key,
                task.title,
                task.id,
                field_diff(task.normalized, {}),
                None,
                task.document,
                reason="no longer in the repository",
            )
            (plan.changes if prune else plan.orphans).append(gone)
    plan.in_sync = in_sync
    return plan


def _duplicates(key: str, group: Sequence[LiveTask], keep: LiveTask, prune: bool) -> list[Change]:
    return [
        Change(
            "duplicate",
            key,
            task.title,
            task.id,
            before=task.document,
            delete=prune,
            reason=f"another object (id {keep.id}) has the same key and is kept"
            + ("" if prune else "; --prune deletes this one"),
        )
        for task in group
        if task is not keep
    ]
