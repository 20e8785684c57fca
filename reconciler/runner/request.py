"""`schedctl run`'s options as one request, reconciled and checked in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.errors import UsageError
from reconciler.runner.project import Selection
from reconciler.runner.scheduler import RunnerOptions

Mode = Literal["serve", "watch", "once", "simulate"]


@dataclass(frozen=True)
class RunRequest:
    """What the runner was asked to do, as the options say it; refuses on construction what
    does not go together."""

    paths: tuple[str, ...]
    config: str | None
    targets: tuple[str, ...]
    watch: bool
    once: str | None
    window: str | None
    db: str | None
    store_url: str | None  # PostgreSQL, shared by replicas; None: SQLite (--db)
    lease: float
    executor: str
    max_concurrent: int
    missed: str
    semantics: str | None
    timeout: float
    grace: float
    fmt: str

    def __post_init__(self) -> None:
        if len(set(self.targets)) > 1:
            raise UsageError("run takes one --target")
        if sum(map(bool, (self.watch, self.once, self.window))) > 1:
            raise UsageError("--watch, --once and --simulate do not go together")
        if self.store_url and self.window:
            raise UsageError(
                "--simulate runs on a private clock: it writes to no shared --store (use --db FILE)"
            )

    @property
    def target(self) -> str | None:
        return self.targets[0] if self.targets else None

    @property
    def mode(self) -> Mode:
        return (
            "simulate"
            if self.window
            else "once"
            if self.once
            else "watch"
            if self.watch
            else "serve"
        )

    @property
    def json(self) -> bool:
        return self.fmt == "json"

    def options(self, selection: Selection) -> RunnerOptions:
        """The runner's options for the selected schedules. A simulation writes no runs
        database unless --db names one: its slots would count as fired."""
        default_db = None if self.mode == "simulate" else selection.root / ".schedctl" / "runs.db"
        return RunnerOptions(
            db_path=Path(self.db) if self.db else default_db,
            store_url=self.store_url,
            lease=self.lease,
            executor=self.executor,
            max_concurrent=self.max_concurrent,
            missed="skip" if self.missed == "skip" else "once",
            semantics=self.semantics or selection.platform,
            timeout=self.timeout,
            grace=self.grace,
            withheld_env=selection.token_envs,
        )
