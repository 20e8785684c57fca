"""Process tuning, set once at the edge (cli.main) for the whole command.

A command builds many small, long-lived, acyclic objects (YAML nodes, models, desired forms,
listing pages) and then exits: the cyclic collector's passes over that growing heap took half
of a 10,000-schedule load, and a young pass in the middle of a listing delays the next
request. So a command runs with the collector off and a short GIL switch interval (an answer
that arrives while a worker converts a page waits for the GIL at most that long before the
next page is requested; the default 5 ms is a quarter of a 20 ms round trip).

A command that goes on to serve (the runner, the sandbox) calls settle() once it is ready:
what was built so far is frozen out of the collector's generations, and the collector and
the default interval come back. A `--watch` reload later runs with the collector on, so it
never freezes a new generation.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_INTERVAL = 0.0002  # seconds
# A fan-out of blocking requests (the audit's per-task run logs, 16 at once) hands the GIL on
# at every socket call anyway: there a short interval only adds forced switches among the
# workers, each an OS wake-up (a 7d audit of 1,000 aitroop tasks: 10-15% longer at 0.2 ms).
FAN_OUT_SWITCH_INTERVAL = 0.005

_saved: tuple[bool, float] | None = None  # (collector was on, switch interval) before tuned()


@contextmanager
def tuned() -> Iterator[None]:
    """The command's tuning: the collector off, a short switch interval; all given back."""
    global _saved
    if _saved is not None:  # already tuned: the outer block gives it back
        yield
        return
    _saved = (gc.isenabled(), sys.getswitchinterval())
    gc.disable()
    sys.setswitchinterval(min(_saved[1], SWITCH_INTERVAL))
    try:
        yield
    finally:
        settle()


def settle() -> None:
    """Back to the defaults for a process that now serves; what exists is frozen, once."""
    global _saved
    if _saved is None:
        return
    enabled, interval = _saved
    _saved = None
    gc.freeze()
    sys.setswitchinterval(interval)
    if enabled:
        gc.enable()


@contextmanager
def fan_out() -> Iterator[None]:
    """Python's default switch interval (at least) for a fan-out of requests; given back."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(max(before, FAN_OUT_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)
