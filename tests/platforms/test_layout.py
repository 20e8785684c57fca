"""The package layout as rules: the pure core imports no platform, a platform lives in its folder."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"


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
    for name in ("plan.py", "forms.py", "records.py"):
        modules = imported_modules(PACKAGE / name)
        ours = {m for m in modules if m.startswith("reconciler")}
        assert ours <= {
            "reconciler",
            "reconciler.cost",  # pure too: the cost a plan carries
            "reconciler.errors",
            "reconciler.forms",
            "reconciler.model",
            "reconciler.records",  # the to_dict helpers, themselves importing none of ours
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


def string_constants(path: Path) -> list[tuple[int, str]]:
    """(line, value) of the string literals that are code, not docs: docstrings and the JSON
    schema's `examples=` are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.keyword) and node.arg == "examples":
            skip.update(id(n) for n in ast.walk(node.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def test_no_platform_is_named_outside_its_folder() -> None:
    names = {p.parent.name for p in (PACKAGE / "platforms").glob("*/__init__.py")}
    assert names >= {"engine", "aitroop"}
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[:2] not in {("platforms", n) for n in names}
        for line, value in string_constants(path)
        if value in names
    ]
    assert found == []


def test_the_sandbox_package_holds_only_the_shared_server() -> None:
    modules = {p.stem for p in (PACKAGE / "sandbox").glob("*.py")}
    shared = {"__init__", "__main__", "app", "wire", "gate", "options", "paging", "problems"}
    shared |= {"firing", "outcomes"}  # the scheduler and run outcomes; each tick is the platform's
    assert modules == shared | {"server", "service", "store"}
