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

from reconciler import platforms
from reconciler.errors import Diagnostic, UsageError
from reconciler.loader import CONFIG_NAMES, Project, ResolvedSchedule, load_project
from reconciler.model import Schedule
from reconciler.validate import check_project

log = logging.getLogger("reconciler.runner")

WATCH_DEBOUNCE_MS = 200  # editors write a file in several steps; one reload per save


@dataclass(frozen=True, slots=True)
class Loaded:
    """A schedule as the runner keeps it: the model, without the parsed YAML and positions a
    ResolvedSchedule holds for validation (most of a large repository's memory)."""

    key: str
    target: str
    schedule: Schedule
    timezone: str
    file: str  # as shown to the user
    index: int  # its document's position in the file

    @classmethod
    def of(cls, s: ResolvedSchedule) -> Loaded:
        return cls(s.key, s.target, s.schedule, s.timezone, s.doc.file, s.doc.index)


@dataclass
class Selection:
    schedules: list[Loaded]
    platform: str  # of the chosen target: the default --semantics
    target: str | None
    root: Path  # the config's directory, else the current one
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    config_file: str | None = None
    globs: list[str] = field(default_factory=list)  # the config's schedule globs
    token_envs: frozenset[str] = frozenset()  # every target's token_env: kept from executors

    def take_warnings(self) -> list[Diagnostic]:
        """The warnings, once: a runner says them at start and does not keep them while it
        serves (a crowded repository's are thousands, megabytes of text)."""
        taken, self.warnings = self.warnings, []
        return taken


def default_target(project: Project) -> str:
    defaults = project.config.default_targets()
    return defaults[0] if defaults else next(iter(project.config.targets))


def choose(project: Project, target: str | None) -> list[Loaded]:
    if target is not None:
        return [Loaded.of(s) for s in project.for_target(target)]
    order = [default_target(project), *project.config.targets]
    rank = {name: i for i, name in enumerate(dict.fromkeys(order))}
    best: dict[str, ResolvedSchedule] = {}
    for s in project.schedules:
        old = best.get(s.key)
        if old is None or rank[s.target] < rank[old.target]:
            best[s.key] = s
    return [Loaded.of(s) for s in sorted(best.values(), key=lambda s: (s.doc.file, s.doc.index))]


def load_selection(
    paths: Sequence[str], config: str | None, target: str | None, now: datetime | None = None
) -> Selection:
    """Load, validate, select. Never raises for bad files: they are in `.errors`."""
    now = now or datetime.now(timezone.utc)
    # An unknown --target is one of the loader's diagnostics: it stops the run like a bad file.
    project = load_project(paths, config, only_targets=(target,) if target else (), lean=True)
    findings = check_project(project, now)
    name = target if target is not None else default_target(project)
    chosen = project.config.targets.get(name)
    selection = Selection(
        schedules=choose(project, target),
        platform=chosen.platform if chosen is not None else platforms.default_name(),
        target=target,
        root=project.root,
        config_file=project.config_file,
        globs=list(project.config.schedules),
        token_envs=frozenset(t.token_env for t in project.config.targets.values() if t.token_env),
    )
    del project  # the parsed YAML: freed before the diagnostics are sorted, not after
    # The files' own errors stop the run; a platform's are what --semantics reproduces.
    selection.errors = sorted(set(d for d in findings.own if d.severity == "error"))
    warnings = {d for d in findings.own if d.severity == "warning"}
    for d in findings.platform:
        warnings.add(d if d.severity == "warning" else replace(d, severity="warning"))
    selection.warnings = sorted(warnings)
    return selection


def keep_last_good(old: Sequence[Loaded], new: Selection) -> list[Loaded]:
    """The new schedules, except that a file with errors keeps its last good version."""
    bad = {d.file for d in new.errors}
    if not bad:
        return new.schedules
    schedule_files = {s.file for s in old} | {s.file for s in new.schedules}
    if new.config_file in bad or not bad <= schedule_files | {d.file for d in new.errors}:
        return list(old)  # the config itself is broken: nothing new can be trusted
    kept = [s for s in new.schedules if s.file not in bad]
    keys = {s.key for s in kept}
    kept += [s for s in old if s.file in bad and s.key not in keys]
    return kept


_GLOB_CHARS = frozenset("*?[")


def watch_roots(
    paths: Sequence[str], root: Path, globs: Sequence[str]
) -> tuple[list[Path], list[Path]]:
    """(directories watched recursively, directories watched flat).

    Not the whole repository: `.schedctl/artifacts/` gains a directory per run, and a
    recursive watch there would use one inotify watch per run. So: the directories given
    (a file's directory flat), else each config glob's fixed prefix (`schedules/`), and the
    config's directory flat.
    """
    deep: set[Path] = set()
    flat: set[Path] = {root.resolve()}
    for raw in paths:
        path = Path(raw).resolve()
        (deep if path.is_dir() else flat).add(path if path.is_dir() else path.parent)
    if not paths:
        for pattern in globs:
            parts = Path(pattern).parts
            fixed = _prefix(parts)
            base = root.joinpath(*fixed).resolve()
            # Recursion only when a directory part is a wildcard (`**`, `team-*`).
            if base.is_dir():
                (deep if len(fixed) < len(parts) - 1 else flat).add(base)
    # A directory inside a recursively watched one is covered already.
    deep = {d for d in deep if not any(o != d and d.is_relative_to(o) for o in deep)}
    flat = {d for d in flat if not any(d.is_relative_to(o) for o in deep)}
    return sorted(deep), sorted(flat)


def _prefix(parts: Sequence[str]) -> list[str]:
    out: list[str] = []
    for part in parts[:-1]:  # the last part names files
        if _GLOB_CHARS & set(part):
            break
        out.append(part)
    return out


def _is_schedule_file(_change: object, path: str) -> bool:
    return path.endswith((".yaml", ".yml")) or Path(path).name in CONFIG_NAMES


class Watcher:
    """Calls `on_change` after YAML files change under the roots (watchfiles, one thread each)."""

    def __init__(
        self, deep: Sequence[Path], flat: Sequence[Path], on_change: Callable[[], None]
    ) -> None:
        self.on_change = on_change
        self._stop = threading.Event()
        self._lock = threading.Lock()  # two watch threads, one reload at a time
        self._threads = [
            threading.Thread(
                target=self._run, args=(roots, recursive), name="schedctl-watch", daemon=True
            )
            for roots, recursive in ((list(deep), True), (list(flat), False))
            if roots
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, roots: list[Path], recursive: bool) -> None:
        import watchfiles

        changes = watchfiles.watch(
            *roots, watch_filter=_is_schedule_file, stop_event=self._stop, recursive=recursive,
            debounce=WATCH_DEBOUNCE_MS, step=50,
        )  # fmt: skip
        for _batch in changes:
            if self._stop.is_set():
                return
            try:
                with self._lock:
                    self.on_change()
            except Exception:  # a reload bug must not end watching
                log.exception("reload failed")


def reloader(
    paths: Sequence[str],
    config: str | None,
    target: str | None,
    current: Callable[[], list[Loaded]],
    apply: Callable[[list[Loaded], frozenset[str]], object],
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
        apply(keep_last_good(current(), selection), selection.token_envs)

    return reload
