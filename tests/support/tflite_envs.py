"""Helpers shared by the TFLite test modules: the tflite-runtime 2.14 environment and JSON predictions."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
# EDGEMNV2_TFLITE214_PYTHON: another interpreter with tflite-runtime 2.14 (the emulated Pi lane sets it).
TFLITE214 = Path(os.environ.get("EDGEMNV2_TFLITE214_PYTHON", REPO / ".venv-tflite214" / "bin" / "python"))
RUNTIMES = ["ai_edge_litert", "tflite_runtime"]


def tflite214_python() -> str:
    """The tflite-runtime 2.14 interpreter (numpy < 2), or skip with the reason."""
    if not TFLITE214.exists():
        pytest.skip(".venv-tflite214 is missing (make it with: bash scripts/setup_tflite214.sh)")
    probe = subprocess.run([str(TFLITE214), "-c", "import tflite_runtime, cv2, edgemnv2"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        pytest.skip(f".venv-tflite214 is incomplete ({probe.stderr.strip().splitlines()[-1:]}); "
                    "rerun scripts/setup_tflite214.sh")
    return str(TFLITE214)


def python_for(runtime: str) -> Optional[str]:
    """The Python that runs ``runtime``: this one for LiteRT, the 2.14 venv for tflite-runtime."""
    return None if runtime == "ai_edge_litert" else tflite214_python()


def predict_json(args: List[str], runtime: str, cwd: Optional[Path] = None) -> List[dict]:
    """``edgemnv2 predict ... --json`` on ``runtime``; returns the JSON lines (asserts success)."""
    from conftest import run_cli

    proc = run_cli(["predict", *args, "--json"], python=python_for(runtime), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
