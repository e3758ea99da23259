"""PyTorch -> ONNX export (host side: torch, onnx, onnxslim).

Static shapes, one input ``images`` (1, 3, H, W) float32 RGB normalised as the manifest says, the
task's output names (``logits``; ``boxes`` + ``scores``). Opset per target: 17 for cpu and pi;
13 for jetson (``edgemnv2.targets.jetson.versions.export_opset_for_jetson``): every TensorRT users
have (8.2 on JetPack 4 up to 11.x) parses it, and it is the first opset with per-channel Q/DQ.
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

OPSET_FOR_TARGET: Dict[str, int] = {"cpu": 17, "pi": 17, "jetson": 13}
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
    from .interrupts import signals_deferred

    # Ctrl-C is deferred over the whole native part (export, onnxslim, the checker): a KeyboardInterrupt
    # raised inside any of them can kill the process (SIGSEGV / abort) instead of unwinding.
    with warnings.catch_warnings(), torch.no_grad(), signals_deferred():
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
