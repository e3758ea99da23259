"""Shared fixtures: paths to ../shared/data/coral (skipped cleanly when absent), tiny bundles, CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[1]
CORAL = Path(os.environ.get("EDGEMNV2_CORAL_DIR", REPO.parent / "shared" / "data" / "coral"))


def coral_available() -> bool:
    return (CORAL / "mobilenet_v2_1.0_224_quant.tflite").is_file()


@pytest.fixture(scope="session")
def coral_dir() -> Path:
    if not coral_available():
        pytest.skip("../shared/data/coral is absent (Coral models and photos)")
    return CORAL


def run_cli(args: List[str], cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            python: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m edgemnv2 ARGS`` in a subprocess; returns the completed process (text mode)."""
    e = dict(os.environ)
    e.pop("EDGEMNV2_DEBUG", None)
    if env:
        e.update(env)
    return subprocess.run([python or sys.executable, "-m", "edgemnv2", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def cli():
    return run_cli


def _build_cpu(tmp: Path, task: str, width: float, res: int, **kw) -> Path:
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.cpu.build import build_cpu_bundle

    out = tmp / f"{task}-cpu"
    build_cpu_bundle(BuildOptions(task=task, out=out, width_mult=width, resolution=res, **kw))
    return out


@pytest.fixture(scope="session")
def cpu_bundles(tmp_path_factory) -> dict:
    """Tiny random-weight CPU (ONNX Runtime) bundles for the three tasks, built once per session."""
    pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp("cpu-bundles")
    return {
        "classify": _build_cpu(tmp, "classify", 0.35, 96, num_classes=10),
        "detect": _build_cpu(tmp, "detect", 0.35, 160, num_classes=4),
        "segment": _build_cpu(tmp, "segment", 0.35, 128, num_classes=5),
    }
