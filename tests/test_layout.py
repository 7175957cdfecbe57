"""The layout is the architecture: packages by concern, layer contracts, no cycles.

The cycle check counts every import, inside functions too, because a lazy import
still ties two modules together; only the implicit import of a parent package is
left out (Python does that for every submodule).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CI, ROOT

PACKAGE = ROOT / "directorybolt"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """The library and the task modules (a cycle through ``tasks`` is still a cycle)."""
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tasks").glob("*.py")]
    return {module_name(p): p for p in files if "migrations/versions" not in p.as_posix()}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of this package that ``name`` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50, "the graph must cover the whole package"
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    graph = import_graph()
    assert "directorybolt.store.history" in graph["directorybolt.lifecycle.jobs"]
    graph["directorybolt.store.history"].add("directorybolt.lifecycle.jobs")
    assert any({"directorybolt.store.history", "directorybolt.lifecycle.jobs"} <= set(c) for c in cycles(graph))


def test_lazy_imports_count():
    """An import inside a function is an edge like any other."""
    source = ROOT / "directorybolt" / "queueing" / "dispatch.py"
    assert "directorybolt.queueing.celery_app" in imports_of("directorybolt.queueing.dispatch", source, set(modules()))


def test_only_packages_at_the_top_level():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == []


def test_layer_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        if CI:
            pytest.fail("lint-imports is required in CI (pip install import-linter)")
        pytest.skip("import-linter not installed")
    run = subprocess.run([exe, "--config", str(ROOT / "setup.cfg")], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout
