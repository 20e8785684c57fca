"""`schedctl import`: live tasks -> one neutral YAML file each; `--adopt` marks them as ours.

Presets stay presets, intervals become `every`, crons stay crons; only what differs from the
platform's defaults is written, and the timezone always is, so that `plan` over the written
files shows nothing once the tasks are adopted. An interval the platform counts from the
task's creation gets that instant as its `anchor`, so `next` agrees with the platform.

A file that exists is kept (`force` rewrites it); with `adopt`, the task it describes is
adopted all the same. Keys come from titles, and never take a key the repository has.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.errors import SchedctlError
from reconciler.loader import read_yaml_file
from reconciler.providers.base import utc_iso
from reconciler.yamlpos import YamlProblem

if TYPE_CHECKING:
    from reconciler.providers.base import LiveTask, Provider
    from reconciler.targets import Connection

SCHEMA_FILE = Path("schemas") / "schedule.schema.json"
# Written only when they differ from these (what the schedule model defaults to).
_MODEL_DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "history": "keep",
    "max_retries": 3,
    "delete_after_run": False,
}
_ORDER = (
    "name",
    "title",
    "description",
    "enabled",
    "schedule",
    "action",
    "deliver",
    "history",
    "max_retries",
    "delete_after_run",
    "targets",
)


@dataclass(frozen=True)
class Imported:
    key: str
    title: str
    remote_id: str
    path: str | None  # the file written, None when skipped
    status: str  # written / adopted / skipped / failed
    message: str = ""


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:63].strip("-")
    return slug or "task"


def _suffixed(base: str, n: int) -> str:
    """`base`, then base-2, base-3, ... (kept within the 63 characters of a key)."""
    if n < 2:
        return base
    suffix = f"-{n}"
    return base[: 63 - len(suffix)].rstrip("-") + suffix


def unique_key(base: str, taken: set[str]) -> str:
    n = 1
    while _suffixed(base, n) in taken:
        n += 1
    key = _suffixed(base, n)
    taken.add(key)
    return key


def _describes(path: Path, key: str, task: LiveTask) -> bool:
    """Whether the schedule file at `path` is the one import writes for `task` under `key`."""
    try:
        docs, _ = read_yaml_file(path)
    except YamlProblem:
        return False
    if len(docs) != 1 or not isinstance(docs[0][0], Mapping):
        return False
    doc = docs[0][0]
    return bool(doc.get("name") == key and (doc.get("title") or key) == task.title)


def _key_for(
    task: LiveTask, out_dir: Path, taken: Collection[str], claimed: set[str]
) -> tuple[str, bool]:
    """The key of an unmarked task, and whether its file exists already.

    The first of its title's slug, slug-2, slug-3 ... that either names a file in `out_dir`
    describing this task (an earlier import), or is free: neither in `taken` (the keys the
    repository and the platform have) nor `claimed` (given out in this run).
    """
    base = slugify(task.title)
    n = 1
    while True:
        key = _suffixed(base, n)
        if key not in claimed:
            path = out_dir / f"{key}.yaml"
            if path.exists() and _describes(path, key, task):
                claimed.add(key)
                return key, True
            if key not in taken and not path.exists():
                claimed.add(key)
                return key, False
        n += 1


def _pinned(task: LiveTask, implicit_anchor: bool) -> LiveTask:
    """`task` with the anchor its platform counts an unanchored interval from: its creation."""
    schedule = task.document.get("schedule") or {}
    if not implicit_anchor or "every" not in schedule or schedule.get("anchor"):
        return task
    if not task.created_at:
        return task
    try:
        anchor = utc_iso(task.created_at)
    except ValueError:
        return task
    document = {**task.document, "schedule": {**schedule, "anchor": anchor}}
    return dataclasses.replace(task, document=document)


def schedule_document(task: LiveTask, key: str, target: str) -> dict[str, Any]:
    """The YAML mapping for a live task: the neutral document minus model defaults."""
    doc = {k: v for k, v in task.document.items() if v is not None}
    doc["name"] = key
    if doc.get("title") in (key, ""):
        doc.pop("title")
    for field, default in _MODEL_DEFAULTS.items():
        if doc.get(field) == default:
            doc.pop(field)
    if doc.get("delete_after_run") and "at" not in doc.get("schedule", {}):
        doc.pop("delete_after_run")  # the model allows it only with `at`
    doc["targets"] = [target]
    return {k: doc[k] for k in _ORDER if k in doc}


def _past_one_shot(task: LiveTask, now: datetime) -> bool:
    at = task.document.get("schedule", {}).get("at")
    return isinstance(at, str) and datetime.fromisoformat(at.replace("Z", "+00:00")) <= now


def import_target(
    conn: Connection,
    out_dir: Path,
    *,
    schema_root: Path,
    now: datetime,
    adopt: bool = False,
    force: bool = False,
    select: str | None = None,
    taken: Collection[str] = (),
) -> list[Imported]:
    """Write one file per live task of this owner or of none; adopt them when asked.

    `taken`: the keys the repository has already, which a key made from a title never takes.
    """
    provider = conn.provider
    listing = provider.list_tasks()
    owner = provider.owner
    owned = {
        t.marker.key for t in listing.tasks if t.marker is not None and t.marker.owner == owner
    }
    taken = {*taken, *owned}
    claimed = set(owned)
    schema_file = schema_root / SCHEMA_FILE
    # The editor hint only where it leads somewhere: a repository without schemas/ gets none.
    schema = (
        os.path.relpath(schema_file, out_dir).replace(os.sep, "/")
        if schema_file.is_file()
        else None
    )
    anchors = bool(getattr(provider, "implicit_anchor", False))
    results: list[Imported] = []
    for task in listing.tasks:
        ours = task.marker is not None and task.marker.owner == owner
        if task.marker is not None and not ours:
            results.append(
                Imported(
                    str(task.marker.key),
                    task.title,
                    task.id,
                    None,
                    "skipped",
                    f"owned by {task.marker.owner!r}",
                )
            )
            continue
        if ours and task.marker:
            key, exists = task.marker.key, (out_dir / f"{task.marker.key}.yaml").exists()
        else:
            key, exists = _key_for(task, out_dir, taken, claimed)
        if select and not (fnmatch.fnmatch(task.title, select) or fnmatch.fnmatch(key, select)):
            continue
        if "unknown" in task.document.get("schedule", {}):
            results.append(
                Imported(key, task.title, task.id, None, "skipped", "an unknown schedule shape")
            )
            continue
        if _past_one_shot(task, now):
            results.append(
                Imported(key, task.title, task.id, None, "skipped", "a one-shot in the past")
            )
            continue
        task = _pinned(task, anchors)
        path = out_dir / f"{key}.yaml"
        if exists and not force:
            if adopt and not ours:  # the file describes this task: take the task over, as is
                results.append(_adopt(provider, task, key, str(path), f"kept {path}"))
            else:
                why = "already this owner's" if ours else "--force rewrites it"
                results.append(
                    Imported(key, task.title, task.id, None, "skipped", f"{path} exists ({why})")
                )
            continue
        body = yaml.safe_dump(
            schedule_document(task, key, conn.name), sort_keys=False, allow_unicode=True
        )
        head = f"# yaml-language-server: $schema={schema}\n" if schema else ""
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{head}{body}", encoding="utf-8")
        if adopt and not ours:
            results.append(_adopt(provider, task, key, str(path), "", written=True))
        else:
            results.append(Imported(key, task.title, task.id, str(path), "written"))
    return results


def _adopt(
    provider: Provider, task: LiveTask, key: str, path: str, message: str, *, written: bool = False
) -> Imported:
    try:
        provider.adopt(task, key)
    except SchedctlError as exc:
        done = "written, but" if written else "the file kept, but the task"
        return Imported(key, task.title, task.id, path, "failed", f"{done} not adopted: {exc}")
    return Imported(key, task.title, task.id, path, "adopted", message)
