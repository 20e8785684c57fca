"""Live overview of every target (`schedctl status`) and finding one task by name (trigger, runs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal

from reconciler.errors import UsageError
from reconciler.plan import field_diff, ignored_path
from reconciler.reconcile import survey
from reconciler.targets import failed_targets

if TYPE_CHECKING:
    from reconciler.forms import Listing, LiveTask
    from reconciler.loader import Project
    from reconciler.reconcile import Survey
    from reconciler.targets import Connection

# How far back `status` judges each task's health (as `schedctl audit` does by default).
HEALTH_WINDOW = timedelta(days=7)
State = Literal["in sync", "drifted", "unmanaged", "not in repo", "missing", "unreadable"]


@dataclass(frozen=True)
class StatusRow:
    target: str
    where: str
    key: str
    title: str
    enabled: bool | None
    last_status: str | None
    last_run: str | None
    next_run: str | None
    errors: int | None
    state: State
    remote_id: str | None = None
    reason: str | None = None  # why an unreadable object could not be read
    timezone: str | None = None  # the schedule's zone, to show its times in
    health: str | None = None  # one word from the audit (reconciler.audit); None: not judged


def _zone(document: Mapping[str, object]) -> str | None:
    schedule = document.get("schedule")
    zone = schedule.get("timezone") if isinstance(schedule, Mapping) else None
    return zone if isinstance(zone, str) else None


def status_rows(
    project: Project, conns: Mapping[str, Connection], *, health: timedelta | None = HEALTH_WINDOW
) -> tuple[list[StatusRow], list[str], list[str]]:
    """One row per live task (and per desired schedule not on the platform); listing errors;
    warnings. With `health`, each of this owner's desired tasks gets its health word from
    the audit of that window (a run log that cannot be read is a warning, never an error)."""
    surveys = survey(project, conns)
    rows, problems = _rows(project, conns, surveys)
    warnings: list[str] = []
    if health is None:
        return rows, problems, warnings
    from reconciler.runlog import audit_project

    now = datetime.now(timezone.utc)
    listed = {name: conn for name, conn in conns.items() if surveys[name].listing is not None}
    report = audit_project(project, listed, since=now - health, until=now, surveys=surveys)
    judged = {t.target: t for t in report.targets}
    out = []
    for row in rows:
        target = judged.get(row.target)
        if target is None or target.error or row.state in ("unmanaged", "unreadable"):
            out.append(row)
        else:
            out.append(replace(row, health=target.health(row.key)))
    warnings.extend(
        f"{t.error} (health not shown)" for t in report.targets if t.error and t.target in listed
    )
    return out, problems, warnings


def _rows(
    project: Project, conns: Mapping[str, Connection], surveys: Mapping[str, Survey]
) -> tuple[list[StatusRow], list[str]]:
    rows: list[StatusRow] = []
    problems: list[str] = []
    owner = project.config.owner
    for name, found in surveys.items():
        where = conns[name].provider.describe_target()
        if found.listing is None:
            problems.append(str(found.error))
            continue
        desired = {d.key: d for d in found.desired}
        seen: set[str] = set()
        for task in found.listing.tasks:
            key = task.marker.key if task.marker else ""
            state: State
            if task.unreadable is not None:
                state = "unreadable"
                if task.marker is not None and task.marker.owner == owner:
                    seen.add(key)  # on the platform, if not readable: not "missing"
                else:
                    key = str(task.marker) if task.marker else "-"
            elif task.marker is None or task.marker.owner != owner:
                state = "unmanaged"
                key = str(task.marker) if task.marker else "-"
            elif key not in desired:
                state = "not in repo"
            else:
                seen.add(key)
                d = desired[key]
                drift = field_diff(task.normalized, d.normalized)
                if d.ignore:  # ignore_changes fields never count as drift
                    drift = tuple(f for f in drift if not ignored_path(f.path, d.ignore))
                state = "drifted" if drift else "in sync"
            s = task.status
            rows.append(
                StatusRow(
                    name,
                    where,
                    key,
                    task.title,
                    s.enabled,
                    s.last_status,
                    s.last_run,
                    s.next_run,
                    s.consecutive_errors,
                    state,
                    task.id,
                    task.unreadable,
                    _zone(desired[key].document if key in desired else task.document),
                )
            )
        for key in sorted(set(desired) - seen):
            d = desired[key]
            rows.append(
                StatusRow(
                    name,
                    where,
                    key,
                    d.title,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "missing",
                    timezone=_zone(d.document),
                )
            )
    problems.extend(failed_targets(conns).values())
    return rows, problems


def find_task(listing: Listing, name: str, owner: str) -> LiveTask:
    """A live task by key (this owner's marker), else by exact title, else by id."""
    matchers: list[Callable[[LiveTask], bool]] = [
        lambda t: t.marker is not None and t.marker.owner == owner and t.marker.key == name,
        lambda t: t.title == name,
        lambda t: t.id == name,
    ]
    for match in matchers:
        found = [t for t in listing.tasks if match(t)]
        if len(found) == 1:
            if found[0].unreadable:
                raise UsageError(
                    f"{name!r} is live object id {found[0].id}, which schedctl cannot read "
                    f"({found[0].unreadable}): it is left alone; fix it on the platform"
                )
            return found[0]
        if len(found) > 1:
            ids = ", ".join(t.id for t in found)
            raise UsageError(f"{name!r} matches {len(found)} tasks (ids {ids}): name one by id")
    raise UsageError(f"no task {name!r} on this target (looked for a key, a title and an id)")
