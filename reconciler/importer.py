"""`schedctl import`: live tasks -> one neutral YAML file each; `--adopt` marks them as ours.

Presets stay presets, intervals become `every`, crons stay crons; only what differs from the
platform's defaults is written, and the timezone always is, so that `plan` over the written
files shows nothing once the tasks are adopted.

What a platform holds is not always a valid schedule file (a 300-character title, a cron
that never fires, a prompt over the file size limit): every file is checked by the same loader and
validator as `schedctl validate` before it is written, and skipped with the reason when it
would fail. Files are created, never overwritten, and never through a symbolic link.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reconciler.errors import Diagnostic, SchedctlError, UsageError

if TYPE_CHECKING:
    from reconciler.forms import LiveTask
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


def _yaml(document: Mapping[str, Any]) -> str:
    """YAML text; all ASCII when unicode would leave an invisible character in the file (a bidi
    override reorders what a reviewer reads), so that every such character shows as an escape."""
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if "".join(text.splitlines()).isprintable():
        return text
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=False)


def _out_directory(out_dir: Path) -> None:
    """Create `out_dir`; UsageError when it is a symbolic link or not a directory."""
    if out_dir.is_symlink():
        raise UsageError(
            f"{out_dir} is a symbolic link (to {os.readlink(out_dir)}): import writes only "
            "into a real directory; pass --out with the directory itself"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)


def _obstacle(path: Path) -> tuple[str, str] | None:
    """(status, why) when `path` cannot be created: it exists, or is a link (dangling or not)."""
    if path.is_symlink():
        return "failed", f"{path} is a symbolic link (to {os.readlink(path)}): not written through"
    if path.exists():
        return "skipped", f"{path} exists"
    return None


def _create(path: Path, text: str) -> None:
    """Write a new file; fails rather than follow a link or replace what appeared meanwhile."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path, flags, 0o666), "w", encoding="utf-8") as out:
        out.write(text)


def validation_errors(
    conn: Connection, owner: str, files: Mapping[str, str], now: datetime
) -> dict[str, list[Diagnostic]]:
    """The errors `schedctl validate` would report, per key, for files named `KEY.yaml`.

    They are written to a scratch repository whose config has this owner and this one target,
    and loaded and validated exactly as `validate` does: what passes here passes there.
    """
    from reconciler.loader import load_project
    from reconciler.validate import validate_project

    with tempfile.TemporaryDirectory(prefix="schedctl-import-") as scratch:
        root = Path(scratch)
        config = {
            "owner": owner,
            "schedules": ["*.yaml"],
            "targets": {conn.name: conn.target.model_dump(mode="json", exclude_none=True)},
        }
        config_file = root / "schedctl.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        for key, text in files.items():
            (root / f"{key}.yaml").write_text(text, encoding="utf-8")
        found = validate_project(load_project([], str(config_file)), now)
    errors: dict[str, list[Diagnostic]] = {}
    for d in found:
        if d.severity == "error":
            errors.setdefault(Path(d.file).stem, []).append(d)
    if config_file.stem in errors:  # the scratch config itself: nothing can be trusted
        return {key: errors[config_file.stem] for key in files}
    return errors


def _reason(errors: list[Diagnostic]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"the file would not validate: line {first.line}: {first.message}{more}"


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
    _out_directory(out_dir)
    schema = os.path.relpath(schema_root / SCHEMA_FILE, out_dir).replace(os.sep, "/")
    results: list[Imported] = []
    pending: dict[str, tuple[int, LiveTask, Path, str]] = {}  # key -> where, what to write
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
        obstacle = _obstacle(path)
        if obstacle is not None:
            results.append(Imported(key, task.title, task.id, None, *obstacle))
            continue
        body = _yaml(schedule_document(task, key, conn.name))
        text = f"# yaml-language-server: $schema={schema}\n{body}"
        pending[key] = (len(results), task, path, text)
        results.append(Imported(key, task.title, task.id, None, "pending"))  # its place
    invalid = validation_errors(conn, owner, {k: v[3] for k, v in pending.items()}, now)
    for key, (index, task, path, text) in pending.items():
        results[index] = _write(conn, task, key, path, text, invalid.get(key), adopt)
    return results


def _write(
    conn: Connection,
    task: LiveTask,
    key: str,
    path: Path,
    text: str,
    errors: list[Diagnostic] | None,
    adopt: bool,
) -> Imported:
    def result(status: str, message: str = "", written: str | None = None) -> Imported:
        return Imported(key, task.title, task.id, written, status, message)

    if errors:
        return result("skipped", _reason(errors))
    try:
        _create(path, text)
    except FileExistsError:  # appeared since the check: still never replaced or followed
        return result("skipped", f"{path} exists")
    except OSError as exc:
        return result("failed", f"cannot write {path}: {exc.strerror or exc}")
    if not adopt or task.marker is not None:  # a marked task is this owner's already
        return result("written", written=str(path))
    try:
        conn.provider.adopt(task, key)
    except SchedctlError as exc:
        return result("failed", f"written, but not adopted: {exc}", str(path))
    return result("adopted", written=str(path))
