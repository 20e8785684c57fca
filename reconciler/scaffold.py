"""`schedctl init`: scaffold a schedules repository.

Writes a config with a sandbox target, one example schedule, the JSON schemas the files point
their editors at, GitHub workflows (plan comment on pull requests, apply on main, nightly drift
and schedule-health issues), a pre-commit config and a Dependabot config that keeps the pinned
actions current.

The files are package data in `reconciler/templates/init/` with `__NAME__` placeholders (not
`$name` or `{name}`: workflows are full of `${{ }}` and JavaScript template strings). Nothing is
written when any file exists with other content, unless `force` is given: the user sees the
whole list of conflicts once, and a half-scaffolded repository never happens.

How the workflows and pre-commit install schedctl is one spec (`install_spec`): a requirement
from the package index (default: this version), a pinned git URL, or a path. Each workflow holds
it once, in `env: SCHEDCTL_INSTALL`; the pre-commit config uses the hook this repository
publishes for a git spec (`repo:` + `rev:`), else a local hook with the spec as its dependency.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from reconciler import __version__, platforms
from reconciler.errors import UsageError
from reconciler.model import DEFAULT_OWNER, OWNER_PATTERN
from reconciler.schemas import build_schemas, render, write_schemas

PRE_COMMIT = ".pre-commit-config.yaml"
# template (under reconciler/templates/init/) -> path in the new repository. Templates carry no
# leading dots, so that packaging globs and tools scanning this repository never pick them up.
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("schedctl.yaml", "schedctl.yaml"),
    ("example.yaml", "schedules/morning-digest.yaml"),
    ("pre-commit-config.yaml", PRE_COMMIT),
    ("dependabot.yml", ".github/dependabot.yml"),
    ("workflows/schedctl-plan.yml", ".github/workflows/schedctl-plan.yml"),
    ("workflows/schedctl-apply.yml", ".github/workflows/schedctl-apply.yml"),
    ("workflows/schedctl-drift.yml", ".github/workflows/schedctl-drift.yml"),
)
# The nightly workflow's reports: each runs a command that exits 2 when it found something and
# keeps one issue open while it does. One template of steps (`report-issue-steps.yml`) is
# filled in once per report, so drift and schedule health share every line of it.
REPORT_STEPS = "workflows/report-issue-steps.yml"
REPORTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("DRIFT_STEPS", {
        "STEP_NAME": "Plan", "STEP_ID": "plan", "COMMAND": "plan --detailed-exitcode",
        "REPORT": "schedctl-drift.md", "EXIT_ZERO": "in sync", "EXIT_TWO": "drift",
        "ISSUE": "drift", "EXIT_ENV": "PLAN_EXITCODE", "MARKER": "schedctl-drift",
        "TITLE": "schedctl: drift detected", "RESOLVED": "In sync again",
        "INTRO": "The live platform no longer matches this repository",
        "ADVICE": "Apply the repository, or change the files to match what is live.",
    }),
    ("HEALTH_STEPS", {
        "STEP_NAME": "Audit", "STEP_ID": "audit", "COMMAND": "audit --since 7d",
        "REPORT": "schedctl-health.md", "EXIT_ZERO": "healthy", "EXIT_TWO": "findings",
        "ISSUE": "schedule health", "EXIT_ENV": "AUDIT_EXITCODE", "MARKER": "schedctl-health",
        "TITLE": "schedctl: schedule health", "RESOLVED": "Healthy again",
        "INTRO": "Over the last 7 days, schedules did not run as this repository says",
        "ADVICE": "Each finding names the schedule, its slots and the evidence.",
    }),
)  # fmt: skip
SCHEMA_DIR = "schemas"
GITIGNORE = ".gitignore"
IGNORED = ".schedctl/"  # the sandbox databases and the local runner's history

_PLACEHOLDER = re.compile(r"__([A-Z][A-Z_]*[A-Z])__")


InstallKind = Literal["index", "git", "path"]
# Characters a spec may hold: it is written into YAML and read by a shell as "$SCHEDCTL_INSTALL",
# so quotes, `$`, backslashes, braces and control characters are refused outright.
_SPEC_CHARS = re.compile(r"[A-Za-z0-9 ._~:/@+=<>!,\[\]#&?%*-]+")
_OPERATOR = r"(?:===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
_REQUIREMENT = re.compile(
    rf"schedctl(?:\[[A-Za-z0-9_,-]+\])?\s*(?:{_OPERATOR}(?:\s*,\s*{_OPERATOR})*"
    r"|@\s*https?://\S+)?",
    re.IGNORECASE,
)
_PATH_SUFFIXES = (".whl", ".tar.gz", ".zip")
_SPEC_EXAMPLES = (
    f"schedctl=={__version__} (the package index), "
    "git+https://github.com/acme/schedctl@v1.2.0 (a pinned git URL) "
    "or ./vendor/schedctl (a path in the repository)"
)


@dataclass(frozen=True)
class InstallSpec:
    """How the scaffolded CI and pre-commit install schedctl (`init --install SPEC`)."""

    text: str  # as pip takes it; a path as the repository's CI sees it (from its root)
    kind: InstallKind
    hook_repo: str | None = None  # git: the repository pre-commit clones for the hook
    hook_rev: str | None = None  # git: the tag or commit
    local_path: str | None = None  # path: absolute, for pre-commit (it installs elsewhere)


def install_spec(text: str | None, root: Path = Path()) -> InstallSpec:
    """Classify and check an `--install` spec; None is this version from the package index.

    A relative path is relative to the repository's root (`root`), where CI runs after its
    checkout.
    """
    if text is None:
        return InstallSpec(f"schedctl=={__version__}", "index")
    spec = text.strip()
    if not spec or not _SPEC_CHARS.fullmatch(spec):
        raise UsageError(
            f"--install {text!r}: expected {_SPEC_EXAMPLES}, with no quotes, '$', "
            "backslashes or braces"
        )
    if spec.startswith("git+"):
        return _git_spec(spec)
    if (
        spec.startswith((".", "/", "~"))
        or spec.endswith(_PATH_SUFFIXES)
        or ("/" in spec and "://" not in spec and "@" not in spec)
    ):
        local = (root / Path(spec).expanduser()).resolve()
        return InstallSpec(spec, "path", local_path=str(local))
    if _REQUIREMENT.fullmatch(spec):
        return InstallSpec(spec, "index")
    raise UsageError(f"--install {text!r} does not install schedctl: expected {_SPEC_EXAMPLES}")


def _git_spec(spec: str) -> InstallSpec:
    scheme, sep, rest = spec[len("git+") :].partition("://")
    url, _, fragment = rest.partition("#")
    host, _, path = url.partition("/")
    if not sep or scheme not in ("https", "http", "ssh", "file") or (not host and scheme != "file"):
        raise UsageError(f"--install {spec!r}: expected a git URL like {_SPEC_EXAMPLES}")
    if "@" not in path or not path.rsplit("@", 1)[1]:
        raise UsageError(
            f"--install {spec!r}: pin a tag or commit, as in "
            "git+https://github.com/acme/schedctl@v1.2.0 (CI would install whatever the "
            "default branch holds that day)"
        )
    repo_path, rev = path.rsplit("@", 1)
    if "subdirectory=" in fragment:  # the published hook sits at the repository's root only
        return InstallSpec(spec, "git")
    return InstallSpec(spec, "git", hook_repo=f"{scheme}://{host}/{repo_path}", hook_rev=rev)


@dataclass
class InitResult:
    """What `init` did (or, with conflicts, would have done: then nothing was written)."""

    root: Path
    written: list[str] = field(default_factory=list)  # created or overwritten
    unchanged: list[str] = field(default_factory=list)  # already there with the same content
    conflicts: list[str] = field(default_factory=list)  # exist with other content, not --force
    token_env: str = ""
    install: InstallSpec = field(default_factory=lambda: install_spec(None))


def default_owner(directory: Path) -> str:
    """An owner derived from the directory name, made to fit OWNER_PATTERN."""
    name = re.sub(r"[^a-z0-9._-]+", "-", directory.resolve().name.lower())
    name = re.sub(r"^[^a-z0-9]+", "", name)[:63].rstrip("-.")
    return name if re.match(OWNER_PATTERN, name) else DEFAULT_OWNER


def _template(name: str) -> str:
    # One joinpath per part: Traversable.joinpath takes a single segment before Python 3.11.
    node = resources.files("reconciler") / "templates" / "init"
    for part in name.split("/"):
        node = node / part
    return node.read_text(encoding="utf-8")


def _fill(text: str, values: dict[str, str], name: str) -> str:
    def one(match: re.Match[str]) -> str:
        try:
            return values[match.group(1)]
        except KeyError:  # a template bug, caught by the tests
            raise KeyError(f"template {name}: unknown placeholder {match.group(0)}") from None

    return _PLACEHOLDER.sub(one, text)


def render_files(owner: str, platform: str, install: InstallSpec | None = None) -> dict[str, str]:
    """Every scaffolded file's path (relative, POSIX) and text, schemas included. Pure."""
    # The commented real target in schedctl.yaml and the secret the workflows map into env.
    real = _init_target(platform)
    install = install or install_spec(None)
    values = {
        "OWNER": owner,
        "PLATFORM": platform,
        "REAL_TARGET": real.snippet,
        "TOKEN_ENV": real.token_env,
        "VERSION": __version__,
        # JSON strings are YAML double-quoted scalars: the spec is written as it is.
        "INSTALL": json.dumps(install.text),
        "HOOK_DEPENDENCY": json.dumps(install.local_path or install.text),
        "HOOK_REPO": json.dumps(install.hook_repo or ""),
        "HOOK_REV": json.dumps(install.hook_rev or ""),
    }
    steps = "\n".join(
        line for line in _template(REPORT_STEPS).splitlines() if not line.startswith("#")
    )
    for name, report in REPORTS:
        values[name] = _fill(steps, {**values, **report}, REPORT_STEPS)
    # A git spec can use the hook this repository publishes; any other gets a local hook.
    hook = "pre-commit-config-git.yaml" if install.hook_repo else "pre-commit-config.yaml"
    sources = [(hook if dest == PRE_COMMIT else src, dest) for src, dest in TEMPLATES]
    files = {dest: _fill(_template(src), values, src) for src, dest in sources}
    for name, schema in build_schemas().items():
        files[f"{SCHEMA_DIR}/{name}"] = render(schema)
    return files


def _gitignore(current: str | None) -> str | None:
    """The .gitignore with `.schedctl/` ignored, or None when it already is.

    Appended to, never replaced: a repository's .gitignore is the user's, so it is no conflict.
    """
    if current is None:
        return _template("gitignore")
    accepted = {IGNORED, IGNORED.rstrip("/"), "/" + IGNORED}
    if any(line.strip() in accepted for line in current.splitlines()):
        return None
    sep = "" if not current or current.endswith("\n") else "\n"
    return f"{current}{sep}{_template('gitignore')}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "\0"  # unreadable or binary: differs from anything we write


def init_repository(
    directory: str | Path = ".",
    *,
    owner: str | None = None,
    platform: str | None = None,
    force: bool = False,
    install: str | None = None,
) -> InitResult:
    """Scaffold `directory` (created if missing). With conflicts and no `force`, write nothing.

    `platform` defaults to the registry's default platform; `install`: how CI and pre-commit
    install schedctl (see install_spec)."""
    root = Path(directory)
    chosen = platform or platforms.default_name()
    real = _init_target(chosen)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    if owner is None:
        owner = default_owner(root)
    elif not re.match(OWNER_PATTERN, owner):
        raise UsageError(
            f"--owner {owner!r} must be lowercase letters, digits, '.', '_' or '-' "
            f"(at most 63, starting with a letter or digit)"
        )
    spec = install_spec(install, root)
    files = render_files(owner, chosen, spec)
    result = InitResult(root=root, token_env=real.token_env, install=spec)

    pending: dict[str, str] = {}
    for rel, text in files.items():
        current = _read(root / rel)
        if current == text:
            result.unchanged.append(rel)
        elif current is not None and not force:
            result.conflicts.append(rel)
        else:
            pending[rel] = text
    if result.conflicts:
        return result
    gitignore = _gitignore(_read(root / GITIGNORE))

    schema_prefix = SCHEMA_DIR + "/"
    for rel, text in pending.items():
        if rel.startswith(schema_prefix):
            continue  # written below, by the same code as `schedctl schema`
        _write(root / rel, text)
        result.written.append(rel)
    if any(rel.startswith(schema_prefix) for rel in pending):
        try:
            changed = write_schemas(root / SCHEMA_DIR)
        except OSError as exc:
            raise UsageError(f"cannot write {root / SCHEMA_DIR}: {exc.strerror or exc}") from None
        result.written.extend(f"{SCHEMA_DIR}/{path.name}" for path in changed)
    if gitignore is not None:
        _write(root / GITIGNORE, gitignore)
        result.written.append(GITIGNORE)
    return result


def _init_target(platform: str) -> platforms.InitTarget:
    """The platform's real-target snippet; UsageError unless init can scaffold it."""
    known = platforms.names("init")
    found = platforms.get(platform) if platform in known else None
    if found is None or found.init_target is None:
        raise UsageError(f"unknown platform {platform!r} (expected one of {', '.join(known)})")
    return found.init_target


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:  # e.g. a directory where a file goes: a message, not a traceback
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
