"""`schedctl run`'s options as one request, reconciled and checked in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.errors import UsageError
from reconciler.runner.project import Selection
from reconciler.runner.scheduler import RunnerOptions

Mode = Literal["serve", "watch", "once", "simulate"]


@dataclass(frozen=True)
class RunRequest:
    """What the runner was asked to do; built by `build`, which refuses what does not go together."""

    paths: tuple[str, ...]
    config: str | None
    target: str | None
    mode: Mode
    once: str | None
    window: str | None
    db: str | None
    executor: str
    max_concurrent: int
    missed: Literal["once", "skip"]
    semantics: str | None
    timeout: float
    grace: float
    json: bool

    @classmethod
    def build(
        cls,
        *,
        paths: Sequence[str],
        config: str | None,
        targets: Sequence[str],
        watch: bool,
        once: str | None,
        window: str | None,
        db: str | None,
        executor: str,
        max_concurrent: int,
        missed: str,
        semantics: str | None,
        timeout: float,
        grace: float,
        fmt: str,
    ) -> RunRequest:
        targets = tuple(dict.fromkeys(targets))
        if len(targets) > 1:
            raise UsageError("run takes one --target")
        if sum(map(bool, (watch, once, window))) > 1:
            raise UsageError("--watch, --once and --simulate do not go together")
        mode: Mode = "simulate" if window else "once" if once else "watch" if watch else "serve"
        return cls(
            paths=tuple(paths),
            config=config,
            target=targets[0] if targets else None,
            mode=mode,
            once=once,
            window=window,
            db=db,
            executor=executor,
            max_concurrent=max_concurrent,
            missed="skip" if missed == "skip" else "once",
            semantics=semantics,
            timeout=timeout,
            grace=grace,
            json=fmt == "json",
        )

    def options(self, selection: Selection) -> RunnerOptions:
        """The runner's options for the selected schedules. A simulation writes no runs
        database unless --db names one: its slots would count as fired."""
        default_db = None if self.mode == "simulate" else selection.root / ".schedctl" / "runs.db"
        return RunnerOptions(
            db_path=Path(self.db) if self.db else default_db,
            executor=self.executor,
            max_concurrent=self.max_concurrent,
            missed=self.missed,
            semantics=self.semantics or selection.platform,
            timeout=self.timeout,
            grace=self.grace,
            withheld_env=selection.token_envs,
        )
