"""Target -> connected provider: the one place that builds clients and starts sandboxes.

    with connect(config, root, ["local", "prod"]) as conns:
        conns["prod"].provider.list_tasks()

One target that cannot be connected (its token variable unset, its sandbox not starting) does
not stop the others: it is left out of the mapping and its reason kept in `conns.failed`, for
the caller to report on that target's line. A target with `sandbox: PATH` gets the in-process
emulated platform for the duration of the `with`, stored at PATH (relative to the config
file's directory); targets sharing a sandbox file share one server. With `create=False`
(commands that only read), a sandbox file that does not exist is not created: the target is
served from an empty in-memory sandbox instead, so it reads as holding nothing.
`collection_of` says which collection of tasks a target reaches (the loader refuses two
targets on one: each would prune the other's tasks).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from reconciler import platforms
from reconciler.errors import ConfigError, SandboxError, SchedctlError
from reconciler.explain import target_hint
from reconciler.model import normalize_url
from reconciler.platforms.engine.provider import SANDBOX_INSTANCE

if TYPE_CHECKING:
    from reconciler.http import ApiClient, RetryPolicy
    from reconciler.loader import Project
    from reconciler.model import Config, Target
    from reconciler.platforms.rest import Provider


@dataclass
class Connection:
    name: str
    target: Target
    provider: Provider
    client: ApiClient

    @property
    def platform(self) -> str:
        return self.target.platform


class Collection(NamedTuple):
    """Where a target's tasks live: equal for two targets that list, create and prune the same."""

    platform: str
    location: str  # the normalized base URL, or `sandbox:` and the resolved database file
    instance: str | None


def collection_of(target: Target, root: Path) -> Collection:
    """The collection `target` reaches; `root` is the config file's directory."""
    if target.sandbox is not None:
        # As connect() opens it (one server per file), and as the engine names its instance.
        location = f"sandbox:{(root / target.sandbox).resolve()}"
        return Collection(target.platform, location, target.instance or SANDBOX_INSTANCE)
    return Collection(target.platform, normalize_url(target.url or ""), target.instance)


def select_targets(project: Project, requested: Sequence[str], *, every: bool = False) -> list[str]:
    """The targets a command works on: --target ones, else those with schedules (or all)."""
    names = list(project.config.targets)
    if requested:
        unknown = [n for n in requested if n not in project.config.targets]
        if unknown:
            raise ConfigError(f"unknown target {unknown[0]!r}" + target_hint(unknown[0], names))
        return list(dict.fromkeys(requested))
    if every:
        return names
    used = {s.target for s in project.schedules}
    return [n for n in names if n in used]


class Connections(dict[str, "Connection"]):
    """The connected targets by name; `failed` holds why each other requested one is not."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, str] = {}


def failed_targets(conns: Mapping[str, Connection]) -> dict[str, str]:
    """Why each requested target that is not in `conns` could not be connected."""
    return dict(getattr(conns, "failed", {}))


def sandbox_file(target: Target, root: Path) -> Path | None:
    """The database file of a sandbox target (None for a URL target)."""
    return None if target.sandbox is None else (root / target.sandbox).resolve()


@contextmanager
def connect(
    config: Config,
    root: Path,
    names: Sequence[str],
    *,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    create: bool = True,
) -> Iterator[Connections]:
    from reconciler.http import RetryPolicy, client_for, token_from_env  # not needed to validate

    targets = {}
    for name in names:
        if name not in config.targets:
            raise ConfigError(f"unknown target {name!r}" + target_hint(name, list(config.targets)))
        targets[name] = config.targets[name]

    with ExitStack() as stack:
        sandboxes: dict[tuple[str, Path], str] = {}
        out = Connections()
        for name, target in targets.items():
            try:
                # Checked before anything starts for this target: no request without a token.
                token_from_env(name, target.token_env)
                cls = platforms.get(target.platform).provider
                url = None
                db = sandbox_file(target, root)
                if db is not None:
                    if (target.platform, db) not in sandboxes:
                        sandboxes[(target.platform, db)] = stack.enter_context(
                            _sandbox(name, target, db, create=create)
                        )
                    url = sandboxes[(target.platform, db)]
                client = stack.enter_context(
                    client_for(
                        name,
                        target,
                        base_url=url,
                        max_connections=max(concurrency, 8) + 4,
                        retry=retry or RetryPolicy(),
                    )
                )
                provider = cls(client, target, target_name=name, owner=config.owner)
            except SchedctlError as exc:
                out.failed[name] = str(exc)
                continue
            out[name] = Connection(name, target, provider, client)
        yield out


@contextmanager
def _sandbox(name: str, target: Target, db: Path, *, create: bool = True) -> Iterator[str]:
    """The base URL of the in-process sandbox for one target (in memory when `db` does not
    exist and `create` is off)."""
    from reconciler.http import token_from_env

    try:
        from reconciler.sandbox import SandboxOptions, running_sandbox
    except ImportError as exc:  # pragma: no cover - the sandbox ships with schedctl
        raise SandboxError(f"target {name!r}: the embedded sandbox is unavailable: {exc}") from None
    served = platforms.names("sandbox")
    if target.platform not in served:
        raise SandboxError(
            f"target {name!r}: the embedded sandbox speaks {platforms.one_of(served, 'and')}, "
            f"not {target.platform!r}"
        )
    try:
        stored: Path | str = db
        if create:
            db.parent.mkdir(parents=True, exist_ok=True)
        elif not db.exists():
            stored = ":memory:"  # reading must not leave a database behind
        token = token_from_env(name, target.token_env)
        manager = running_sandbox(SandboxOptions(platform=target.platform, db=stored, token=token))
        sandbox = manager.__enter__()
    except (OSError, RuntimeError, ValueError) as exc:
        raise SandboxError(f"target {name!r}: the sandbox at {db} could not start: {exc}") from None
    try:
        yield sandbox.url
    finally:
        manager.__exit__(None, None, None)
