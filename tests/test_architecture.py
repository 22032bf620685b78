"""The layout's rules, checked from the source: imports point down the data's road, never in a
circle; no module shadows a standard-library module; no module-level ``__getattr__`` shims; every
folder is named in docs/ARCHITECTURE.md."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "trainprint"

#: the road, lowest first: a module may import its own stage and the stages before it only
LAYERS = ("core", "data", "nets", "losses", "training", "extractors", "engine", "similarity", "membership", "methods", "scoring",
          "evaluation", "submit", "audit", "report", "demo", "api", "cli", "__main__")
#: what the package root may import: the Python API it re-exports, the two subpackages it makes
#: callable (``trainprint.audit``, ``trainprint.submit``), the error type and the version
ROOT_IMPORTS = {"trainprint.api", "trainprint.audit", "trainprint.submit", "trainprint.core.errors",
                "trainprint.core.version"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _layer(module: str) -> int:
    """Position on the road; the package root sits below everything (no module imports it: it
    imports the API, ``test_the_root_imports_only_the_api_and_what_it_makes_callable``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return -1
    return LAYERS.index(parts[1])


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not MODULES[module].name == "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set[str]:
    """Every trainprint module ``module`` imports, at any depth (lazy imports in functions too)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "trainprint"}
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != "trainprint":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in MODULES else target)
    return out - {module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_is_on_the_road() -> None:
    for m in MODULES:
        parts = m.split(".")
        assert len(parts) == 1 or parts[1] in LAYERS, f"{m}: not in a known stage folder {LAYERS}"


def test_imports_point_down_the_road() -> None:
    upward = [f"{m} ({m.split('.')[1]}) imports {t}" for m, ts in GRAPH.items() for t in sorted(ts)
              if len(m.split(".")) > 1 and _layer(t) > _layer(m)]
    assert not upward, "imports against the road:\n" + "\n".join(upward)


def test_imports_name_existing_modules() -> None:
    missing = [f"{m} imports {t}" for m, ts in GRAPH.items() for t in ts if t not in MODULES]
    assert not missing, "\n".join(missing)


def test_the_root_imports_only_the_api_and_what_it_makes_callable() -> None:
    assert GRAPH["trainprint"] <= ROOT_IMPORTS, GRAPH["trainprint"] - ROOT_IMPORTS
    importers = sorted(m for m, ts in GRAPH.items() if "trainprint" in ts)
    assert not importers, f"modules importing the package root (read the version from trainprint.core.version): {importers}"


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t in GRAPH and t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_checker_finds_a_cycle_and_an_upward_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two checks above can fail: a made-up upward edge and a made-up cycle are caught."""
    monkeypatch.setitem(GRAPH, "trainprint.core.errors", GRAPH["trainprint.core.errors"] | {"trainprint.cli.main"})
    with pytest.raises(AssertionError, match="against the road"):
        test_imports_point_down_the_road()
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycle()


def test_no_module_shadows_the_standard_library() -> None:
    shadows = [m for m in MODULES if m.split(".")[-1] in sys.stdlib_module_names]
    assert not shadows, f"modules named after standard-library modules: {shadows}"


def test_no_module_level_getattr_and_no_import_by_string() -> None:
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body), m
        assert "import_module(" not in path.read_text(encoding="utf-8"), f"{m}: imports a module by name"


def test_architecture_doc_names_every_folder() -> None:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    folders = sorted({p.parent.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")} - {"."})
    missing = [f for f in folders if f"{f}/" not in doc]
    assert not missing, f"docs/ARCHITECTURE.md does not name {missing}"
    for module in ("training.py", "methods.py"):
        assert module in doc
