"""The package layout as rules: the pure core imports no platform, a platform lives in its folder."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (TYPE_CHECKING ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_plan_and_forms_import_no_platform_and_no_threads() -> None:
    for name in ("plan.py", "forms.py"):
        modules = imported_modules(PACKAGE / name)
        ours = {m for m in modules if m.startswith("reconciler")}
        assert ours <= {
            "reconciler",
            "reconciler.errors",
            "reconciler.forms",
            "reconciler.model",
        }, (
            name,
            ours,
        )
        assert not {m for m in modules if m.split(".")[0] in ("threading", "concurrent")}, name


def test_importing_plan_loads_no_platform_code() -> None:
    code = "import sys, reconciler.plan; print(*sorted(m for m in sys.modules if m.startswith('reconciler')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "reconciler.plan" in loaded
    assert not [m for m in loaded if m.startswith(("reconciler.platforms", "reconciler.http"))]
