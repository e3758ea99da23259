"""Conformance checker: is this ONNX something TensorRT's ONNX parser will accept, for a given TensorRT?

Runs on every Jetson int8 build (on the host against the oldest TensorRT we target, and again on the
device against the TensorRT that is there) and on every fp16/fp32 ONNX for the opset/op-set part.
What it checks (from NVIDIA's docs on explicit quantization and onnx-tensorrt's operators.md):

* the default-domain opset is at most what the declared TensorRT parses, and every op is one the
  parser knows (no custom domains);
* every QuantizeLinear / DequantizeLinear has 3 inputs (scale and zero-point given: TensorRT 8.5
  requires it, and without a zero-point ONNX's QuantizeLinear produces uint8);
* zero-points are constant int8 (not uint8) and all 0 (symmetric);
* scales are constant, finite, > 0 and fp32 (fp16 also accepted from TensorRT 10);
* per-channel scales only on weights, with scale count == weight dims[axis] and the axis TensorRT
  expects for the consumer (0 for Conv, 1 for ConvTranspose, the output-channel axis for Gemm/MatMul);
  activations are per-tensor (one scale).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeError, MissingDependency
from ..targets.jetson.versions import max_onnx_opset, parse_version

__all__ = ["QdqReport", "check_onnx_for_tensorrt", "require_conformant", "PARSER_OPS"]

# Operators onnx-tensorrt's parser supports (operators.md, release 8.4 table, "Y" rows): a subset of
# later releases, so it is valid for every TensorRT from 8.2 on. Anything else is reported.
PARSER_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil Celu Clip
Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div Dropout Einsum
Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gemm GlobalAveragePool GlobalLpPool
GlobalMaxPool Greater GreaterOrEqual GRU HardSigmoid Identity If ImageScaler InstanceNormalization IsNaN LeakyRelu
Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean Min Mul Neg
NonMaxSuppression Not Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomUniform RandomUniformLike Range
ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare
Relu Reshape Resize ReverseSequence RNN Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Sigmoid
Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu
Tile TopK Transpose Unsqueeze Upsample Where Xor HardSwish
""".split())

_QDQ = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class QdqReport:
    """Result of a check: ``problems`` is empty when the model conforms."""

    path: str
    trt_version: str
    opset: Optional[int]
    max_opset: int
    quantize_nodes: int = 0
    dequantize_nodes: int = 0
    per_channel: int = 0
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> Dict[str, Any]:
        return {"trt_version": self.trt_version, "opset": self.opset, "max_opset": self.max_opset,
                "quantize_nodes": self.quantize_nodes, "dequantize_nodes": self.dequantize_nodes,
                "per_channel": self.per_channel, "ok": self.ok, "problems": list(self.problems[:20])}


def _load(model: Any) -> Tuple[Any, str]:
    try:
        import onnx
    except ImportError:
        raise MissingDependency("onnx", "host", "checking ONNX models for TensorRT") from None
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        try:
            return onnx.load(str(p)), p.name
        except Exception as e:  # protobuf DecodeError and friends
            raise EdgeError(f"{p} is not a readable ONNX model: {str(e)[:120]}", "rebuild the bundle") from None
    return model, getattr(model.graph, "name", "model")


def _constants(graph: Any) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper

    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
    return out


def _expected_axis(consumer: Any, input_index: int) -> Optional[int]:
    """Channel axis TensorRT expects for a per-channel weight feeding ``consumer`` (None: not allowed)."""
    if consumer.op_type == "Conv" and input_index == 1:
        return 0
    if consumer.op_type == "ConvTranspose" and input_index == 1:
        return 1
    if consumer.op_type == "Gemm" and input_index == 1:
        trans_b = next((a.i for a in consumer.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if consumer.op_type == "MatMul" and input_index == 1:
        return 1
    return None


def check_onnx_for_tensorrt(model: Any, trt_version: Any = "8.5") -> QdqReport:
    """Check an ONNX model (path or ModelProto) against what TensorRT ``trt_version``'s parser accepts."""
    proto, name = _load(model)
    v = parse_version(trt_version)
    vtext = ".".join(map(str, v[:2]))
    graph = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    rep = QdqReport(name, vtext, opset, max_onnx_opset(v))
    if opset is None:
        rep.problems.append("the model imports no default-domain opset")
    elif opset > rep.max_opset:
        rep.problems.append(f"opset {opset} is newer than TensorRT {vtext}'s parser accepts (max {rep.max_opset})")
    for imp in proto.opset_import:
        if imp.domain not in ("", "ai.onnx"):
            rep.problems.append(f"custom op domain '{imp.domain}' (TensorRT would need a plugin)")
    unknown = sorted({n.op_type for n in graph.node if n.domain in ("", "ai.onnx") and n.op_type not in PARSER_OPS})
    for op in unknown:
        rep.problems.append(f"operator {op} is not in the ONNX-TensorRT parser's operator list")

    consts = _constants(graph)
    producers = {o: n for n in graph.node for o in n.output}
    consumers: Dict[str, List[Tuple[Any, int]]] = {}
    for n in graph.node:
        for i, x in enumerate(n.input):
            consumers.setdefault(x, []).append((n, i))
    scale_types = (np.float32,) if v[0] < 10 else (np.float32, np.float16)

    for node in graph.node:
        if node.op_type not in _QDQ:
            continue
        where = f"{node.op_type} '{node.name or node.output[0]}'"
        if node.op_type == "QuantizeLinear":
            rep.quantize_nodes += 1
        else:
            rep.dequantize_nodes += 1
        if len(node.input) != 3 or not node.input[2]:
            rep.problems.append(f"{where} has {len([i for i in node.input if i])} inputs; TensorRT {vtext} needs 3 "
                                "(x, scale, zero-point)")
            continue
        scale, zp = consts.get(node.input[1]), consts.get(node.input[2])
        if scale is None:
            rep.problems.append(f"{where}: scale is not a constant")
            continue
        if zp is None:
            rep.problems.append(f"{where}: zero-point is not a constant")
            continue
        if zp.dtype != np.int8:
            rep.problems.append(f"{where}: zero-point is {zp.dtype}, TensorRT needs int8 (signed, symmetric)")
        elif np.any(zp != 0):
            rep.problems.append(f"{where}: zero-point is not 0 (TensorRT supports symmetric quantization only)")
        if scale.dtype.type not in scale_types:
            rep.problems.append(f"{where}: scale is {scale.dtype}, TensorRT {vtext} needs "
                                f"{'/'.join(np.dtype(t).name for t in scale_types)}")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            rep.problems.append(f"{where}: scales must be finite and > 0")
        if zp.size != scale.size:
            rep.problems.append(f"{where}: {scale.size} scales but {zp.size} zero-points")
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 0 or scale.size == 1:
            continue
        if scale.ndim != 1:
            rep.problems.append(f"{where}: scale has rank {scale.ndim}; per-channel scales are 1-D")
            continue
        # per-channel: only on weights, count == dims[axis], axis as the consumer expects
        weight_name = node.input[0]
        dq_out = node.output[0]
        if node.op_type == "DequantizeLinear" and weight_name not in consts:
            q = producers.get(weight_name)
            weight_name = q.input[0] if q is not None and q.op_type == "QuantizeLinear" else weight_name
        if node.op_type == "QuantizeLinear":
            dqs = [c for c, _ in consumers.get(dq_out, []) if c.op_type == "DequantizeLinear"]
            dq_out = dqs[0].output[0] if dqs else dq_out
        weight = consts.get(weight_name)
        if weight is None:
            rep.problems.append(f"{where}: per-channel scales ({scale.size}) on an activation; TensorRT quantizes "
                                "activations per-tensor only")
            continue
        ax = axis if axis >= 0 else axis + weight.ndim
        if not 0 <= ax < weight.ndim:
            rep.problems.append(f"{where}: axis {axis} is out of range for weight shape {list(weight.shape)}")
            continue
        if scale.size != weight.shape[ax]:
            rep.problems.append(f"{where}: {scale.size} scales for dims[{ax}] = {weight.shape[ax]} of weight "
                                f"'{weight_name}' {list(weight.shape)}")
            continue
        users = consumers.get(dq_out, [])
        for user, idx in users:
            want = _expected_axis(user, idx)
            if want is None:
                rep.problems.append(f"{where}: per-channel weight feeds {user.op_type} input {idx}, which TensorRT "
                                    "quantizes per-tensor only")
            elif want != ax:
                rep.problems.append(f"{where}: per-channel axis {ax} for {user.op_type}; TensorRT expects axis {want}")
        rep.per_channel += 1
    return rep


def require_conformant(model: Any, trt_version: Any = "8.5", what: str = "") -> QdqReport:
    """``check_onnx_for_tensorrt`` and raise one EdgeError line naming the first problem (and the count)."""
    rep = check_onnx_for_tensorrt(model, trt_version)
    if not rep.ok:
        more = f" (and {len(rep.problems) - 1} more)" if len(rep.problems) > 1 else ""
        label = what or rep.path
        raise EdgeError(f"{label} is not in the form TensorRT {rep.trt_version} accepts: {rep.problems[0]}{more}",
                        "rebuild the bundle with this edgemnv2 (edgemnv2 build --target jetson ...)")
    return rep


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m edgemnv2.calibration.qdq_check MODEL.onnx [--trt 8.5] [--json]``: 0 conformant, 1 not."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m edgemnv2.calibration.qdq_check",
                                 description="Check that an ONNX file (fp32, fp16 or Q/DQ int8) is in the form "
                                             "TensorRT's ONNX parser accepts.")
    ap.add_argument("model", help="the .onnx file")
    ap.add_argument("--trt", default="8.5", help="TensorRT version to check against (default 8.5, JetPack 5)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    try:
        rep = check_onnx_for_tensorrt(args.model, args.trt)
    except EdgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(dict(rep.to_dict(), path=str(args.model))))
    else:
        print(f"{args.model}: {'conforms to' if rep.ok else 'does NOT conform to'} TensorRT {rep.trt_version} "
              f"(opset {rep.opset} <= {rep.max_opset}; {rep.quantize_nodes} Q / {rep.dequantize_nodes} DQ, "
              f"{rep.per_channel} per-channel)")
        for problem in rep.problems:
            print(f"  - {problem}")
    return 0 if rep.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
