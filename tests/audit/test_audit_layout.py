"""The audit's core is pure: timing and plain data in, findings out; I/O lives in runlog.py."""

from __future__ import annotations

from tests.platforms.test_layout import PACKAGE, imported_modules


def test_the_audit_core_imports_no_platform_no_http_and_no_threads() -> None:
    modules = imported_modules(PACKAGE / "audit.py")
    ours = {m for m in modules if m.startswith("reconciler")}
    allowed = {"reconciler", "reconciler.timing", "reconciler.forms", "reconciler.model"}
    assert ours <= allowed | {"reconciler.records"}, ours
    assert not {m for m in modules if m.split(".")[0] in ("threading", "concurrent", "httpx")}
    # Platform knowledge (ticks, retries) comes in as data: the fetching module reads it.
    assert "reconciler.platforms.rest" in imported_modules(PACKAGE / "runlog.py")
