"""Sandbox settings: the fixed ones (options) and the fault knobs a test may turn at runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

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
    that pin server-computed times; it must return an aware datetime.

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

    def __post_init__(self) -> None:
        from reconciler.platforms import names, one_of

        served = names("sandbox")
        if self.platform not in served:
            raise ValueError(f"unknown platform {self.platform!r}: expected {one_of(served)}")
        Faults.from_options(self).check()
        if self.max_body < 0:
            raise ValueError("max_body must be >= 0")
        for name, seconds in (
            ("request_timeout", self.request_timeout),
            ("idle_timeout", self.idle_timeout),
        ):
            if not seconds > 0:  # also refuses NaN
                raise ValueError(f"{name} must be > 0")


class _Keep(Enum):
    """Sentinel for `Faults.update`: leave this knob as it is (None is a real page size)."""

    KEEP = "keep"


KEEP = _Keep.KEEP


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
        return cls(
            latency_ms=opts.latency_ms,
            fail_rate=opts.fail_rate,
            ambiguous_rate=opts.ambiguous_rate,
            page_size=opts.page_size,
            retry_after=opts.retry_after,
        )

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

    def update(
        self,
        *,
        latency_ms: int | _Keep = KEEP,
        fail_rate: float | _Keep = KEEP,
        ambiguous_rate: float | _Keep = KEEP,
        page_size: int | _Keep | None = KEEP,
        retry_after: float | _Keep = KEEP,
    ) -> None:
        """Change only the knobs given; `page_size=None` goes back to bare-array lists."""
        new = Faults(
            latency_ms=self.latency_ms if isinstance(latency_ms, _Keep) else latency_ms,
            fail_rate=self.fail_rate if isinstance(fail_rate, _Keep) else fail_rate,
            ambiguous_rate=(
                self.ambiguous_rate if isinstance(ambiguous_rate, _Keep) else ambiguous_rate
            ),
            page_size=self.page_size if isinstance(page_size, _Keep) else page_size,
            retry_after=self.retry_after if isinstance(retry_after, _Keep) else retry_after,
        )
        new.check()  # all or nothing: a bad value changes no knob
        self.assign(new)

    def assign(self, other: Faults) -> None:
        """Take every knob from `other` (in place: the Gate and the routes hold this object)."""
        self.latency_ms = other.latency_ms
        self.fail_rate = other.fail_rate
        self.ambiguous_rate = other.ambiguous_rate
        self.page_size = other.page_size
        self.retry_after = other.retry_after
