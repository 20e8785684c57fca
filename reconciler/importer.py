"""`schedctl import`: live tasks -> one neutral YAML file each; `--adopt` marks them as ours.

Presets stay presets, intervals become `every`, crons stay crons; only what differs from the
platform's defaults is written, and the timezone always is, so that `plan` over the written
files shows nothing once the tasks are adopted.

What a platform holds is not always a valid schedule file (a 300-character title, a cron
that never fires, a prompt over the file size limit): every file is checked by the same loader and
validator as `schedctl validate` before it is written, and skipped with the reason when it
would fail. Files are created, never overwritten, and never through a symbolic link.

`--templates`: tasks that differ in one value only (`acme-digest`, `globex-digest`, with
"Acme" and "Globex" in their titles and prompts, and everything else equal) are written as
one template document instead (see `find_families`); expanded, it gives back exactly the
documents the single files would hold, so `plan` shows nothing either.

An interval the platform counts from the task's creation gets that instant as its `anchor`,
so `next` agrees with the platform. A file that exists is kept (`force` rewrites it); with
`adopt`, the task it describes is adopted all the same. Keys come from titles, and never take
a key the repository has.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reconciler import timing
from reconciler.errors import Diagnostic, SchedctlError, UsageError
from reconciler.forms import utc_iso
from reconciler.loader import read_yaml_file
from reconciler.yamlpos import YamlProblem

if TYPE_CHECKING:
    from reconciler.forms import LiveTask
    from reconciler.platforms.rest import Provider
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
    template: str | None = None  # the template (fleet) it was written into


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
            if path.is_symlink():  # never read or written through: reported when written
                claimed.add(key)
                return key, False
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


# ---------------------------------------------------------------------------------------------
# Families: tasks that differ in one value only


@dataclass(frozen=True)
class Family:
    name: str  # the fleet's name: the key's fixed text
    keys: tuple[str, ...]
    items: tuple[Any, ...]  # `acme`, or {key: acme, name: Acme} when the text spells it otherwise
    template: dict[str, Any]  # the schedule document with placeholders


def _variants(value: str) -> list[str]:
    """How a key's slug may be spelled in a title or prompt (`acme-corp`: `Acme Corp`, ...)."""
    words = value.replace("-", " ")
    found = [words.title(), value.title(), value.capitalize(), words.capitalize(), value.upper()]
    found += [words.upper(), words]
    return [v for v in dict.fromkeys(found) if v != value]


def _word(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _replace(value: Any, pattern: re.Pattern[str], placeholder: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(placeholder, value)
    if isinstance(value, Mapping):
        return {k: _replace(v, pattern, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, pattern, placeholder) for v in value]
    return value


def _fill_back(value: Any, item: Any) -> Any:
    """The template with an item's values put back (the check that a family is exact)."""
    if isinstance(value, str):
        if isinstance(item, Mapping):
            return value.replace("{{ item.key }}", item["key"]).replace(
                "{{ item.name }}", item["name"]
            )
        return value.replace("{{ item }}", str(item))
    if isinstance(value, Mapping):
        return {k: _fill_back(v, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_back(v, item) for v in value]
    return value


def _candidates(key: str, doc: Mapping[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(signature, item, template) for each way to read `key` as fixed text around one value."""
    segments = key.split("-")
    body = {k: v for k, v in doc.items() if k != "name"}
    texts = _strings(body)
    out: list[tuple[str, Any, dict[str, Any]]] = []
    for a in range(len(segments)):
        for b in range(a + 1, len(segments) + 1):
            if a == 0 and b == len(segments):
                continue  # no fixed text left to name the template by
            value = "-".join(segments[a:b])
            prefix = "-".join(segments[:a]) + ("-" if a else "")
            suffix = ("-" if b < len(segments) else "") + "-".join(segments[b:])
            # One value, written as in the key...
            scalar = _replace(body, _word(value), "{{ item }}")
            out.append(_signed(f"{prefix}{{{{ item }}}}{suffix}", value, scalar))
            # ...or spelled otherwise in the text (`Acme` for `acme`): a mapping item.
            shown = next(
                (v for v in _variants(value) if any(_word(v).search(t) for t in texts)), value
            )
            spelled = _replace(body, _word(shown), "{{ item.name }}")
            item = {"key": value, "name": shown}
            out.append(_signed(f"{prefix}{{{{ item.key }}}}{suffix}", item, spelled))
    return out


def _signed(name: str, item: Any, body: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    template = {"name": name, **body}
    return json.dumps(template, sort_keys=True), item, template


def find_families(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Family]:
    """Groups of two or more documents equal but for one value, largest first; each document
    in one family at most. A value is a whole dash-separated part of the key (`acme` in
    `acme-digest`), found as a whole word in the other texts, as written or capitalised."""
    groups: dict[str, list[tuple[str, Any, dict[str, Any]]]] = {}
    for key, doc in documents:
        if any("{{" in t for t in _strings(doc)):
            continue  # literal braces would read as placeholders
        for signature, item, template in _candidates(key, doc):
            groups.setdefault(signature, []).append((key, item, template))
    by_size = sorted(
        groups.values(),
        key=lambda g: (-len(g), not isinstance(g[0][1], str), g[0][2]["name"]),
    )
    docs = dict(documents)
    used: set[str] = set()
    names: set[str] = set()
    out: list[Family] = []
    for group in by_size:
        members = [(k, i, t) for k, i, t in group if k not in used]
        members = list({k: (k, i, t) for k, i, t in members}.values())
        if len(members) < 2:
            continue
        template = members[0][2]
        if any(_fill_back(template, i) != {**docs[k], "name": k} for k, i, _ in members):
            continue
        base = re.sub(r"-{2,}", "-", re.sub(r"\{\{[^}]*\}\}", "-", template["name"])).strip("-")
        name = unique_key(base or "family", names)
        used.update(k for k, _, _ in members)
        keys = tuple(k for k, _, _ in members)
        out.append(Family(name, keys, tuple(i for _, i, _ in members), template))
    return out


def template_document(family: Family) -> dict[str, Any]:
    """The template file's mapping for a family."""
    order = {k: i for i, k in enumerate(_ORDER)}
    body = dict(sorted(family.template.items(), key=lambda kv: order.get(kv[0], len(order))))
    return {"fleet": family.name, "for_each": list(family.items), "template": body}


def _past_one_shot(task: LiveTask, now: datetime) -> bool:
    at = task.document.get("schedule", {}).get("at")
    return isinstance(at, str) and timing.parse_timestamp(at) <= now


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


def _obstacle(path: Path, force: bool = False) -> tuple[str, str] | None:
    """(status, why) when `path` cannot be written: a link (dangling or not), or a file that
    exists (unless `force`, which replaces a regular file)."""
    if path.is_symlink():
        return "failed", f"{path} is a symbolic link (to {os.readlink(path)}): not written through"
    if path.exists() and not (force and path.is_file()):
        return "skipped", f"{path} exists"
    return None


def _create(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a new file; fails rather than follow a link or replace what appeared meanwhile.
    `replace` removes a regular file first (a link is still refused by O_NOFOLLOW)."""
    if replace and path.is_file() and not path.is_symlink():
        path.unlink()
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
    force: bool = False,
    select: str | None = None,
    templates: bool = False,
    taken: Collection[str] = (),
) -> list[Imported]:
    """Write one file per live task of this owner or of none (one template file per family
    with `templates`); adopt them when asked.

    `taken`: the keys the repository has already, which a key made from a title never takes.
    """
    provider = conn.provider
    listing = provider.list_tasks()
    owner = provider.owner
    owned = {
        t.marker.key for t in listing.tasks if t.marker is not None and t.marker.owner == owner
    }
    _out_directory(out_dir)
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
    chosen: list[tuple[LiveTask, str]] = []
    for task in listing.tasks:
        ours = task.marker is not None and task.marker.owner == owner
        if task.marker is not None and not ours:
            why = f"owned by {task.marker.owner!r}"
            results.append(Imported(task.marker.key, task.title, task.id, None, "skipped", why))
            continue
        if ours and task.marker:
            mine = out_dir / f"{task.marker.key}.yaml"
            key, exists = task.marker.key, mine.exists() and not mine.is_symlink()
        else:
            key, exists = _key_for(task, out_dir, taken, claimed)
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
        task = _pinned(task, anchors)
        if exists and not force:
            path = out_dir / f"{key}.yaml"
            if adopt and not ours:  # the file describes this task: take the task over, as is
                results.append(_adopt(provider, task, key, str(path), f"kept {path}"))
            else:
                why = "already this owner's" if ours else "--force rewrites it"
                results.append(
                    Imported(key, task.title, task.id, None, "skipped", f"{path} exists ({why})")
                )
            continue
        chosen.append((task, key))
    documents = {key: schedule_document(task, key, conn.name) for task, key in chosen}
    families = find_families(list(documents.items())) if templates else []
    family_of = {key: family for family in families for key in family.keys}
    # One file per single task and one per family, by file stem: its text and its tasks.
    files: dict[str, _File] = {}
    for task, key in chosen:
        family = family_of.get(key)
        stem = family.name if family else key
        if stem not in files:
            if family is None:
                content, comment = documents[key], ""
            else:
                content = template_document(family)
                comment = (
                    f"# {len(family.keys)} live tasks that differ in one value only, "
                    "as one template (schedctl import --templates)\n"
                )
            head = f"# yaml-language-server: $schema={schema}\n" if schema else ""
            text = f"{head}{comment}{_yaml(content)}"
            fleet = family.name if family else None
            files[stem] = _File(out_dir / f"{stem}.yaml", text, fleet, [])
        files[stem].members.append((task, key))
    pending: dict[str, _File] = {}
    for stem, file in files.items():
        obstacle = _obstacle(file.path, force)
        if obstacle is None:
            pending[stem] = file
        else:
            results.extend(file.results(None, *obstacle))
    invalid = validation_errors(conn, owner, {stem: f.text for stem, f in pending.items()}, now)
    for stem, file in pending.items():
        results.extend(_write(conn, file, invalid.get(stem), adopt, force))
    return results


@dataclass
class _File:
    """One file import writes: a schedule, or a template holding several tasks."""

    path: Path
    text: str
    template: str | None
    members: list[tuple[LiveTask, str]]

    def results(self, written: str | None, status: str, message: str = "") -> list[Imported]:
        return [
            Imported(key, task.title, task.id, written, status, message, self.template)
            for task, key in self.members
        ]


def _write(
    conn: Connection, file: _File, errors: list[Diagnostic] | None, adopt: bool, force: bool
) -> list[Imported]:
    if errors:
        return file.results(None, "skipped", _reason(errors))
    try:
        _create(file.path, file.text, replace=force)
    except FileExistsError:  # appeared since the check: still never replaced or followed
        return file.results(None, "skipped", f"{file.path} exists")
    except OSError as exc:
        return file.results(None, "failed", f"cannot write {file.path}: {exc.strerror or exc}")
    written = str(file.path)
    out: list[Imported] = []
    for task, key in file.members:
        one = _File(file.path, file.text, file.template, [(task, key)])
        if not adopt or task.marker is not None:  # a marked task is this owner's already
            out.extend(one.results(written, "written"))
            continue
        adopted = _adopt(conn.provider, task, key, written, "", written=True)
        out.append(dataclasses.replace(adopted, template=file.template))
    return out


def _adopt(
    provider: Provider, task: LiveTask, key: str, path: str, message: str, *, written: bool = False
) -> Imported:
    try:
        provider.adopt(task, key)
    except SchedctlError as exc:
        done = "written, but" if written else "the file kept, but the task"
        return Imported(key, task.title, task.id, path, "failed", f"{done} not adopted: {exc}")
    return Imported(key, task.title, task.id, path, "adopted", message)
