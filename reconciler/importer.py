"""`schedctl import`: live tasks -> one neutral YAML file each; `--adopt` marks them as ours.

Presets stay presets, intervals become `every`, crons stay crons; only what differs from the
platform's defaults is written, and the timezone always is, so that `plan` over the written
files shows nothing once the tasks are adopted.

`--templates`: tasks that differ in one value only (`acme-digest`, `globex-digest`, with
"Acme" and "Globex" in their titles and prompts, and everything else equal) are written as
one template document instead (see `find_families`); expanded, it gives back exactly the
documents the single files would hold, so `plan` shows nothing either.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping, Sequence
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
    template: str | None = None  # the template (fleet) it was written into


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
    return isinstance(at, str) and datetime.fromisoformat(at.replace("Z", "+00:00")) <= now


def import_target(
    conn: Connection,
    out_dir: Path,
    *,
    schema_root: Path,
    now: datetime,
    adopt: bool = False,
    select: str | None = None,
    templates: bool = False,
) -> list[Imported]:
    """Write one file per live task of this owner or of none (one template file per family
    with `templates`); adopt them when asked."""
    provider = conn.provider
    listing = provider.list_tasks()
    owner = provider.owner
    taken = {
        t.marker.key for t in listing.tasks if t.marker is not None and t.marker.owner == owner
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = os.path.relpath(schema_root / SCHEMA_FILE, out_dir).replace(os.sep, "/")
    results: list[Imported] = []
    chosen: list[tuple[LiveTask, str, bool]] = []
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
        chosen.append((task, key, ours))
    documents = {key: schedule_document(task, key, conn.name) for task, key, _ in chosen}
    families = find_families(list(documents.items())) if templates else []
    family_of = {key: family for family in families for key in family.keys}
    written: dict[str, Path | None] = {}  # template files, by fleet name (None: it exists)
    for task, key, ours in chosen:
        family = family_of.get(key)
        if family is None:
            path = out_dir / f"{key}.yaml"
            content: Mapping[str, Any] = documents[key]
            comment = ""
        else:
            path = out_dir / f"{family.name}.yaml"
            content = template_document(family)
            comment = (
                f"# {len(family.keys)} live tasks that differ in one value only, "
                "as one template (schedctl import --templates)\n"
            )
        fleet = family.name if family else None
        if family is None or family.name not in written:
            if path.exists():
                results.append(
                    Imported(key, task.title, task.id, None, "skipped", f"{path} exists", fleet)
                )
                if family is not None:
                    written[family.name] = None
                continue
            body = yaml.safe_dump(dict(content), sort_keys=False, allow_unicode=True)
            path.write_text(
                f"# yaml-language-server: $schema={schema}\n{comment}{body}", encoding="utf-8"
            )
            if family is not None:
                written[family.name] = path
        elif written[family.name] is None:
            results.append(
                Imported(key, task.title, task.id, None, "skipped", f"{path} exists", fleet)
            )
            continue
        status, message = "written", ""
        if adopt and not ours:
            try:
                provider.adopt(task, key)
                status = "adopted"
            except SchedctlError as exc:
                status, message = "failed", f"written, but not adopted: {exc}"
        results.append(Imported(key, task.title, task.id, str(path), status, message, fleet))
    return results
