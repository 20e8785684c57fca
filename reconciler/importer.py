"""`schedctl import`: live tasks -> one neutral YAML file each; `--adopt` marks them as ours.

Presets stay presets, intervals become `every`, crons stay crons; only what differs from the
platform's defaults is written, and the timezone always is, so that `plan` over the written
files shows nothing once the tasks are adopted.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.errors import SchedctlError

if TYPE_CHECKING:
    from reconciler.providers.base import LiveTask
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


def unique_key(base: str, taken: set[str]) -> str:
    key, n = base, 2
    while key in taken:
        suffix = f"-{n}"
        key = base[: 63 - len(suffix)].rstrip("-") + suffix
        n += 1
    taken.add(key)
    return key


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
    select: str | None = None,
) -> list[Imported]:
    """Write one file per live task of this owner or of none; adopt them when asked."""
    provider = conn.provider
    listing = provider.list_tasks()
    owner = provider.owner
    taken = {
        t.marker.key for t in listing.tasks if t.marker is not None and t.marker.owner == owner
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = os.path.relpath(schema_root / SCHEMA_FILE, out_dir).replace(os.sep, "/")
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
        key = task.marker.key if ours and task.marker else unique_key(slugify(task.title), taken)
        if select and not (fnmatch.fnmatch(task.title, select) or fnmatch.fnmatch(key, select)):
            continue
        if task.unreadable is not None:
            why = f"unreadable: {task.unreadable}"
            results.append(Imported(key, task.title, task.id, None, "skipped", why))
            continue
        if _past_one_shot(task, now):
            results.append(
                Imported(key, task.title, task.id, None, "skipped", "a one-shot in the past")
            )
            continue
        path = out_dir / f"{key}.yaml"
        if path.exists():
            results.append(Imported(key, task.title, task.id, None, "skipped", f"{path} exists"))
            continue
        body = yaml.safe_dump(
            schedule_document(task, key, conn.name), sort_keys=False, allow_unicode=True
        )
        path.write_text(f"# yaml-language-server: $schema={schema}\n{body}", encoding="utf-8")
        status, message = "written", ""
        if adopt and not ours:
            try:
                provider.adopt(task, key)
                status = "adopted"
            except SchedctlError as exc:
                status, message = "failed", f"written, but not adopted: {exc}"
        results.append(Imported(key, task.title, task.id, str(path), status, message))
    return results
