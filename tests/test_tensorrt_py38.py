"""Jetson runtime code stays importable on JetPack 5's Python 3.8 (static check with vermin).

The files a Jetson runs (TensorRT runner and engine builder, the device-side conformance check,
runner protocol, ONNX Runtime runner, task logic, predictor, bundle, camera apps, bench, the CLI)
plus every edgemnv2 module they import at module level are checked with ``vermin -t=3.8-``.
Annotations are not evaluated (``from __future__ import annotations`` keeps ``list[int]`` in
annotations legal on 3.8), as on 3.8 itself.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Set

import pytest
from conftest import REPO

ROOTS = ["targets/jetson/runner.py", "targets/jetson/export.py", "targets/jetson/engine.py",
         "targets/jetson/selftest.py", "calibration/qdq_check.py", "targets/base.py", "targets/cpu/runner.py",
         "edgemnv2/tasks", "edgemnv2/predictor.py", "edgemnv2/bundle.py", "apps", "edgemnv2/bench",
         "edgemnv2/cli"]  # the CLI imports every command module at start-up
PACKAGE_DIRS = {"edgemnv2.targets": "targets", "edgemnv2.calibration": "calibration", "edgemnv2.apps": "apps",
                "edgemnv2": "edgemnv2"}


def _module_file(module: str) -> Path | None:
    for prefix in sorted(PACKAGE_DIRS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            rest = module[len(prefix):].lstrip(".").replace(".", "/")
            base = REPO / PACKAGE_DIRS[prefix] / rest if rest else REPO / PACKAGE_DIRS[prefix]
            for cand in (base.with_suffix(".py"), base / "__init__.py"):
                if cand.is_file():
                    return cand
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    top = {v: k for k, v in PACKAGE_DIRS.items()}[parts[0]]
    name = ".".join([top] + parts[1:])
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _top_level_imports(path: Path) -> Set[str]:
    """edgemnv2 modules imported when ``path`` is imported (module level, incl. if/try blocks; not functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = _module_name(path)
    if path.name != "__init__.py":
        pkg = pkg.rpartition(".")[0]
    out: Set[str] = set()

    def visit(stmts: list) -> None:
        for s in stmts:
            if isinstance(s, ast.ImportFrom):
                if s.level:
                    base = pkg.split(".")
                    base = base[: len(base) - (s.level - 1)] if s.level > 1 else base
                    mod = ".".join(base + ([s.module] if s.module else []))
                else:
                    mod = s.module or ""
                if mod.startswith("edgemnv2"):
                    out.add(mod)
                    out.update(f"{mod}.{a.name}" for a in s.names)
            elif isinstance(s, ast.Import):
                out.update(a.name for a in s.names if a.name.startswith("edgemnv2"))
            elif isinstance(s, (ast.If, ast.Try)):
                visit(s.body)
                visit(getattr(s, "orelse", []))
                for h in getattr(s, "handlers", []):
                    visit(h.body)
    visit(tree.body)
    return out


def runtime_files() -> List[Path]:
    """ROOTS and the closure of their module-level edgemnv2 imports."""
    todo: List[Path] = []
    for r in ROOTS:
        p = REPO / r
        if p.is_dir():
            todo += sorted(p.rglob("*.py"))
        elif p.is_file():
            todo.append(p)
    seen: Set[Path] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for mod in _top_level_imports(p):
            f = _module_file(mod)
            if f is not None and f not in seen:
                todo.append(f)
    return sorted(seen)


def test_closure_includes_what_the_runner_imports():
    files = {str(p.relative_to(REPO)) for p in runtime_files()}
    assert {"targets/jetson/runner.py", "targets/jetson/versions.py", "edgemnv2/errors.py",
            "targets/base.py", "edgemnv2/tasks/preprocess.py"} <= files


def test_jetson_runtime_code_is_python38_compatible():
    vermin = shutil.which("vermin") or str(Path(sys.executable).parent / "vermin")
    if not Path(vermin).exists():
        pytest.skip("vermin is not installed (pip install 'edgemnv2[dev]')")
    files = [str(p) for p in runtime_files()]
    r = subprocess.run([vermin, "--no-tips", "-t=3.8-", "--violations", *files], capture_output=True, text=True,
                       timeout=300)
    report = (r.stdout + r.stderr).strip()
    assert r.returncode == 0, f"code a Jetson runs needs Python > 3.8:\n{report}"


def test_vermin_catches_a_violation(tmp_path):
    """The check can fail: a 3.10-only file is rejected by the same command."""
    vermin = shutil.which("vermin") or str(Path(sys.executable).parent / "vermin")
    if not Path(vermin).exists():
        pytest.skip("vermin is not installed")
    bad = tmp_path / "bad.py"
    bad.write_text("import math\n\nprint(math.lcm(2, 3))\nmatch 1:\n    case 1:\n        pass\n")
    r = subprocess.run([vermin, "--no-tips", "-t=3.8-", "--violations", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "math.lcm" in r.stdout
