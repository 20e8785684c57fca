"""Which schedules the runner fires, loaded and reloaded from the repository's files.

Selection: `--target T` runs the schedules resolved for T. Without it each key runs once, as
resolved for the default target (the config's first default target, else its first target),
or for the first target in config order that has the key.

Platform checks (validate's "aitroop rejects intervals below 5 minutes", ...) do not stop a
local run: they become warnings, and `--semantics` reproduces what the platform would do.
Errors that make a schedule unreadable (YAML, schema, a cron that does not parse) do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from reconciler.errors import Diagnostic, UsageError
from reconciler.loader import CONFIG_NAMES, Project, ResolvedSchedule, load_project
from reconciler.validate import check_schedule, validate_project

log = logging.getLogger("reconciler.runner")

WATCH_DEBOUNCE_MS = 200  # editors write a file in several steps; one reload per save


@dataclass
class Selection:
    schedules: list[ResolvedSchedule]
    platform: str  # of the chosen target: the default --semantics
    target: str | None
    root: Path  # the config's directory, else the current one
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    config_file: str | None = None


def default_target(project: Project) -> str:
    defaults = project.config.default_targets()
    return defaults[0] if defaults else next(iter(project.config.targets))


def choose(project: Project, target: str | None) -> list[ResolvedSchedule]:
    if target is not None:
        return project.for_target(target)
    order = [default_target(project), *project.config.targets]
    rank = {name: i for i, name in enumerate(dict.fromkeys(order))}
    best: dict[str, ResolvedSchedule] = {}
    for s in project.schedules:
        old = best.get(s.key)
        if old is None or rank[s.target] < rank[old.target]:
            best[s.key] = s
    return sorted(best.values(), key=lambda s: (s.doc.file, s.doc.index))


def load_selection(
    paths: Sequence[str], config: str | None, target: str | None, now: datetime | None = None
) -> Selection:
    """Load, validate, select. Never raises for bad files: they are in `.errors`."""
    now = now or datetime.now(timezone.utc)
    project = load_project(paths, config, only_targets=(target,) if target else ())
    if target is not None and target not in project.config.targets and not project.errors:
        known = ", ".join(project.config.targets)
        raise UsageError(f"--target {target!r} is not a target of the config (it has: {known})")
    found = validate_project(project, now)
    blocking = set(project.diagnostics)
    for s in project.schedules:
        blocking.update(check_schedule(s, now))
    errors = [d for d in found if d.severity == "error" and d in blocking]
    warnings = [d for d in found if d.severity == "warning"]
    warnings += [
        replace(d, severity="warning") for d in found if d.severity == "error" and d not in blocking
    ]
    name = target if target is not None else default_target(project)
    platform = project.config.targets[name].platform if name in project.config.targets else "engine"
    return Selection(
        schedules=choose(project, target),
        platform=platform,
        target=target,
        root=project.root,
        errors=errors,
        warnings=sorted(set(warnings)),
        config_file=project.config_file,
    )


def keep_last_good(old: Sequence[ResolvedSchedule], new: Selection) -> list[ResolvedSchedule]:
    """The new schedules, except that a file with errors keeps its last good version."""
    bad = {d.file for d in new.errors}
    if not bad:
        return new.schedules
    schedule_files = {s.doc.file for s in old} | {s.doc.file for s in new.schedules}
    if new.config_file in bad or not bad <= schedule_files | {d.file for d in new.errors}:
        return list(old)  # the config itself is broken: nothing new can be trusted
    kept = [s for s in new.schedules if s.doc.file not in bad]
    keys = {s.key for s in kept}
    kept += [s for s in old if s.doc.file in bad and s.key not in keys]
    return kept


def watch_roots(paths: Sequence[str], root: Path) -> list[Path]:
    """Directories to watch: those given (a file's parent), else the repository root."""
    dirs = {(Path(p) if Path(p).is_dir() else Path(p).parent).resolve() for p in paths} or {
        root.resolve()
    }
    dirs.add(root.resolve())  # the config file lives there
    # A directory inside another watched one is covered by the recursive watch already.
    return sorted(d for d in dirs if not any(o != d and d.is_relative_to(o) for o in dirs))


def _is_schedule_file(_change: object, path: str) -> bool:
    return path.endswith((".yaml", ".yml")) or Path(path).name in CONFIG_NAMES


class Watcher:
    """Calls `on_change` after YAML files under `roots` change (watchfiles, in a thread)."""

    def __init__(self, roots: Sequence[Path], on_change: Callable[[], None]) -> None:
        self.roots = list(roots)
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedctl-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import watchfiles

        changes = watchfiles.watch(
            *self.roots, watch_filter=_is_schedule_file, stop_event=self._stop,
            debounce=WATCH_DEBOUNCE_MS, step=50,
        )  # fmt: skip
        for _batch in changes:
            if self._stop.is_set():
                return
            try:
                self.on_change()
            except Exception:  # a reload bug must not end watching
                log.exception("reload failed")


def reloader(
    paths: Sequence[str],
    config: str | None,
    target: str | None,
    current: Callable[[], list[ResolvedSchedule]],
    apply: Callable[[list[ResolvedSchedule]], object],
) -> Callable[[], None]:
    """The watch callback: reload, keep the last good version of broken files, apply."""

    def reload() -> None:
        try:
            selection = load_selection(paths, config, target)
        except UsageError as exc:
            log.error("reload: %s (keeping the last good version)", exc)
            return
        for d in selection.errors:
            log.error("%s (keeping the last good version)", d)
        apply(keep_last_good(current(), selection))

    return reload
