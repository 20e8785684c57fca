"""Files -> validated, resolved schedules, with a Diagnostic (file:line:column) for every problem.

`load_project` never raises for bad input: it collects every problem it can find, so that one
run of `schedctl validate` reports them all. Resolution deep-merges defaults and per-target
overrides into one ResolvedSchedule per (target, key).
"""

from __future__ import annotations

import copy
import errno
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler import explain, fleet
from reconciler.errors import Diagnostic, Severity
from reconciler.fleet import FleetInfo
from reconciler.forms import TemplateRef
from reconciler.model import Config, Schedule, ScheduleBody
from reconciler.spread import Hashed, resolve_hashed
from reconciler.targets import Collection, collection_of
from reconciler.yamlpos import (
    MAX_FILE_BYTES,
    Layouts,
    Pos,
    PosDict,
    Positions,
    YamlProblem,
    decode,
    load_documents,
    position_of,
)

# How a document that is not a mapping is named in the error (bool before int: a subclass).
_KINDS = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
CONFIG_NAMES = ("schedctl.yaml", "schedctl.yml")
_BODY_KEYS = frozenset(ScheduleBody.model_fields)  # what an override may set
YAML_SUFFIXES = (".yaml", ".yml")
# Sections whose forms exclude each other: an override naming one form replaces the others.
_EXCLUSIVE = {
    "schedule": {"cron", "every", "anchor", "at", "daily", "weekly", "monthly"},
    "action": {"prompt", "app"},
}


@dataclass(frozen=True)
class Document:
    file: str  # as shown to the user
    index: int  # 0-based position in a multi-document file
    data: PosDict

    def where(self, loc: Sequence[str | int] = (), *, key: bool = False) -> Pos:
        return position_of(self.data, tuple(loc), key=key)


@dataclass(frozen=True)
class ResolvedSchedule:
    """One schedule as it will exist on one target: defaults and overrides applied."""

    target: str
    key: str
    schedule: Schedule
    timezone: str
    timezone_explicit: bool
    doc: Document
    merged: PosDict  # the merged raw mapping, positions pointing at the lines they came from
    template: TemplateRef | None = None  # the template and item it was made from
    hashed: Hashed | None = None  # its H time, as written and as resolved (`schedule` has it)
    positions: Positions | None = None  # a lean load's: `doc` and `merged` let go, these kept

    @property
    def title(self) -> str:
        return self.schedule.display_title

    def where(self, loc: Sequence[str | int] = (), *, key: bool = False) -> Pos:
        if self.positions is not None:
            return self.positions.of(tuple(loc), key=key)
        return position_of(self.merged, tuple(loc), key=key)

    def diagnostic(
        self, loc: Sequence[str | int], message: str, severity: Severity = "error"
    ) -> Diagnostic:
        pos = self.where(loc)
        who = self.template.label if self.template else self.key
        return Diagnostic(self.doc.file, pos.line, pos.column, f"{who}: {message}", severity)


@dataclass
class Project:
    config: Config
    config_file: str | None  # shown path, None for the built-in default
    root: Path
    config_data: PosDict = field(default_factory=PosDict)
    files: list[str] = field(default_factory=list)  # every schedule file read (or tried)
    schedules: list[ResolvedSchedule] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    narrowed: bool = False  # read from PATHS, not from the config's globs
    fleets: dict[str, FleetInfo] = field(default_factory=dict)  # template documents, by name

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def for_target(self, target: str) -> list[ResolvedSchedule]:
        return [s for s in self.schedules if s.target == target]


_LET_GO = PosDict()  # a lean load's documents: their positions are kept as `Positions`


@dataclass
class _Reading:
    """What resolving each file needs from the whole load."""

    only_targets: Sequence[str]
    seen: dict[tuple[str, str], ResolvedSchedule] = field(default_factory=dict)  # first of each
    layouts: Layouts | None = None  # a lean load's: its schedules keep positions only


def show_path(path: Path) -> str:
    """Relative to the working directory when inside it (as CI annotations want), else absolute."""
    # As Path.absolute() and relative_to() would say, in string operations: this runs once per
    # file, and pathlib's parsing cost more than reading a small file.
    cwd = os.getcwd()
    text = os.fspath(path)
    absolute = text if os.path.isabs(text) else os.path.join(cwd, text)
    if absolute == cwd:
        return "."
    inside = cwd if cwd.endswith(os.sep) else cwd + os.sep
    return absolute[len(inside) :] if absolute.startswith(inside) else absolute


def read_yaml_file(path: Path) -> tuple[list[tuple[Any, Pos]], str]:
    """Load every document of a file; raises YamlProblem for unreadable or invalid files."""
    shown = show_path(path)
    text = decode(_read_bytes(path))
    if not text.strip():
        raise YamlProblem("file is empty", Pos(1, 1))
    docs = load_documents(text)
    if not docs:
        raise YamlProblem("file holds only comments: no YAML document", Pos(1, 1))
    return docs, shown


def _too_big(size: int) -> YamlProblem | None:
    if size <= MAX_FILE_BYTES:
        return None
    return YamlProblem(
        f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for a schedule file",
        Pos(1, 1),
    )


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, if it is within the size limit (as stat then read_bytes would say).

    In os calls: a file object, and a buffer sized for more than the file, cost more than
    reading a small file does (this runs once per file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise _unopened(path, exc) from None
    try:
        size = os.fstat(fd).st_size
        problem = _too_big(size)
        if problem is not None:
            raise problem
        chunks: list[bytes] = []
        while chunk := os.read(fd, max(size + 1, 65536) if not chunks else 65536):
            chunks.append(chunk)
    except OSError as exc:
        raise YamlProblem(f"cannot read: {exc.strerror}", Pos(1, 1)) from None
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _unopened(path: Path, exc: OSError) -> YamlProblem:
    """Why a file did not open, as stat then open would say: a file over the limit is that,
    readable or not."""
    try:
        size = os.stat(path).st_size
    except OSError as stat_exc:
        return YamlProblem(f"cannot read: {stat_exc.strerror}", Pos(1, 1))
    return _too_big(size) or YamlProblem(f"cannot read: {exc.strerror}", Pos(1, 1))


def _pydantic_diagnostics(
    exc: ValidationError, data: PosDict, file: str, model: type[BaseModel], prefix: str = ""
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        if kind == "extra_forbidden":
            pos = position_of(data, loc, key=True)
        elif kind == "missing":
            pos = position_of(data, loc[:-1])
        elif kind == "invalid_key":  # `1: x` or `~: x`; pydantic's loc holds str(key)
            pos = position_of(data, (*loc[:-1], err["input"]), key=True)
        elif loc and loc[-1] == "[key]":  # the same under a dict field: loc holds the key
            pos = position_of(data, loc[:-1], key=True)
        else:
            pos = position_of(data, loc)
        message = explain.pydantic_message({**err, "loc": loc}, model)
        out.append(Diagnostic(file, pos.line, pos.column, prefix + message))
    return out


def deep_merge(base: PosDict, override: PosDict) -> PosDict:
    """`override` over `base`; positions follow the value that wins."""
    merged = PosDict(base)
    merged.pos = base.pos
    merged.key_pos = dict(base.key_pos)
    merged.value_pos = dict(base.value_pos)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, PosDict) and isinstance(value, PosDict):
            if key in _EXCLUSIVE and _EXCLUSIVE[key] & set(value):
                old = _without(old, _EXCLUSIVE[key])
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.copy(value)
        merged.key_pos[key] = override.key_pos.get(key, override.pos)
        merged.value_pos[key] = override.value_pos.get(key, override.pos)
    return merged


def _without(data: PosDict, keys: set[str]) -> PosDict:
    out = PosDict({k: v for k, v in data.items() if k not in keys})
    out.pos = data.pos
    out.key_pos = {k: p for k, p in data.key_pos.items() if k not in keys}
    out.value_pos = {k: p for k, p in data.value_pos.items() if k not in keys}
    return out


# ---------------------------------------------------------------------------------------------
# Finding files


def find_config(paths: Sequence[str], explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    candidates: list[Path] = []
    if paths and Path(paths[0]).is_dir():
        candidates.append(Path(paths[0]))
    candidates.append(Path.cwd())
    for directory in candidates:
        for name in CONFIG_NAMES:
            if (directory / name).is_file():
                return directory / name
    return None


def _is_hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(p.startswith(".") for p in parts[:-1])


# What Path.is_file() and is_symlink() take for "no" (any other error is raised, as there).
_NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _file_kind(path: Path) -> tuple[bool, bool]:
    """(path.is_file(), path.is_symlink()), from one lstat unless `path` is a link.

    pathlib asks stat and lstat through a Path each: this runs once per matched file."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        if exc.errno not in _NOT_THERE:
            raise
        return False, False
    if not stat.S_ISLNK(mode):
        return stat.S_ISREG(mode), False
    try:
        return stat.S_ISREG(os.stat(path).st_mode), True
    except OSError as exc:
        if exc.errno not in _NOT_THERE:
            raise
        return False, True


def _inside(path: Path, link: bool, real_root: str, resolved_dirs: dict[str, str]) -> bool:
    """Whether `path` (a symlink when `link`), links followed, stays under `real_root`
    (directories resolved once).

    As Path.resolve() and is_relative_to() would say, in string operations: this runs once
    per file (resolve() is os.path.realpath)."""
    text = os.fspath(path)
    head, name = os.path.split(text)
    parent = resolved_dirs.get(head)
    if parent is None:
        parent = resolved_dirs[head] = os.path.realpath(head)
    real = os.path.realpath(text) if link else os.path.join(parent, name)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def expand_globs(root: Path, globs: Iterable[str]) -> tuple[list[Path], list[tuple[int, str]]]:
    """Files matched by the config's globs, kept inside the repository root.

    Problems come with the index of the glob they are about.
    """
    files: dict[Path, None] = {}  # ordered and O(1) membership: 5,000-file repositories exist
    problems: list[tuple[int, str]] = []
    real_root = os.fspath(root.resolve())
    resolved_dirs: dict[str, str] = {}
    for index, pattern in enumerate(globs):
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            problems.append((index, f"schedule glob {pattern!r} points outside the repository"))
            continue
        matched: list[tuple[tuple[str, ...], Path, bool]] = []
        for path in root.glob(pattern):
            is_file, link = _file_kind(path)
            if is_file:
                matched.append((path.parts, path, link))
        # Path order is the order of the parts (a POSIX path's comparison): one key per path
        # is cheaper than a comparison method per pair.
        matched.sort(key=itemgetter(0))
        if not matched:
            problems.append((index, f"schedule glob {pattern!r} matches no file"))
        for _, path, link in matched:
            if not _inside(path, link, real_root, resolved_dirs):
                problems.append(
                    (index, f"{show_path(path)} resolves outside the repository: not read")
                )
                continue
            if path.name not in CONFIG_NAMES:
                files[path] = None
    return list(files), problems


def expand_paths(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    files: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(
                p
                for suffix in YAML_SUFFIXES
                for p in path.rglob(f"*{suffix}")
                if p.is_file() and p.name not in CONFIG_NAMES and not _is_hidden(p, path)
            )
            if not found:
                problems.append(f"{raw}: no .yaml or .yml files found")
            files.extend(found)
        else:
            problems.append(f"{raw}: no such file or directory")
    return files, problems


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(path: Path | None) -> tuple[Config, str | None, PosDict, list[Diagnostic]]:
    if path is None:
        return Config(), None, PosDict(), []
    try:
        docs, shown = read_yaml_file(path)
    except YamlProblem as exc:
        shown = show_path(path)
        return (
            Config(),
            shown,
            PosDict(),
            [Diagnostic(shown, exc.pos.line, exc.pos.column, exc.message)],
        )
    if len(docs) != 1 or not isinstance(docs[0][0], PosDict):
        pos = docs[0][1] if docs else Pos(1, 1)
        problem = Diagnostic(shown, pos.line, pos.column, "the config must be one mapping")
        return Config(), shown, PosDict(), [problem]
    data = docs[0][0]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        return Config(), shown, data, _pydantic_diagnostics(exc, data, shown, Config)
    problems = _unknown_default_targets(config, data, shown)
    problems += _shared_collections(config, path.parent, data, shown)
    return (Config(), shown, data, problems) if problems else (config, shown, data, [])


def _unknown_default_targets(config: Config, data: PosDict, shown: str) -> list[Diagnostic]:
    known = list(config.targets)
    out = []
    for i, name in enumerate(config.defaults.targets or ()):
        if name not in config.targets:
            pos = position_of(data, ("defaults", "targets", i))
            out.append(
                Diagnostic(shown, pos.line, pos.column,
                           f"defaults.targets: unknown target {name!r}" + explain.target_hint(name, known))
            )  # fmt: skip
    return out


def _shared_collections(config: Config, root: Path, data: PosDict, shown: str) -> list[Diagnostic]:
    """Two targets reaching one collection: each would prune the other's tasks on every run."""
    first: dict[Collection, str] = {}
    out: list[Diagnostic] = []
    for name, target in config.targets.items():
        collection = collection_of(target, root)
        other = first.setdefault(collection, name)
        if other == name:
            continue
        at = position_of(data, ("targets", other), key=True).line
        pos = position_of(data, ("targets", name), key=True)
        if target.sandbox is not None:
            where = f"sandbox file {target.sandbox!r}"
        else:
            where = collection.location
        instance = f", instance {collection.instance!r}" if collection.instance else ""
        out.append(
            Diagnostic(shown, pos.line, pos.column,
                       f"targets.{name}: reaches the same {target.platform} collection as target "
                       f"{other!r} (line {at}): {where}{instance}; each would delete the other's "
                       "tasks when pruning. Keep one of them, or give this one its own URL, "
                       "sandbox file or instance")
        )  # fmt: skip
    return out


def load_project(
    paths: Sequence[str] = (),
    config_path: str | None = None,
    *,
    only_targets: Sequence[str] = (),
    lean: bool = False,
) -> Project:
    """Read the config and every schedule file; resolve per target. Never raises for bad input.

    `lean` (the local runner's): keep no parsed YAML once a file is resolved, only where each
    part of a schedule stood (`Positions`): positions and values were two thirds of a large
    repository's peak memory, and only a diagnostic found later asks for a line.
    """
    cfg_file = find_config(paths, config_path)
    if config_path and not Path(config_path).is_file():
        return Project(
            Config(), None, Path.cwd(),
            diagnostics=[Diagnostic.general(f"{config_path}: config file not found")],
        )  # fmt: skip
    config, shown_cfg, config_data, diagnostics = load_config(cfg_file)
    root = cfg_file.parent if cfg_file else Path.cwd()
    project = Project(config, shown_cfg, root, config_data, diagnostics=diagnostics)
    if project.errors:
        return project

    for name in only_targets:
        if name not in config.targets:
            project.diagnostics.append(Diagnostic.general(_unknown_target_option(name, project)))

    # A directory holding the config is the repository: its globs choose the files.
    use_globs = not paths or (
        cfg_file is not None
        and len(paths) == 1
        and Path(paths[0]).is_dir()
        and cfg_file.parent.resolve() == Path(paths[0]).resolve()
    )
    project.narrowed = not use_globs
    if use_globs:
        files, glob_problems = expand_globs(root, config.schedules)
        for index, problem in glob_problems:
            project.diagnostics.append(_glob_diagnostic(project, index, problem))
        problems = [problem for _, problem in glob_problems]
    else:
        files, problems = expand_paths(paths)
        project.diagnostics.extend(Diagnostic.general(problem) for problem in problems)
    if not files and not problems:
        project.diagnostics.append(Diagnostic.general("no schedule files found"))

    reading = _Reading(only_targets, layouts=Layouts() if lean else None)
    for path in files:
        _load_file(project, path, reading)
    resolve_hashed(project)  # H times, once every schedule of every target is known
    return project


def _glob_diagnostic(project: Project, index: int, problem: str) -> Diagnostic:
    """At the glob in the config; with no config, about the default and how to get one."""
    if project.config_file is None:
        return Diagnostic.general(
            f"no schedctl.yaml here, and the default {problem}: name the schedule files "
            "(schedctl validate FILE...), or start a repository with `schedctl init`"
        )
    if "schedules" not in project.config_data:  # no line to point at: about the whole file
        return Diagnostic.general(
            f"the default {problem} (set `schedules:` to the globs of your files)",
            project.config_file,
        )
    pos = position_of(project.config_data, ("schedules", index))
    return Diagnostic(project.config_file, pos.line, pos.column, f"schedules.{index}: {problem}")


def _unknown_target_option(name: str, project: Project) -> str:
    """The message for a `--target` the config does not have."""
    known = list(project.config.targets)
    if project.config_file is None:
        return (
            f"--target {name!r}: there is no schedctl.yaml here, so the one target is "
            f"{known[0]!r}, the embedded sandbox (create a config with `schedctl init`)"
        )
    return f"--target {name!r} is not a target of {project.config_file}" + explain.target_hint(
        name, known
    )


def _load_file(project: Project, path: Path, reading: _Reading) -> None:
    try:
        docs, shown = read_yaml_file(path)
    except YamlProblem as exc:
        project.files.append(show_path(path))
        project.diagnostics.append(
            Diagnostic(show_path(path), exc.pos.line, exc.pos.column, exc.message)
        )
        return
    project.files.append(shown)
    for index, (data, pos) in enumerate(docs):
        if data is None:
            project.diagnostics.append(Diagnostic(shown, pos.line, pos.column, "empty document"))
            continue
        if not isinstance(data, PosDict):
            kind = next((k for t, k in _KINDS.items() if isinstance(data, t)), "a scalar")
            project.diagnostics.append(
                Diagnostic(
                    shown,
                    pos.line,
                    pos.column,
                    f"a schedule document must be a mapping, not {kind}",
                )
            )
            continue
        if fleet.is_template(data):
            _expand_template(project, Document(shown, index, data), reading)
            continue
        _resolve_document(project, Document(shown, index, data), reading)


def _expand_template(project: Project, doc: Document, reading: _Reading) -> None:
    """A template document: each item's document resolved like a file's, its problems named
    `fleet[item]` at the template's lines."""
    expansion = fleet.expand(doc.data, doc.file, project.config.vars)
    project.diagnostics.extend(expansion.diagnostics)
    info = expansion.info
    if info is None:
        return
    first = project.fleets.get(info.name)
    if first is not None:
        pos = doc.where(("fleet",) if "fleet" in doc.data else ("template", "name"))
        project.diagnostics.append(
            Diagnostic(doc.file, pos.line, pos.column,
                       f"{info.name}[*]: another template is called {info.name!r} (at "
                       f"{first.source}): name this one with `fleet: NAME`")
        )  # fmt: skip
        return
    project.fleets[info.name] = info
    for data, ref in expansion.documents:
        start = len(project.diagnostics)
        _resolve_document(project, Document(doc.file, doc.index, data), reading, ref)
        for i in range(start, len(project.diagnostics)):
            d = project.diagnostics[i]
            project.diagnostics[i] = Diagnostic(
                d.file, d.line, d.column, f"{ref.label}: {d.message}", d.severity
            )


def _resolve_document(
    project: Project, doc: Document, reading: _Reading, template: TemplateRef | None = None
) -> None:
    config = project.config
    try:
        base = Schedule.model_validate(doc.data)
    except ValidationError as exc:
        project.diagnostics.extend(_pydantic_diagnostics(exc, doc.data, doc.file, Schedule))
        return

    targets = list(base.targets) if base.targets else config.default_targets()
    if not targets:
        pos = doc.where(("name",))
        project.diagnostics.append(
            Diagnostic(doc.file, pos.line, pos.column,
                       f"{base.name}: no targets (set `targets:` or defaults.targets in the config)")
        )  # fmt: skip
        return
    if len(set(targets)) != len(targets):
        pos = doc.where(("targets",))
        project.diagnostics.append(
            Diagnostic(doc.file, pos.line, pos.column, "targets: a target is listed twice")
        )
    known = list(config.targets)
    for i, name in enumerate(targets):
        if name not in config.targets:
            pos = doc.where(("targets", i)) if base.targets else doc.where(("name",))
            project.diagnostics.append(
                Diagnostic(doc.file, pos.line, pos.column,
                           f"unknown target {name!r}" + explain.target_hint(name, known))
            )  # fmt: skip
    for name in base.overrides or {}:
        if name in targets:
            continue
        pos = doc.where(("overrides", name), key=True)
        if name in config.targets:
            problem = (
                f"{base.name} is not deployed to target {name!r} "
                f"(its targets: {', '.join(targets)}): add it to `targets:` or drop the override"
            )
        else:
            problem = f"{name!r} is not a target of the config" + explain.target_hint(name, known)
        project.diagnostics.append(
            Diagnostic(doc.file, pos.line, pos.column, f"overrides.{name}: {problem}")
        )

    body_keys = _BODY_KEYS
    raw_overrides = doc.data.get("overrides") or {}
    only_targets, seen, layouts = reading.only_targets, reading.seen, reading.layouts
    kept = doc if layouts is None else Document(doc.file, doc.index, _LET_GO)
    for target in dict.fromkeys(targets):
        if target not in config.targets or (only_targets and target not in only_targets):
            continue
        merged = doc.data
        override = raw_overrides.get(target)
        if override:
            bad = [k for k in override if k not in body_keys]
            if bad:
                pos = position_of(doc.data, ("overrides", target, bad[0]), key=True)
                where = f"overrides.{target}.{bad[0]}"
                if bad[0] in Schedule.model_fields:
                    problem = f"{where}: cannot be overridden per target"
                else:  # a typo: the same message and hint as an unknown key anywhere else
                    allowed = list(ScheduleBody.model_fields)
                    problem = f"unknown key {where!r}" + explain.hint(
                        str(bad[0]), allowed, f"allowed: {', '.join(allowed)}"
                    )
                project.diagnostics.append(Diagnostic(doc.file, pos.line, pos.column, problem))
                continue
            merged = deep_merge(doc.data, override)
        try:
            schedule = Schedule.model_validate(merged) if override else base
        except ValidationError as exc:
            prefix = f"with overrides.{target}: "
            project.diagnostics.extend(
                _pydantic_diagnostics(exc, merged, doc.file, Schedule, prefix)
            )
            continue
        zone = schedule.schedule.timezone or config.defaults.timezone
        resolved = ResolvedSchedule(
            target=target,
            key=schedule.name,
            schedule=schedule,
            timezone=zone or "UTC",
            timezone_explicit=zone is not None,
            doc=kept,
            merged=merged if layouts is None else _LET_GO,
            template=template,
            positions=None if layouts is None else Positions(merged, layouts),
        )
        first = seen.get((target, schedule.name))
        if first is not None:
            pos = doc.where(("name",))
            at = f"{first.doc.file}:{first.where(('name',)).line}"
            project.diagnostics.append(
                Diagnostic(doc.file, pos.line, pos.column,
                           f"duplicate schedule {schedule.name!r} for target {target!r} (first defined at {at})")
            )  # fmt: skip
            continue
        seen[(target, schedule.name)] = resolved
        project.schedules.append(resolved)
