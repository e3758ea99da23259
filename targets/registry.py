"""Which runner opens a model file: a table of runtimes, each imported only when it is used.

The runners never import this module, so there is no cycle between the protocol (``base``) and
the runtimes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..errors import EdgeError
from .base import Runner

__all__ = ["open_runner", "RUNTIME_FOR_SUFFIX"]


def _onnx(path: Path, threads: Optional[int], **kw: Any) -> Runner:
    from .cpu.runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path, threads=threads, **kw)


def _tflite(path: Path, threads: Optional[int], **kw: Any) -> Runner:
    from .pi.runner import TFLiteRunner

    return TFLiteRunner(path, threads=threads, **kw)


def _tensorrt(path: Path, threads: Optional[int], **kw: Any) -> Runner:
    from .jetson.runner import TensorRTRunner

    return TensorRTRunner(path, **kw)


RUNTIME_FOR_SUFFIX: Dict[str, Callable[..., Runner]] = {
    ".onnx": _onnx,
    ".tflite": _tflite,
    ".engine": _tensorrt,
    ".plan": _tensorrt,
}


def open_runner(path: str | os.PathLike, threads: Optional[int] = None, **kw: Any) -> Runner:
    """A (not yet activated) runner for a model file, chosen by its suffix."""
    path = Path(path)
    if not path.exists():
        raise EdgeError(f"model file {path} does not exist", "check the path")
    if path.is_dir():
        raise EdgeError(f"model path {path} is a directory", "use --bundle DIR for a bundle, --model FILE for a file")
    factory = RUNTIME_FOR_SUFFIX.get(path.suffix.lower())
    if factory is None:
        raise EdgeError(f"unsupported model file type '{path.suffix}' for {path.name}",
                        "pass a .onnx, .tflite or .engine file")
    return factory(path, threads, **kw)
