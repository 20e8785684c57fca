"""`schedctl init`: scaffold a schedules repository.

Writes a config with a sandbox target, one example schedule, the JSON schemas the files point
their editors at, GitHub workflows (plan comment on pull requests, apply on main, nightly drift
issue), a pre-commit config and a Dependabot config that keeps the pinned actions current.

The files are package data in `reconciler/templates/init/` with `__NAME__` placeholders (not
`$name` or `{name}`: workflows are full of `${{ }}` and JavaScript template strings). Nothing is
written when any file exists with other content, unless `force` is given: the user sees the
whole list of conflicts once, and a half-scaffolded repository never happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from reconciler import __version__, platforms
from reconciler.errors import UsageError
from reconciler.model import DEFAULT_OWNER, OWNER_PATTERN
from reconciler.schemas import build_schemas, render, write_schemas

# template (under reconciler/templates/init/) -> path in the new repository. Templates carry no
# leading dots, so that packaging globs and tools scanning this repository never pick them up.
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("schedctl.yaml", "schedctl.yaml"),
    ("example.yaml", "schedules/morning-digest.yaml"),
    ("pre-commit-config.yaml", ".pre-commit-config.yaml"),
    ("dependabot.yml", ".github/dependabot.yml"),
    ("workflows/schedctl-plan.yml", ".github/workflows/schedctl-plan.yml"),
    ("workflows/schedctl-apply.yml", ".github/workflows/schedctl-apply.yml"),
    ("workflows/schedctl-drift.yml", ".github/workflows/schedctl-drift.yml"),
)
SCHEMA_DIR = "schemas"
GITIGNORE = ".gitignore"
IGNORED = ".schedctl/"  # the sandbox databases and the local runner's history

_PLACEHOLDER = re.compile(r"__([A-Z][A-Z_]*[A-Z])__")


@dataclass
class InitResult:
    """What `init` did (or, with conflicts, would have done: then nothing was written)."""

    root: Path
    written: list[str] = field(default_factory=list)  # created or overwritten
    unchanged: list[str] = field(default_factory=list)  # already there with the same content
    conflicts: list[str] = field(default_factory=list)  # exist with other content, not --force
    token_env: str = ""


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


def render_files(owner: str, platform: str) -> dict[str, str]:
    """Every scaffolded file's path (relative, POSIX) and text, schemas included; writes nothing."""
    # The commented real target in schedctl.yaml and the secret the workflows map into env.
    real = _init_target(platform)
    values = {
        "OWNER": owner,
        "PLATFORM": platform,
        "REAL_TARGET": real.snippet,
        "TOKEN_ENV": real.token_env,
        "VERSION": __version__,
    }
    files = {dest: _fill(_template(src), values, src) for src, dest in TEMPLATES}
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
) -> InitResult:
    """Scaffold `directory` (created if missing). With conflicts and no `force`, write nothing.

    `platform` defaults to the registry's default platform."""
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
    files = render_files(owner, chosen)
    result = InitResult(root=root, token_env=real.token_env)

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
