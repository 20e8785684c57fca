"""What a run produces in the sandbox, which runs nothing: drawn from the run faults.

Every draw is a hash of (salt, task id, what is drawn, the run's number), so one seed gives
the same outcomes whatever else happens in between (another task's runs, a request): the same
seed and the same requests give identical run logs. A task draws its typical duration and
token use once; each run varies around it, so a task has a median worth comparing against.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from .options import RunFaults

# A prompt or app id containing this makes every run of the task fail, so a test can drive
# the error paths (lastError, consecutive errors, auto-disable) without a run fault.
FAIL_MARKER = "sandbox:error"
FAILURE = "sandbox: simulated failure"
_TOOLS = ("searchMemory", "webSearch", "readDocument")
_SPREAD = 0.2  # each run within ±20% of its task's typical figure


def unit(salt: str, *parts: object) -> float:
    """A reproducible number in [0, 1) for these parts."""
    text = ":".join([salt, *map(str, parts)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Draw:
    failed: bool
    error: str | None
    duration: timedelta
    input_tokens: int
    output_tokens: int
    tools: tuple[str, ...]


def matches(globs: Iterable[str], names: Iterable[str]) -> bool:
    candidates = [n for n in names if n]
    return any(fnmatch.fnmatchcase(n, g) for g in globs for n in candidates)


def missing_connects(faults: RunFaults, app_id: str) -> list[str]:
    """The Connects app `app_id` lacks under these faults (sorted, no repeats)."""
    missing: set[str] = set()
    for glob, names in faults.missing_connects.items():
        if fnmatch.fnmatchcase(app_id, glob):
            missing.update(names)
    return sorted(missing)


def draw(faults: RunFaults, salt: str, task_id: str, names: Iterable[str], n: int) -> Draw:
    """The outcome of run number `n` of a task known by `names` (id, name, key, payload)."""
    names = list(names)
    failed = (
        any(FAIL_MARKER in name for name in names)
        or matches(faults.always_fail, names)
        or (faults.failure_rate > 0 and unit(salt, task_id, "fail", n) < faults.failure_rate)
    )

    def around(low: float, high: float, what: str) -> float:
        typical = low + (high - low) * unit(salt, task_id, what)
        return typical * (1 - _SPREAD + 2 * _SPREAD * unit(salt, task_id, what, n))

    low, high = faults.duration
    ms = around(low.total_seconds() * 1000, high.total_seconds() * 1000, "duration")
    tokens = around(*faults.tokens, "tokens")
    calls = int(3 * unit(salt, task_id, "tools", n)) if tokens else 0
    return Draw(
        failed=failed,
        error=FAILURE if failed else None,
        duration=timedelta(milliseconds=int(ms)),
        input_tokens=int(tokens * 0.8),
        output_tokens=int(tokens) - int(tokens * 0.8),
        tools=tuple(_TOOLS[(n + i) % len(_TOOLS)] for i in range(calls)),
    )
