"""Pause and resume in place (`schedctl pause`, `schedctl resume`), as plans of plain data.

    new_pause(duration, until, note, by, now)   the Pause --for / --until / --note ask for
    pause_keys(project, names, targets)         the schedule keys NAME... (globs) name, by target
    pause_target(...)                           pure: one listing -> the pause / resume changes
    make_pause_plan(project, conns, keys, pause, now)   list each target, plan, fill payloads
    who(root)                                   `git config user.email`, else $USER

A pause disables the task on its platform and keeps until / by / note in its marker (see
forms.Pause): plans then leave it disabled (kind `paused`, a note) until it ends, when the next
apply resumes it. The changes go through apply_plan like any update: this owner's objects only,
each written by id on a listing made just before, and a second run finds nothing to do.
"""

from __future__ import annotations

import getpass
import os
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import timing
from reconciler.errors import UsageError
from reconciler.forms import FieldChange, Listing, LiveTask, Pause, utc_iso
from reconciler.plan import Change, Plan, TargetPlan
from reconciler.reconcile import survey
from reconciler.targets import failed_targets
from reconciler.vcs import git_output

if TYPE_CHECKING:
    from reconciler.loader import Project
    from reconciler.targets import Connection

# The pause rides in the marker, in the name on platforms without a description: short enough
# to leave the title room there, and to stay within what a platform keeps of a field.
NOTE_MAX = 100
WHO_MAX = 64
UNTIL_EXAMPLE = "2026-05-01T12:00:00Z"


# ---------------------------------------------------------------------------------------------
# Input


def new_pause(
    duration: str | None, until: str | None, note: str | None, by: str, now: datetime
) -> Pause:
    """The pause `--for` / `--until` / `--note` ask for; UsageError naming what is wrong."""
    return Pause(by, _note(note), _until(duration, until, now))


def _until(duration: str | None, until: str | None, now: datetime) -> str | None:
    if duration is not None and until is not None:
        raise UsageError(
            "--for and --until do not go together: give one (--for 4h, or --until "
            f"{UNTIL_EXAMPLE}), or neither for a pause that lasts until `schedctl resume`"
        )
    if duration is not None:
        try:
            return _second(now + timing.parse_duration(duration))
        except ValueError as exc:
            raise UsageError(f"--for: {exc}") from None
        except OverflowError:
            raise UsageError(f"--for {duration}: too long; give a time to come") from None
    if until is None:
        return None
    try:
        text = utc_iso(until.strip())  # a naive time is UTC
    except (ValueError, OverflowError):
        raise UsageError(
            f"--until {until!r} is not an ISO 8601 date and time: give one like "
            f"{UNTIL_EXAMPLE} or 2026-05-01T14:00+02:00 (naive is UTC)"
        ) from None
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when <= now:
        raise UsageError(
            f"--until {until} is in the past (it is {_second(now)} now): give a time to come, "
            "or --for a duration such as 4h"
        )
    return _second(when)


def _second(when: datetime) -> str:
    """A UTC instant to the second, rounded up: a pause never ends before it was asked to."""
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    return utc_iso(when)


def _note(note: str | None) -> str:
    text = " ".join((note or "").split())  # one line: the marker's tag holds no line break
    example = "--note 'vendor outage, back on Friday'"
    if not text:
        raise UsageError(
            f"--note is required: say why, for whoever finds it paused, e.g. {example}"
        )
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise UsageError(f"--note holds control characters: write plain text, e.g. {example}")
    if len(text) > NOTE_MAX:
        raise UsageError(
            f"--note is {len(text)} characters; it is kept in the task's marker, which holds at "
            f"most {NOTE_MAX}: shorten it, e.g. {example}"
        )
    return text


def who(root: Path | None = None) -> str:
    """Who pauses: `git config user.email` (in `root`), else the login name; one word."""
    found = git_output(["config", "user.email"], root) or ""
    if not found:
        try:
            found = os.environ.get("USER") or getpass.getuser()
        except (OSError, KeyError):
            found = ""
    # The marker reads who as one word up to a colon: keep it so.
    return re.sub(r"[\s:\[\]<>]+", "", found)[:WHO_MAX] or "unknown"


def pause_keys(
    project: Project, names: Sequence[str], targets: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Target -> the keys NAME... (keys, or fnmatch globs) name among its schedules.

    Without `targets`, every target a named schedule goes to. UsageError for a name that
    matches no schedule (on those targets).
    """
    from reconciler.explain import hint

    by_target: dict[str, set[str]] = {}
    for s in project.schedules:
        if not targets or s.target in targets:
            by_target.setdefault(s.target, set()).add(s.key)
    known = sorted({k for keys in by_target.values() for k in keys})
    out: dict[str, set[str]] = {}
    for name in names:
        hits = 0
        for target, keys in by_target.items():
            matched = {k for k in keys if fnmatchcase(k, name)}
            if matched:
                out.setdefault(target, set()).update(matched)
                hits += len(matched)
        if not hits:
            where = f" of target {', '.join(targets)}" if targets else " in the repository"
            raise UsageError(
                f"no schedule {name!r}{where}: name a schedule's key (its `name:`) or a glob "
                "such as 'billing-*'" + hint(name, known)
            )
    order = [t for t in project.config.targets if t in out] + sorted(
        set(out) - set(project.config.targets)
    )
    return {t: sorted(out[t]) for t in order}


# ---------------------------------------------------------------------------------------------
# The plan (pure)


def pause_target(
    target: str,
    platform: str,
    listing: Listing,
    keys: Sequence[str],
    *,
    owner: str,
    pause: Pause | None,
    wanted_enabled: Mapping[str, bool],
    where: str = "",
    previous_owners: Collection[str] = (),
) -> tuple[TargetPlan, list[str]]:
    """The changes that pause (`pause`) or, with None, resume `keys` on one listing; and the
    problems that stop it (a key not live, unreadable, or a previous owner's)."""
    plan = TargetPlan(target, platform, where, pages=listing.pages, fingerprint=listing.fingerprint)
    problems: list[str] = []
    for key in keys:
        group = [t for t in listing.tasks if t.marker is not None and t.marker.key == key]
        mine = [t for t in group if t.marker is not None and t.marker.owner == owner]
        if not mine:
            before = [t.marker for t in group if t.marker and t.marker.owner in previous_owners]
            if before:
                problems.append(
                    f"target {target!r}: {key!r} is still marked by previous owner "
                    f"{before[0].owner!r}: `schedctl apply` takes it over first"
                )
            else:
                problems.append(
                    f"target {target!r}: {key!r} is not on the platform yet: "
                    "`schedctl apply` creates it"
                )
            continue
        for task in mine:
            if task.unreadable is not None:
                problems.append(
                    f"target {target!r}: {key!r} is live object id {task.id}, which schedctl "
                    f"cannot read ({task.unreadable}): fix it on the platform first"
                )
            elif pause is not None:
                plan.changes.append(_pause(key, task, pause))
                plan.in_sync += plan.changes[-1].action == "paused"
            else:
                change = _resume(key, task, wanted_enabled.get(key, True))
                if change is None:
                    plan.notes.append(f"{key} (id {task.id}) is not paused: nothing to do")
                    plan.in_sync += 1
                else:
                    plan.changes.append(change)
    return plan, problems


def _enabled(task: LiveTask) -> bool:
    return task.normalized.get("enabled") is not False


def _pause(key: str, task: LiveTask, pause: Pause) -> Change:
    assert task.marker is not None
    old = task.marker.pause
    if old == pause and not _enabled(task):
        return Change(
            "paused",
            key,
            task.title,
            task.id,
            reason=f"already {pause.describe()}: nothing to do",
            pause=pause,
        )
    fields = [FieldChange("enabled", True, False)] if _enabled(task) else []
    fields.append(FieldChange("pause", old.text() if old else None, pause.text()))
    reason = pause.describe() + ("" if _enabled(task) else "; it was disabled already")
    return Change(
        "pause",
        key,
        task.title,
        task.id,
        tuple(fields),
        before=task.document,
        after={**task.document, "enabled": False},
        reason=reason,
        pause=pause,
    )


def _resume(key: str, task: LiveTask, wanted: bool) -> Change | None:
    """Enable as the repository wants (never disable) and clear the pause; None: not paused."""
    assert task.marker is not None
    old = task.marker.pause
    enable = wanted and not _enabled(task)
    if old is None and not enable:
        return None
    fields = [FieldChange("enabled", False, True)] if enable else []
    if old is not None:
        fields.append(FieldChange("pause", old.text(), None))
    if old is None:
        reason = "disabled on the platform without a pause: enabled, as the repository says"
    elif enable:
        reason = f"was {old.describe()}: enabled again, the pause cleared from the marker"
    else:
        reason = f"was {old.describe()}: the pause cleared from the marker"
    return Change(
        "resume",
        key,
        task.title,
        task.id,
        tuple(fields),
        before=task.document,
        after={**task.document, "enabled": _enabled(task) or wanted},
        reason=reason,
        pause=old,
    )


# ---------------------------------------------------------------------------------------------
# Against the targets


def make_pause_plan(
    project: Project,
    conns: Mapping[str, Connection],
    keys: Mapping[str, Sequence[str]],
    pause: Pause | None,
    now: datetime,
) -> Plan:
    """List each target once and plan the pause (or, with None, the resume) of its `keys`.

    UsageError, before anything is written, when a key is not live as this owner's on its
    target; a target that cannot be listed gets a TargetPlan with its error.
    """
    config = project.config
    planned: list[TargetPlan] = []
    problems: list[str] = []
    for name, found in survey(project, conns).items():
        conn = conns[name]
        where = conn.provider.describe_target()
        if found.listing is None:
            planned.append(TargetPlan(name, conn.platform, where, error=found.error))
            continue
        wanted = {d.key: d.normalized.get("enabled") is not False for d in found.desired}
        target, missing = pause_target(
            name,
            conn.platform,
            found.listing,
            keys.get(name, ()),
            owner=config.owner,
            pause=pause,
            wanted_enabled=wanted,
            where=where,
            previous_owners=config.previous_owners,
        )
        problems.extend(missing)
        by_id = {t.id: t for t in found.listing.tasks}
        target.changes = [
            _with_payload(c, by_id[str(c.remote_id)], conn, pause) for c in target.changes
        ]
        planned.append(target)
    if problems:
        raise UsageError("; ".join(problems) + "; nothing was changed")
    for name, problem in failed_targets(conns).items():
        platform = config.targets[name].platform if name in config.targets else ""
        planned.append(TargetPlan(name, platform, error=problem))
    return Plan(
        planned,
        owner=config.owner,
        config=str(Path(project.config_file).resolve()) if project.config_file else None,
        created_at=now.isoformat(timespec="seconds"),
    )


def _with_payload(change: Change, task: LiveTask, conn: Connection, pause: Pause | None) -> Change:
    if change.action not in ("pause", "resume"):
        return change
    enabled = bool((change.after or {}).get("enabled", pause is None))
    payload = conn.provider.pause_payload(task, pause, enabled=enabled)
    return replace(change, payload=payload)
