"""Full-integer int8 TFLite conversion with a representative dataset (host side, TensorFlow).

The recipe (docs/pi.md): TensorFlow's converter, ``Optimize.DEFAULT`` + a representative dataset,
``TFLITE_BUILTINS_INT8`` only (no float fallback), per-channel int8 weights, int8 activations,
uint8 image input, int8 outputs. The representative samples are the user's calibration images
passed through ``edgemnv2.tasks.preprocess.preprocess`` (the one preprocessing function) with the
float twin of the bundle's input format: raw RGB pixels NHWC, since the normalisation is inside the
graph. The input tensor's range is pinned to 0..255 so its quantisation is scale 1, zero point 0:
camera pixels are then the quantized values, with no float maths on the device.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Sequence

import numpy as np

from ..errors import EdgeError
from ..interrupts import signals_deferred
from ..tasks.preprocess import InputFormat, Normalization, preprocess

__all__ = ["PIXELS", "METHOD", "QUANTIZATION", "representative_dataset", "convert_int8", "check_pixel_input"]

PIXELS = Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # the graph normalises: feed pixels as they are
METHOD = "tflite-ptq-minmax (TFLiteConverter representative_dataset, per-channel int8 weights)"
QUANTIZATION = {"weights": "int8 per-channel (conv), per-tensor (fully connected)", "activations": "int8",
                "input": "uint8 pixels (scale 1, zero point 0)", "outputs": "int8"}


def representative_dataset(images: Sequence[np.ndarray], resolution: int) -> Callable[[], Iterator[List[np.ndarray]]]:
    """A converter ``representative_dataset``: each RGB uint8 image -> [(1, R, R, 3) float32 pixels].

    The first sample gets one pixel at 0 and one at 255 so that the input's calibrated range is
    exactly 0..255 (uint8 input scale 1, zero point 0) whatever the images hold.
    """
    fmt = InputFormat(resolution, resolution, "NHWC", "float32")
    if not images:
        raise EdgeError("no calibration images to quantize with", "pass --calib DIR with images")

    def gen() -> Iterator[List[np.ndarray]]:
        for i, img in enumerate(images):
            x = preprocess(img, fmt, PIXELS)
            if i == 0:
                x = x.copy()
                x[0, 0, 0, :] = 0.0
                x[0, 0, 1, :] = 255.0
            yield [x]

    return gen


def convert_int8(concrete_fn: Any, images: Sequence[np.ndarray], resolution: int) -> bytes:
    """Full-integer int8 .tflite bytes (uint8 input, int8 outputs) calibrated on ``images``."""
    import warnings

    import tensorflow as tf

    from ..targets.pi.tf_twin import new_converter

    conv = new_converter(concrete_fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_dataset(images, resolution)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": the converter calibrates
        warnings.simplefilter("ignore", UserWarning)
        with signals_deferred():  # native converter: take Ctrl-C after it returns
            return conv.convert()


def check_pixel_input(quant: Dict[str, Any] | None) -> None:
    """The int8 model's input must take pixels as they are (scale 1, zero point 0): a builder bug otherwise."""
    if quant is None or abs(float(quant["scale"]) - 1.0) > 1e-6 or int(quant["zero_point"]) != 0:
        raise EdgeError(f"the int8 model's input quantization is {quant}, not scale 1 / zero point 0",
                        "this is a bug in edgemnv2's int8 recipe; please report it")
