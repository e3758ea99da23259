"""The house rules a newcomer relies on (issue 10): no import cycle between our modules, no module over
500 lines, no function over 100 lines (a Typer command's signature counts)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path
from typing import Dict, List, Set

from tests.conftest import REPO

# The fixed top-level folders and the package each is installed as (pyproject.toml's package-dir).
PACKAGES = {"edgemnv2": "edgemnv2", "targets": "edgemnv2.targets", "calibration": "edgemnv2.calibration",
            "apps": "edgemnv2.apps"}


def _tracked(pattern: str) -> List[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / f for f in out.stdout.split()]


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    name = PACKAGES[parts[0]].split(".") + parts[1:]
    return ".".join(name[:-1] if name[-1] == "__init__" else name)


def _imports(path: Path, module: str) -> Set[str]:
    """Modules imported anywhere in the file: a lazy (function-level) import that closes a cycle is still one."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _package_files() -> List[Path]:
    return [p for top in PACKAGES for p in _tracked(f"{top}/*.py")]


def test_no_import_cycle():
    graph: Dict[str, Set[str]] = {_module(p): _imports(p, _module(p)) for p in _package_files()}
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    state: Dict[str, int] = {}
    cycles: List[List[str]] = []

    def visit(m: str, stack: List[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [m, d])
            elif d not in state:
                visit(d, stack + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_no_module_over_500_lines_and_no_function_over_100():
    problems = []
    for path in _package_files() + _tracked("scripts/*.py") + _tracked("benchmarks/*.py"):
        src = path.read_text()
        rel = path.relative_to(REPO)
        if src.count("\n") > 500:
            problems.append(f"{rel}: {src.count(chr(10))} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                if node.end_lineno - start + 1 > 100:
                    problems.append(f"{rel}:{node.lineno} {node.name}() is {node.end_lineno - start + 1} lines")
    assert not problems, "\n".join(problems)
