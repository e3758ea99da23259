"""PyTorch -> ONNX export (host side: torch, onnx, onnxslim).

Static shapes, one input ``images`` (1, 3, H, W) float32 RGB normalised as the manifest says, the
task's output names (``logits``; ``boxes`` + ``scores``), opset 17 for every target: the newest
opset TensorRT 8.5 (JetPack 5) parses, and ONNX Runtime and the TFLite path take it too.
Simplified with onnxslim and checked with ``onnx.checker``.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Dict

from .errors import MissingDependency
from .fileio import atomic_write_bytes

__all__ = ["OPSET", "OPSET_FOR_TARGET", "export_onnx"]

OPSET_FOR_TARGET: Dict[str, int] = {"cpu": 17, "pi": 17, "jetson": 17}
OPSET = 17


def export_onnx(model, path: str | os.PathLike, resolution: int, output_names: list, opset: int = OPSET,
                simplify: bool = True) -> Dict[str, object]:
    """Export ``model`` (eval mode) to ``path`` atomically; returns {"opset", "simplified", "nodes"}."""
    try:
        import onnx
        import torch
    except ImportError as e:
        raise MissingDependency(e.name or "torch", "host", "ONNX export") from None
    model = model.eval()
    dummy = torch.zeros(1, 3, resolution, resolution)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), buf, input_names=["images"], output_names=list(output_names),
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    simplified = False
    if simplify:
        try:
            import onnxslim

            proto = onnxslim.slim(proto)
            simplified = True
        except ImportError:
            pass
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
    return {"opset": opset, "simplified": simplified, "nodes": len(proto.graph.node)}
