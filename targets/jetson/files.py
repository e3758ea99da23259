"""A Jetson bundle's model files and the one command that finishes it (builds its engine on the device).

Shared by the host export, the on-device engine build and the runner, so none of them imports another
for these names.
"""

from __future__ import annotations

import shlex
from typing import Any

from ...errors import EdgeError

__all__ = ["ONNX_FILES", "ENGINE_FILE", "finish_command", "pending_engine_error"]

ONNX_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "qdq": "model.qdq.onnx"}
ENGINE_FILE = "model.engine"


def finish_command(bundle_dir: Any) -> str:
    """The one command that builds (or rebuilds) a Jetson bundle's engine, quoted to run as printed."""
    return "edgemnv2 build --target jetson --bundle " + (shlex.quote(str(bundle_dir)) if bundle_dir else "BUNDLE_DIR")


def pending_engine_error(bundle_root: Any, model_file: str = ENGINE_FILE) -> EdgeError:
    """The error for running a bundle built on a host without TensorRT (predict, camera, bench)."""
    return EdgeError(f"bundle {bundle_root} has no {model_file} yet (built on a host without TensorRT)",
                     f"finish it on the Jetson: {finish_command(bundle_root)}")
