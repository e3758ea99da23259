"""What the TensorRT stand-in (tests/trt_standins.py) derives from an ONNX: I/O, layers, their precisions."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np


def onnx_io(model: Any) -> List[Tuple[str, Tuple[int, ...], int, bool]]:
    """(name, dims, ONNX elem type, is input) per graph input (initializers excluded) and output; a symbolic or
    unknown dim is -1, as TensorRT reports it."""
    inits = {t.name for t in model.graph.initializer}

    def dims(vi: Any) -> Tuple[int, ...]:
        return tuple(d.dim_value if d.dim_value > 0 else -1 for d in vi.type.tensor_type.shape.dim)

    return ([(vi.name, dims(vi), vi.type.tensor_type.elem_type, True) for vi in model.graph.input
             if vi.name not in inits]
            + [(vi.name, dims(vi), vi.type.tensor_type.elem_type, False) for vi in model.graph.output])


def onnx_layers(model: Any) -> List[Tuple[str, str, bool]]:
    """(name, op, reads a dequantized tensor) per ONNX node that becomes a layer (Q/DQ nodes are fused away)."""
    dq_out = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    fp16 = any(vi.type.tensor_type.elem_type == 10 for vi in model.graph.value_info) or any(
        t.data_type == 10 for t in model.graph.initializer)
    return [(n.name or f"{n.op_type}_{i}", "fp16" if fp16 else n.op_type, any(x in dq_out for x in n.input))
            for i, n in enumerate(model.graph.node) if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]


def layer_precisions(network: Any, flags: List[str], strongly_typed: bool) -> List[Tuple[str, str]]:
    """A crude stand-in for the precision TensorRT picks per layer, as inspector "Format/Datatype" text."""
    out = []
    for name, op, quantized in network.layers:
        if quantized and ("INT8" in flags or strongly_typed):
            out.append((name, "Four wide channel vectorized row major Int8 format"))
        elif "FP16" in flags or op == "fp16":
            out.append((name, "Channel major FP16 format where channel % 8 == 0"))
        else:
            out.append((name, "Row major linear FP32"))
    return out


def static_output_shapes(network: Any) -> List[Tuple[int, ...]]:
    """Output dims of a network with static inputs: declared ones, or run once with zeros where unknown."""
    if all(d >= 0 for t in network.outputs for d in t.shape):
        return [t.shape for t in network.outputs]
    import onnxruntime as ort

    sess = ort.InferenceSession(network.onnx, providers=["CPUExecutionProvider"])
    feeds = {t.name: np.zeros(t.shape, np.dtype(t.dtype.value)) for t in network.inputs}
    return [tuple(o.shape) for o in sess.run(None, feeds)]
