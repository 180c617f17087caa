"""The package layout reads as the data flow, and imports run one way along it.

A package may import the top-level modules and the packages before it in FLOW, never one
after it (imports under ``if TYPE_CHECKING:`` aside). The order is the one the package
docstring of ``vlmrate`` and docs/design.md describe.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vlmrate

SRC = Path(vlmrate.__file__).parent
FLOW = ["inputs", "engines", "runfolder", "running", "preflight", "stats", "export", "figures",
        "report", "tui",
        "commands"]
SHARED = {"errors", "versions", "redact", "safe_text", "__init__"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("vlmrate.")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("vlmrate.")]
    return found


def _top(name: str) -> str:
    return name.split(".")[1]


def test_at_most_six_modules_at_the_top():
    modules = sorted(p.name for p in SRC.glob("*.py"))
    assert len(modules) <= 6, modules
    packages = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(FLOW)


def test_every_package_says_what_it_holds():
    for name in FLOW:
        doc = ast.get_docstring(ast.parse((SRC / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, name


def test_imports_run_one_way_along_the_flow():
    wrong = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if len(rel.parts) == 1:
            continue  # cli.py dispatches to everything; errors/versions/redact import nothing
        here = FLOW.index(rel.parts[0])
        for line, name in _imported_modules(path):
            target = _top(name)
            if target in SHARED or target not in FLOW:
                continue
            if FLOW.index(target) > here:
                wrong.append(f"{rel}:{line} imports {name}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_shared_modules_import_no_package():
    for name in ("errors", "versions", "redact", "safe_text"):
        for _, imported in _imported_modules(SRC / f"{name}.py"):
            assert _top(imported) in SHARED, (name, imported)


def test_the_tests_mirror_the_packages():
    tests = Path(__file__).parent
    folders = sorted(p.name for p in tests.iterdir()
                     if p.is_dir() and (p / "__init__.py").is_file())
    assert set(folders) <= set(FLOW) | {"e2e", "fixtures"}, folders
