"""The platform registry: what each platform is, found through the `schedctl.providers` entry points.

A platform is one folder (a package) whose `PLATFORM` is a `Platform`: its provider and offline
checks, its run rules (`schedctl run --semantics`), its notes for `schedctl next`, the target
`schedctl init` writes, its scheduler's documented tick and concurrency, and its emulated API on
the shared sandbox server. The built-in ones are the folders beside this file; a plugin registers

    [project.entry-points."schedctl.providers"]
    myplatform = "mypackage.myplatform:PLATFORM"

and every command, every platform choice and the sandbox take it up with no change here.

An entry point naming a bare provider class (the group's first form) keeps working, wrapped
with neutral defaults: no run rules known (the runner then uses neutral ones and says so), no
notes, no init target, no sandbox. Never another platform's.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal, cast

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from datetime import datetime
    from importlib.metadata import EntryPoint

    from reconciler.errors import Diagnostic
    from reconciler.loader import ResolvedSchedule
    from reconciler.model import Target
    from reconciler.platforms.rest import ProviderClass
    from reconciler.sandbox.app import SandboxApi
    from reconciler.sandbox.service import SandboxState

GROUP = "schedctl.providers"
log = logging.getLogger("reconciler.platforms")

Checks = Callable[["Sequence[ResolvedSchedule]", "Target", "datetime"], "list[Diagnostic]"]
SandboxFactory = Callable[["SandboxState"], "SandboxApi"]
Kind = Literal["all", "sandbox", "init"]


@dataclass(frozen=True)
class Facts:
    """What the platform's documents say about its scheduler; None where they say nothing."""

    tick: timedelta | None = None  # how often it looks for due tasks
    max_concurrent: int | None = None  # runs started per tick (the rest wait for the next)
    batch: int | None = None  # due tasks taken per tick
    min_interval: timedelta | None = None  # shorter intervals are refused


@dataclass(frozen=True)
class RunRules:
    """How the platform runs a task, as far as a local run reproduces it.

    The defaults are neutral: nothing happens that the schedule file does not say.
    """

    default_max_retries: int | None = None  # errors that disable when the file sets none
    honours_max_retries: bool = True  # False: the file's max_retries is ignored
    # "history": the file's `history` decides; "per-schedule": one session per prompt schedule
    # whatever `history` says, and none for app runs.
    sessions: Literal["history", "per-schedule"] = "history"
    min_interval: timedelta | None = None  # shorter intervals are skipped, not run
    push_forward: timedelta = timedelta(0)  # how far a skipped below-minimum tick moves

    # The rules themselves, applied by both the local runner (`--semantics`) and the sandbox's
    # scheduler, so the two cannot disagree. Pure: plain values in, plain values out.

    def max_errors(self, declared: int | None) -> int | None:
        """Consecutive errors that disable a task whose file (or body) says `declared`, or
        None for never."""
        retries = self.default_max_retries
        if self.honours_max_retries and declared is not None:
            retries = declared
        if retries is None:
            return None
        return max(1, retries)  # max_retries: 0 means no second chance, not "disabled from birth"

    def below_minimum(self, every: timedelta | None) -> bool:
        """An interval the platform will not run: each of its ticks is skipped and pushed."""
        return self.min_interval is not None and every is not None and every < self.min_interval

    def conversation(
        self, history: Literal["keep", "fresh"], *, app: bool
    ) -> Literal["keep", "fresh", "none"]:
        """Which conversation a run continues: the task's one, a fresh one, or none (app runs)."""
        if self.sessions == "per-schedule":
            return "none" if app else "keep"
        return history


def count_error(errors: int, status: str, max_errors: int | None) -> tuple[int, bool]:
    """(consecutive errors after a run that ended `status`, whether that disables the task).

    Only "ok" resets the count and only "error" adds to it: a skipped or interrupted run says
    nothing about the task's health."""
    if status == "ok":
        return 0, False
    if status != "error":
        return errors, False
    errors += 1
    return errors, max_errors is not None and errors >= max_errors


def retires(status: str, *, one_shot: bool, delete_after_run: bool) -> bool:
    """A one-shot told to delete itself does so after a success (never after a failure)."""
    return status == "ok" and one_shot and delete_after_run


@dataclass(frozen=True)
class InitTarget:
    """The commented real target `schedctl init` writes, and the secret its workflows map."""

    snippet: str  # the target as flow-style YAML
    token_env: str


@dataclass(frozen=True)
class Platform:
    """Everything schedctl knows of one platform; a folder's `PLATFORM`."""

    name: str
    # "module:attr" of the provider class, imported when first used: listing the platforms
    # (every choice, the sandbox) then costs no provider's imports.
    provider_path: str
    rules: RunRules | None = None  # None: not known
    checks: Checks | None = None  # offline checks; None: the provider class's check()
    next_notes: Mapping[str, str] = field(default_factory=dict)  # schedule form -> note
    init_target: InitTarget | None = None
    facts: Facts = field(default_factory=Facts)
    # Its emulated API, built on the shared server: the factory, or its "module:attr" (as
    # provider_path: FastAPI is imported only when a sandbox is served).
    sandbox: SandboxFactory | str | None = None
    order: int = 100  # where it is listed among choices; the first listed is the default

    @property
    def provider(self) -> ProviderClass:
        return cast("ProviderClass", _load(self.name, self.provider_path, "provider"))

    def sandbox_api(self) -> SandboxFactory | None:
        if isinstance(self.sandbox, str):
            return cast("SandboxFactory", _load(self.name, self.sandbox, "sandbox API"))
        return self.sandbox

    def check(
        self, schedules: Sequence[ResolvedSchedule], target: Target, now: datetime
    ) -> list[Diagnostic]:
        """Offline: what this platform cannot express or will treat differently."""
        checks = self.checks or self.provider.check
        return checks(schedules, target, now)


@cache
def _entry_points() -> dict[str, EntryPoint]:
    """Name -> entry point; the first of a name wins (as an import would)."""
    from importlib.metadata import entry_points  # ~20 ms: not on `schedctl --help`'s path

    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def installed() -> list[str]:
    """Every registered name, sorted, without loading any of them."""
    return sorted(_entry_points())


@cache
def get(name: str) -> Platform:
    """The platform registered as `name`; ConfigError when none is, or it cannot be loaded."""
    ep = _entry_points().get(name)
    if ep is None:
        from reconciler.explain import hint

        known = ", ".join(installed()) or "none installed"
        raise ConfigError(
            f"unknown platform {name!r}" + hint(name, installed(), f"installed providers: {known}")
        )
    try:
        loaded = ep.load()
    except Exception as exc:  # a broken plugin is reported, never a traceback
        raise ConfigError(f"platform {name!r}: cannot load {ep.value}: {exc}") from None
    if isinstance(loaded, Platform):
        if loaded.name != name:
            raise ConfigError(
                f"platform {name!r}: {ep.value} is the Platform named {loaded.name!r}; "
                "register it under that name"
            )
        return loaded
    if isinstance(loaded, type) and callable(getattr(loaded, "check", None)):
        return Platform(name=name, provider_path=f"{ep.module}:{ep.attr}")  # the first form
    raise ConfigError(
        f"platform {name!r}: {ep.value} is neither a Platform nor a provider class "
        f'(register "module:PLATFORM")'
    )


@cache
def _load(name: str, path: str, what: str) -> object:
    """The object at "module:attr", imported on first use; ConfigError when it is not there."""
    module, _, attr = path.partition(":")
    try:
        found: object = importlib.import_module(module)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"platform {name!r}: cannot load its {what} {path}: {exc}") from None
    return found


@cache
def _listed() -> tuple[Platform, ...]:
    """Every platform that loads, in listing order; one that does not is skipped, with a warning."""
    out = []
    for name in installed():
        try:
            out.append(get(name))
        except ConfigError as exc:
            log.warning("warning: %s", exc)
    return tuple(sorted(out, key=lambda p: (p.order, p.name)))


def names(kind: Kind = "all") -> list[str]:
    """Platform names in listing order: every one (the choices of `run --semantics`), those
    the sandbox serves ("sandbox": `schedctl sandbox --platform`), or those `schedctl init`
    can scaffold ("init": a sandbox to start on and a real target to write)."""
    listed = _listed()
    if kind == "sandbox":
        listed = tuple(p for p in listed if p.sandbox is not None)
    elif kind == "init":
        listed = tuple(p for p in listed if p.sandbox is not None and p.init_target is not None)
    return [p.name for p in listed]


def default_name() -> str:
    """The first listed platform that the sandbox serves: a fresh repository's."""
    served = names("sandbox")
    if not served:
        raise ConfigError(f"no installed platform has a sandbox (group {GROUP!r})")
    return served[0]


def one_of(choices: Sequence[str], word: str = "or") -> str:
    """`a`, `a or b`, `a, b or c`: a list of names in a message."""
    if len(choices) <= 1:
        return "".join(choices) or "none"
    return f"{', '.join(choices[:-1])} {word} {choices[-1]}"


def refresh() -> None:
    """Forget what was found and loaded: entry points installed since are seen."""
    for cached in (_entry_points, get, _load, _listed):
        cached.cache_clear()
