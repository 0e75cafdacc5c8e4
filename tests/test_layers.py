"""The layers import downwards only: instruments (rnnprobe/) < studies < analysis < reports (DESIGN.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPPER = ("rnnprobe.studies", "rnnprobe.analysis", "rnnprobe.reports")
#: folder -> the upper layers its modules may not import
FORBIDDEN = {
    "rnnprobe": UPPER,
    "studies": ("rnnprobe.analysis", "rnnprobe.reports"),
    "analysis": ("rnnprobe.studies", "rnnprobe.reports"),
    "reports": ("rnnprobe.studies",),
}
#: the one upward import, inside a function: StudyResult.report(path) writes the report of a run (the API asks for it)
ALLOWED = {("studies/_run.py", "rnnprobe.reports")}


def imported_modules_of(node) -> set[str]:
    """The modules one import statement imports (``from rnnprobe import studies`` counts as rnnprobe.studies)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return set()


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions (absolute names)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        out |= imported_modules_of(node)
    return out


FILES = [p for folder in FORBIDDEN for p in sorted((ROOT / folder).rglob("*.py")) if p.name != "cli.py"]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_no_module_imports_an_upper_layer(path):
    rel = str(path.relative_to(ROOT))
    forbidden = [f for f in FORBIDDEN[path.relative_to(ROOT).parts[0]] if (rel, f) not in ALLOWED]
    bad = {m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden)}
    assert not bad, f"{rel} imports {sorted(bad)}"
    module_level = {m for node in ast.parse(path.read_text(encoding="utf-8")).body
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for m in imported_modules_of(node)}
    allowed = {f for r, f in ALLOWED if r == rel}
    assert not {m for m in module_level if any(m == f or m.startswith(f + ".") for f in allowed)}


def test_the_instruments_know_no_sweep():
    assert not (ROOT / "rnnprobe" / "runner.py").exists()
    assert (ROOT / "studies" / "_runner.py").exists()
    cli = imported_modules(ROOT / "rnnprobe" / "cli.py")
    assert "rnnprobe.studies._runner" not in cli and "rnnprobe.runner" not in cli
