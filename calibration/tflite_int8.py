"""Full-integer int8 TFLite conversion with a representative dataset (host side, TensorFlow).

The recipe (docs/pi.md): TensorFlow's converter, ``Optimize.DEFAULT`` + a representative dataset,
``TFLITE_BUILTINS_INT8`` only (no float fallback), per-channel int8 weights, int8 activations,
int8 image input (no QUANTIZE op), int8 outputs. The representative samples are the user's
calibration images passed through ``edgemnv2.tasks.preprocess.preprocess`` (the one preprocessing
function) as the graph's float input ``v = (pixel - offset) / scale`` (``tf_twin.InputAffine``; the
rest of the normalisation is folded into the graph). The input's range is pinned to pixels 0..255,
so its quantisation is scale ``1 / scale``, zero point ``offset - 128``: the int8 input is the
camera pixels shifted by an integer (``pixel - 128`` for Google's models), no float maths on the device.
After conversion the weights' scales are re-chosen by ``weight_grid`` (imported int8 weights stay
on their own grid) and the int32 biases re-quantised to match, from the same graph converted in float.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from ..errors import EdgeError
from ..interrupts import signals_deferred
from ..targets.pi.tf_twin import InputAffine
from ..tasks.preprocess import InputFormat, Normalization, preprocess
from .weight_grid import choose_scales, quantize

__all__ = ["PIXELS", "METHOD", "QUANTIZATION", "input_normalization", "representative_dataset", "convert_int8",
           "regrid_weights",
           "check_input_quantization"]

PIXELS = Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # float graphs normalise: feed pixels as they are
METHOD = "tflite-ptq-minmax (TFLiteConverter representative_dataset, per-channel int8 weights)"
QUANTIZATION = {"weights": "int8 per-channel (conv), per-tensor (fully connected); scales by "
                "calibration.weight_grid", "activations": "int8",
                "input": "int8 pixels shifted by an integer (scale 1/std, zero point offset - 128)",
                "outputs": "int8"}


def input_normalization(affine: InputAffine) -> Normalization:
    """The bundle's input normalisation for an int8 graph taking ``v = (pixel - offset) / scale``."""
    return Normalization((affine.offset,) * 3, (affine.scale,) * 3)  # type: ignore[arg-type]


def representative_dataset(images: Sequence[np.ndarray], resolution: int, affine: InputAffine = InputAffine()
                           ) -> Callable[[], Iterator[List[np.ndarray]]]:
    """A converter ``representative_dataset``: each RGB uint8 image -> [(1, R, R, 3) float32 ``v``].

    The first sample gets one pixel at 0 and one at 255 so that the input's calibrated range is
    exactly that of pixels 0..255 (int8 scale ``1 / scale``, zero point ``offset - 128``).
    """
    fmt = InputFormat(resolution, resolution, "NHWC", "float32")
    norm = input_normalization(affine)
    lo, hi = (0.0 - affine.offset) / affine.scale, (255.0 - affine.offset) / affine.scale
    if not images:
        raise EdgeError("no calibration images to quantize with", "pass --calib DIR with images")

    def gen() -> Iterator[List[np.ndarray]]:
        for i, img in enumerate(images):
            x = preprocess(img, fmt, norm)
            if i == 0:
                x = x.copy()
                x[0, 0, 0, :] = lo
                x[0, 0, 1, :] = hi
            yield [x]

    return gen


def convert_int8(concrete_fn: Any, images: Sequence[np.ndarray], resolution: int,
                 affine: InputAffine = InputAffine()) -> Tuple[bytes, Dict[str, int]]:
    """Full-integer int8 .tflite bytes (int8 input and outputs) calibrated on ``images``, and the
    ``regrid_weights`` counts."""
    from ..targets.pi.tf_twin import convert_float

    return regrid_weights(_quantize(concrete_fn, images, resolution, affine), convert_float(concrete_fn))


def _quantize(concrete_fn: Any, images: Sequence[np.ndarray], resolution: int, affine: InputAffine) -> bytes:
    import warnings

    import tensorflow as tf

    from ..targets.pi.tf_twin import new_converter

    conv = new_converter(concrete_fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_dataset(images, resolution, affine)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8  # int8 end to end: no QUANTIZE op at the input
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": the converter calibrates
        warnings.simplefilter("ignore", UserWarning)
        with signals_deferred():  # native converter: take Ctrl-C after it returns
            return conv.convert()


# weighted op -> axis of its output channels in the weight tensor
_WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}


def _weighted_ops(model: Any) -> List[Tuple[Any, int]]:
    """(op, output-channel axis of its weights) for each weighted op, in graph order."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    named = ((op, fb.opcode_to_name(model, op.opcodeIndex)) for op in model.subgraphs[0].operators)
    return [(op, _WEIGHTED[name]) for op, name in named if name in _WEIGHTED]


def _array(model: Any, tensor: Any, dtype: Any) -> np.ndarray:
    return np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype).reshape(tensor.shape)


def regrid_weights(int8_model: bytes, float_model: bytes) -> Tuple[bytes, Dict[str, int]]:
    """Re-choose each int8 weight tensor's scales with ``weight_grid.choose_scales`` from the float
    graph's weights (same ops, same order, same tensor names) and re-quantise the int32 biases to
    ``input scale x weight scale``, as TFLite requires. Returns the model and channel counts."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    q, f = fb.convert_bytearray_to_object(int8_model), fb.convert_bytearray_to_object(float_model)
    qs, fs = q.subgraphs[0], f.subgraphs[0]
    qops, fops = _weighted_ops(q), _weighted_ops(f)
    if [qs.tensors[o.inputs[1]].name for o, _ in qops] != [fs.tensors[o.inputs[1]].name for o, _ in fops]:
        raise EdgeError("the int8 and float TFLite graphs do not line up, so the int8 weight scales cannot be "
                        "checked", "this is a bug in edgemnv2's int8 recipe; please report it")
    counts = {"channels": 0, "on_grid": 0}
    for (qop, channel_axis), (fop, _) in zip(qops, fops):
        wq, wf = qs.tensors[qop.inputs[1]], fs.tensors[fop.inputs[1]]
        axis = None if len(wq.quantization.scale) == 1 else channel_axis
        w = _array(f, wf, np.float32)
        grid = choose_scales(w, axis)
        counts["channels"] += grid.channels
        counts["on_grid"] += grid.on_grid
        wq.quantization.scale = grid.scales
        q.buffers[wq.buffer].data = np.frombuffer(quantize(w, grid.scales, axis).tobytes(), np.uint8)
        if len(qop.inputs) > 2 and qop.inputs[2] >= 0:
            bq, bf = qs.tensors[qop.inputs[2]], fs.tensors[fop.inputs[2]]
            bias_scale = (float(qs.tensors[qop.inputs[0]].quantization.scale[0]) * grid.scales.astype(np.float64))
            bias = np.clip(np.round(_array(f, bf, np.float32) / bias_scale), -2**31, 2**31 - 1)
            bq.quantization.scale = bias_scale.astype(np.float32)
            q.buffers[bq.buffer].data = np.frombuffer(bias.astype(np.int32).tobytes(), np.uint8)
    return bytes(fb.convert_object_to_bytearray(q)), counts


def check_input_quantization(quant: Dict[str, Any] | None, affine: InputAffine) -> None:
    """The int8 input must be integer-shifted pixels (scale 1/scale, zero point offset - 128): a bug otherwise."""
    want_scale, want_zp = 1.0 / affine.scale, int(affine.offset) - 128
    if quant is None or abs(float(quant["scale"]) * affine.scale - 1.0) > 1e-5 or int(quant["zero_point"]) != want_zp:
        raise EdgeError(f"the int8 model's input quantization is {quant}, not scale {want_scale:.6g} / zero point "
                        f"{want_zp}", "this is a bug in edgemnv2's int8 recipe; please report it")
