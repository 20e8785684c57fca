"""Sandbox settings: the fixed ones (options) and the fault knobs a test may turn at runtime."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

ClockKind = Literal["real", "virtual"]

# Bounds on what one client can make the server hold. 1 MiB is also nginx's default
# client_max_body_size, a limit real platforms behind a proxy commonly keep.
MAX_BODY = 1024 * 1024
REQUEST_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0


@dataclass
class SandboxOptions:
    """Everything `schedctl sandbox` takes on its command line.

    `db` is a SQLite path; ":memory:" keeps state in the process only (one connection is
    shared by all threads, so that works too). `clock` replaces the wall clock, for tests
    that pin server-computed times; it must return an aware datetime, and nothing fires on its
    own then (reads move passed next-run times on, as before the scheduler existed).

    `clock_kind`: "real" (the scheduler ticks in a background thread at the platform's
    cadence) or "virtual" (time stands still until `POST /__sandbox/clock` advances it, firing
    every tick in between). `start`: where a virtual clock starts on a fresh database (default:
    now); a database that has seen virtual time resumes from where it stopped. `runs`: what the
    runs the scheduler or run-now starts produce (see RunFaults).

    Limits on hostile clients: `max_body` bytes per request body (413 above it);
    `request_timeout` seconds for a request to arrive whole, headers and body, from its first
    byte (408, then the connection closes); `idle_timeout` seconds a connection may sit with
    no request, new or between keep-alive requests, before it is closed.
    """

    platform: str  # a registered platform with a sandbox API
    db: str | Path = ":memory:"
    token: str | None = None
    seed: int | None = None
    latency_ms: int = 0
    fail_rate: float = 0.0
    ambiguous_rate: float = 0.0
    page_size: int | None = None
    retry_after: float = 1.0
    clock: Callable[[], datetime] | None = None
    max_body: int = MAX_BODY
    request_timeout: float = REQUEST_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    clock_kind: ClockKind = "real"
    start: datetime | None = None
    runs: RunFaults = field(default_factory=lambda: RunFaults())

    def __post_init__(self) -> None:
        from reconciler.platforms import names, one_of

        served = names("sandbox")
        if self.platform not in served:
            raise ValueError(f"unknown platform {self.platform!r}: expected {one_of(served)}")
        Faults.from_options(self).check()
        if self.max_body < 0:
            raise ValueError("max_body must be >= 0")
        if self.clock_kind not in ("real", "virtual"):
            raise ValueError(f"clock must be real or virtual, not {self.clock_kind!r}")
        if self.start is not None and self.start.utcoffset() is None:
            raise ValueError("start must have a UTC offset, e.g. 2026-03-02T00:00:00Z")
        for name, seconds in (
            ("request_timeout", self.request_timeout),
            ("idle_timeout", self.idle_timeout),
        ):
            if not seconds > 0:  # also refuses NaN
                raise ValueError(f"{name} must be > 0")


class FaultKnobs(TypedDict, total=False):
    """The knobs `Faults.update` and `RunningSandbox.set_faults` take: those given change."""

    latency_ms: int
    fail_rate: float
    ambiguous_rate: float
    page_size: int | None  # None: bare-array lists again
    retry_after: float


@dataclass
class Faults:
    """The knobs the fault middleware and the list endpoints read on every request.

    Kept apart from SandboxOptions so `RunningSandbox.set_faults` can change them while the
    server runs (seed the data cleanly, then turn faults on).
    """

    latency_ms: int = 0
    fail_rate: float = 0.0
    ambiguous_rate: float = 0.0
    page_size: int | None = None
    retry_after: float = 1.0

    @classmethod
    def from_options(cls, opts: SandboxOptions) -> Faults:
        return cls(**{knob.name: getattr(opts, knob.name) for knob in fields(cls)})

    def check(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name, rate in (("fail_rate", self.fail_rate), ("ambiguous_rate", self.ambiguous_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.page_size is not None and self.page_size < 1:
            raise ValueError("page_size must be >= 1")
        if self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")

    def update(self, **changes: Unpack[FaultKnobs]) -> None:
        """Change only the knobs given, all or nothing: a bad value changes no knob."""
        new = replace(self, **changes)
        new.check()
        self.assign(new)

    def assign(self, other: Faults) -> None:
        """Take every knob from `other` (in place: the Gate and the routes hold this object)."""
        for knob in fields(self):
            setattr(self, knob.name, getattr(other, knob.name))


_FAULT_EXAMPLE = (
    '{"failure_rate": 0.1, "always_fail": ["monday-report"], '
    '"missing_connects": {"app_123": ["slack"]}, "duration": ["5s", "2m"], '
    '"tokens": [500, 4000], "skip_tick_rate": 0.05, '
    '"skip_ticks": [["2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"]]}'
)


@dataclass(frozen=True)
class RunFaults:
    """What the runs produce, drawn reproducibly from the seed and the task (sandbox/outcomes.py).

    `failure_rate`: the share of runs that fail. `always_fail`: globs (fnmatch) matched against
    a task's id, its name and its schedctl key; every run of a match fails. `missing_connects`:
    app id (a glob) -> the Connects it lacks; aitroop run_app runs of it fail with "Missing
    required connections: ...". `duration` and `tokens`: [low, high] ranges; each task draws
    its own typical value in the range and each run varies around it (0 for none). `skip_tick_rate`:
    the share of scheduler ticks that do not happen; `skip_ticks`: [from, until) windows with no
    ticks at all.
    """

    failure_rate: float = 0.0
    always_fail: tuple[str, ...] = ()
    missing_connects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    duration: tuple[timedelta, timedelta] = (timedelta(0), timedelta(0))
    tokens: tuple[int, int] = (0, 0)
    skip_tick_rate: float = 0.0
    skip_ticks: tuple[tuple[datetime, datetime], ...] = ()

    @classmethod
    def parse(cls, data: object, where: str, base: RunFaults | None = None) -> RunFaults:
        """From JSON / YAML data; only the keys given change `base` (null: back to the default).

        Raises ValueError naming `where` and the key, with an example of what is wanted."""
        start = base or cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object of run faults, e.g. {_FAULT_EXAMPLE}")
        known = {f.name for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(
                    f"{where}: unknown run fault {key!r} (known: {', '.join(sorted(known))}); "
                    f"e.g. {_FAULT_EXAMPLE}"
                )
            try:
                changes[key] = getattr(cls(), key) if value is None else _FAULT_PARSERS[key](value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: {key}: {exc}; e.g. {_FAULT_EXAMPLE}") from None
        return replace(start, **changes)

    def to_json(self) -> dict[str, Any]:
        from .wire import iso

        return {
            "failure_rate": self.failure_rate,
            "always_fail": list(self.always_fail),
            "missing_connects": {k: list(v) for k, v in self.missing_connects.items()},
            "duration": [_seconds(d) for d in self.duration],
            "tokens": list(self.tokens),
            "skip_tick_rate": self.skip_tick_rate,
            "skip_ticks": [[iso(a), iso(b)] for a, b in self.skip_ticks],
        }

    def tick_skipped(self, at: datetime, draw: Callable[[str], float]) -> bool:
        """Whether the tick at `at` does not happen; `draw` gives reproducible [0, 1) values."""
        if any(start <= at < end for start, end in self.skip_ticks):
            return True
        return self.skip_tick_rate > 0 and draw(f"tick:{at.isoformat()}") < self.skip_tick_rate


def _seconds(span: timedelta) -> str:
    from reconciler.timing import format_duration

    return format_duration(span)


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}")
    return float(value)


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of non-empty strings, got {value!r}")
    return tuple(value)


def _connects(value: object) -> dict[str, tuple[str, ...]]:
    if isinstance(value, list):  # app ids alone: each lacks an unnamed Connect
        return {app: ("sandbox",) for app in _texts(value)}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object of app id -> missing Connects, got {value!r}")
    return {str(app): _texts(names) for app, names in value.items()}


def _span(value: object) -> timedelta:
    from reconciler.timing import parse_duration

    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s or 2m, got {value!r}")
    if isinstance(value, (int, float)):  # bare numbers are seconds
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise ValueError(f"expected a duration of 0 or more, got {value!r}")
        return timedelta(seconds=value)
    if value == "0s":
        return timedelta(0)
    return parse_duration(str(value))


def _pair(value: object, one: Callable[[object], Any]) -> tuple[Any, Any]:
    if not isinstance(value, list):
        value = [value, value]
    if len(value) != 2:
        raise ValueError(f"expected [low, high] or one value, got {value!r}")
    low, high = one(value[0]), one(value[1])
    if high < low:
        raise ValueError(f"low must not be above high, got {value!r}")
    return low, high


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of 0 or more, got {value!r}")
    return value


def _windows(value: object) -> tuple[tuple[datetime, datetime], ...]:
    from .wire import parse_iso

    if not isinstance(value, list):
        raise ValueError(f"expected a list of [from, until] timestamp pairs, got {value!r}")
    out = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(v, str) for v in item)
        ):
            raise ValueError(f"expected [from, until] ISO timestamps, got {item!r}")
        start, end = parse_iso(item[0]), parse_iso(item[1])
        if end <= start:
            raise ValueError(f"until must be after from, got {item!r}")
        out.append((start, end))
    return tuple(out)


_FAULT_PARSERS: dict[str, Callable[[object], Any]] = {
    "failure_rate": _rate,
    "always_fail": _texts,
    "missing_connects": _connects,
    "duration": lambda v: _pair(v, _span),
    "tokens": lambda v: _pair(v, _count),
    "skip_tick_rate": _rate,
    "skip_ticks": _windows,
}


def load_run_faults(path: str | Path | None) -> RunFaults:
    """The run faults of a JSON or YAML file (`--run-faults`); ValueError names the file."""
    if path is None:
        return RunFaults()
    import json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--run-faults {path}: cannot read it: {exc}") from None
    import yaml  # JSON is YAML too

    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"--run-faults {path}: not valid JSON or YAML: {exc}") from None
    return RunFaults.parse(data, str(path))
