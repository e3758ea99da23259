"""fp32 ONNX -> Q/DQ int8 ONNX in the form TensorRT's ONNX parser accepts (host side: onnx, onnxruntime).

Explicit quantization is the one int8 path that works on every TensorRT we target (8.5, 10.x, 11.x):
the scales are computed here, on the host, from the user's calibration images fed through the same
``edgemnv2.tasks.preprocess.preprocess`` every target uses, and baked into QuantizeLinear /
DequantizeLinear pairs. ``onnxruntime.quantization.quantize_static`` does the work with the option
set NVIDIA's ModelOpt passes to it (see docs/jetson.md and ../shared/docs/tensorrt.md):
symmetric int8 activations and weights, zero-points 0, per-channel weights on axis 0 (Conv) / 1
(ConvTranspose), bias left in float, a Q/DQ pair on every weight. Types are passed explicitly
because onnxruntime's defaults changed between releases. Weight scales are chosen by
``weight_grid`` and passed as onnxruntime's ``TensorQuantOverrides`` (imported int8 weights stay on
their own grid).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..errors import EdgeError, MissingDependency
from ..fileio import default_mode, write_failure
from ..tasks.preprocess import InputFormat, Normalization, preprocess
from .weight_grid import choose_scales

__all__ = ["QDQ_EXTRA_OPTIONS", "qdq_options", "ImageReader", "quantize_qdq", "CALIBRATION_METHODS"]

#: extra_options for quantize_static, exactly as ../shared/docs/tensorrt.md lists them.
QDQ_EXTRA_OPTIONS: Dict[str, Any] = {
    "ActivationSymmetric": True,
    "WeightSymmetric": True,
    "QuantizeBias": False,
    "AddQDQPairToWeight": True,
    "DedicatedQDQPair": False,
    "QDQOpTypePerChannelSupportToAxis": {"Conv": 0, "ConvTranspose": 1},
}

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def qdq_options(calibrate_method: str = "minmax") -> Dict[str, Any]:
    """The keyword arguments passed to ``quantize_static`` (besides paths and the data reader)."""
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    except ImportError:
        raise MissingDependency("onnxruntime", "host", "int8 Q/DQ quantization") from None
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if calibrate_method not in methods:
        raise EdgeError(f"unknown calibration method {calibrate_method!r}", f"use one of {', '.join(methods)}")
    return {
        "quant_format": QuantFormat.QDQ,
        "per_channel": True,
        "reduce_range": False,
        "activation_type": QuantType.QInt8,
        "weight_type": QuantType.QInt8,
        "calibrate_method": methods[calibrate_method],
        "extra_options": dict(QDQ_EXTRA_OPTIONS, QDQOpTypePerChannelSupportToAxis=dict(
            QDQ_EXTRA_OPTIONS["QDQOpTypePerChannelSupportToAxis"])),
    }


class ImageReader:
    """onnxruntime ``CalibrationDataReader``: RGB uint8 images -> {input_name: NCHW float32 batch of one}.

    Uses ``edgemnv2.tasks.preprocess.preprocess``, the preprocessing of every target, so calibration
    sees exactly what the device will feed the engine.
    """

    def __init__(self, images: List[np.ndarray], input_name: str, resolution: int, normalization: Normalization,
                 on_item: Optional[Callable[[], None]] = None) -> None:
        self.images = images
        self.input_name = input_name
        self.fmt = InputFormat(resolution, resolution, "NCHW", "float32")
        self.norm = normalization
        self.on_item = on_item
        self._it: Optional[Iterator[np.ndarray]] = None

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self._it is None:
            self._it = iter(self.images)
        img = next(self._it, None)
        if img is None:
            return None
        if self.on_item:
            self.on_item()
        return {self.input_name: preprocess(img, self.fmt, self.norm)}

    def rewind(self) -> None:
        self._it = None

    def __len__(self) -> int:
        return len(self.images)


def quantize_qdq(fp32_onnx: str | os.PathLike, out_path: str | os.PathLike, images: List[np.ndarray],
                 normalization: Normalization, calibrate_method: str = "minmax",
                 on_item: Optional[Callable[[], None]] = None) -> Dict[str, Any]:
    """Calibrate on ``images`` and write the Q/DQ model to ``out_path`` atomically; returns a summary.

    The summary records the options used, the number of Q/DQ nodes and the opset, for the manifest.
    """
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, quantize_static
    except ImportError as e:
        raise MissingDependency(e.name or "onnxruntime", "host", "int8 Q/DQ quantization") from None
    if not images:
        raise EdgeError("no calibration images", "pass --calib DIR with a few hundred images")
    fp32_onnx, out_path = Path(fp32_onnx), Path(out_path)
    model = onnx.load(str(fp32_onnx))
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise EdgeError(f"{fp32_onnx.name} has {len(inputs)} inputs; int8 calibration needs one image input")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or dims[2] != dims[3] or dims[2] <= 0:
        raise EdgeError(f"{fp32_onnx.name}: input shape {dims} is not (1, 3, R, R)")

    class _Reader(CalibrationDataReader):  # onnxruntime checks the base class
        def __init__(self, inner: ImageReader) -> None:
            self.inner = inner

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            return self.inner.get_next()

        def rewind(self) -> None:
            self.inner.rewind()

    reader = _Reader(ImageReader(images, inputs[0].name, dims[2], normalization, on_item))
    opts = qdq_options(calibrate_method)
    overrides, grid = weight_overrides(model, opts["extra_options"]["QDQOpTypePerChannelSupportToAxis"])
    opts["extra_options"]["TensorQuantOverrides"] = overrides
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp.onnx", dir=out_path.parent)
    os.fchmod(fd, default_mode())  # mkstemp makes 0600; the bundle's other files are 0644
    os.close(fd)
    try:
        root = logging.getLogger()  # quantize_static logs a "consider pre-processing" WARNING on the root logger
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_static(str(fp32_onnx.resolve()), tmp, reader, **opts)
        finally:
            root.setLevel(level)
        qmodel = onnx.load(tmp)
        onnx.checker.check_model(qmodel)
        os.replace(tmp, out_path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) or type(e).__name__ == "DecodeError":  # a full disk truncates files
            raise write_failure(e, "the int8 Q/DQ model", out_path.parent) from None
        raise
    ops = [n.op_type for n in qmodel.graph.node]
    opset = next((o.version for o in qmodel.opset_import if o.domain in ("", "ai.onnx")), None)
    extra = {k: v for k, v in opts["extra_options"].items() if k != "TensorQuantOverrides"}
    return {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "activation_type": "int8",
        "weight_type": "int8",
        "per_channel": True,
        "calibrate_method": calibrate_method,
        "extra_options": extra,
        "images": len(images),
        "weights_on_own_grid": grid,
        "quantize_nodes": ops.count("QuantizeLinear"),
        "dequantize_nodes": ops.count("DequantizeLinear"),
        "opset": opset,
    }


def weight_overrides(model: Any, per_channel_axis: Dict[str, int]) -> Tuple[Dict[str, List[Dict[str, Any]]],
                                                                           Dict[str, int]]:
    """``TensorQuantOverrides`` giving every Conv / Gemm weight initializer the scales
    ``weight_grid.choose_scales`` picks (per channel on the axis onnxruntime uses, else per tensor)."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    overrides: Dict[str, List[Dict[str, Any]]] = {}
    counts = {"channels": 0, "on_grid": 0}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        axis = per_channel_axis.get(node.op_type)
        grid = choose_scales(w, axis)
        counts["channels"] += grid.channels
        counts["on_grid"] += grid.on_grid
        scales = [{"scale": np.float32(s), "zero_point": np.int8(0)} for s in grid.scales]
        if axis is not None:
            scales[0]["axis"] = axis
        overrides[node.input[1]] = scales
    return overrides, counts
