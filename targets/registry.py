"""Which runner opens a model: a table of runtimes, each imported only when it is used.

A bundle's runner is chosen by its manifest (target and model format, with the model file's suffix
checked against them); a bare model file's by its suffix.

The runners never import this module, so there is no cycle between the protocol (``base``) and
the runtimes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from ..errors import EdgeError
from .base import Runner

if TYPE_CHECKING:
    from ..bundle import Bundle

__all__ = ["open_runner", "open_bundle_runner", "RUNTIME_FOR_SUFFIX", "FORMAT_FOR_SUFFIX", "FORMAT_FOR_TARGET",
           "RUNTIME_NEEDS"]


def _onnx(path: Path, threads: Optional[int], **kw: Any) -> Runner:
    from .cpu.runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path, threads=threads, **kw)


def _tflite(path: Path, threads: Optional[int], **kw: Any) -> Runner:
    from .pi.runner import TFLiteRunner

    return TFLiteRunner(path, threads=threads, **kw)


def _tensorrt(path: Path, threads: Optional[int], **kw: Any) -> Runner:
    from .jetson.runner import TensorRTRunner

    return TensorRTRunner(path, **kw)


# The one table of model formats: file suffixes, the runner, the target that builds it, and what to
# install to run it (importable modules, any one suffices; what it is; how to install it).
SUFFIXES_FOR_FORMAT: Dict[str, Tuple[str, ...]] = {"onnx": (".onnx",), "tflite": (".tflite",),
                                                  "tensorrt": (".engine", ".plan")}
FORMAT_FOR_SUFFIX: Dict[str, str] = {s: f for f, ss in SUFFIXES_FOR_FORMAT.items() for s in ss}
RUNTIME_FOR_FORMAT: Dict[str, Callable[..., Runner]] = {"onnx": _onnx, "tflite": _tflite, "tensorrt": _tensorrt}
RUNTIME_FOR_SUFFIX: Dict[str, Callable[..., Runner]] = {s: RUNTIME_FOR_FORMAT[f] for s, f in FORMAT_FOR_SUFFIX.items()}
FORMAT_FOR_TARGET: Dict[str, str] = {"cpu": "onnx", "pi": "tflite", "jetson": "tensorrt"}
RUNTIME_NEEDS: Dict[str, Tuple[Tuple[str, ...], str, str]] = {
    "onnx": (("onnxruntime",), "ONNX Runtime", "pip install onnxruntime (or pip install 'edgemnv2[host]')"),
    "tflite": (("ai_edge_litert", "tflite_runtime", "tensorflow"), "a TFLite runtime (LiteRT)",
               "pip install 'edgemnv2[pi]' (ai-edge-litert) or pip install tflite-runtime"),
    "tensorrt": (("tensorrt",), "TensorRT",
                 "run it on a Jetson with JetPack's TensorRT (a venv made with --system-site-packages) "
                 "and pip install 'edgemnv2[jetson]'"),
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


def open_bundle_runner(bundle: Bundle, threads: Optional[int] = None, **kw: Any) -> Runner:
    """A (not yet activated) runner for a bundle's model, chosen by the manifest's target and format.

    A manifest whose target, format and model file disagree (e.g. a Pi bundle relabelled
    ``target: jetson``) is refused rather than run on whatever runtime the suffix suggests.
    """
    hint = "rebuild the bundle with edgemnv2 build (manifest.json does not describe its model file)"
    target, fmt, path = bundle.target, bundle.model_format, bundle.model_path
    if target not in FORMAT_FOR_TARGET:
        raise EdgeError(f"bundle {bundle.root}: unknown target {target!r}", f"use {', '.join(FORMAT_FOR_TARGET)}")
    if fmt != FORMAT_FOR_TARGET[target]:
        raise EdgeError(f"bundle {bundle.root}: target {target} runs {FORMAT_FOR_TARGET[target]} models, but the "
                        f"manifest's model format is {fmt!r}", hint)
    if path.suffix.lower() not in SUFFIXES_FOR_FORMAT[fmt]:
        raise EdgeError(f"bundle {bundle.root}: model file {path.name} is not a {fmt} file "
                        f"({'/'.join(SUFFIXES_FOR_FORMAT[fmt])}), though the manifest says so", hint)
    if fmt == "tensorrt":
        kw.setdefault("manifest", bundle.manifest)
    return RUNTIME_FOR_FORMAT[fmt](path, threads, **kw)
