"""Third-party-style model files made honestly with TensorFlow's converter and onnx.helper (host side).

Each is a real model a user could bring: classifiers ending in a uint8 / int8 / float SOFTMAX or in
float logits, a segmenter with a dynamic input size, an ONNX detector with its own output names and
yxyx pixel boxes. The weights are fixed random numbers; the tests check semantics, not accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

RES = 32
CLASSES = 1000


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _classifier(softmax: bool, temperature: float) -> Callable[[Any], Any]:
    tf = _tf()
    rng = np.random.default_rng(0)
    k = rng.normal(0, 0.3, (3, 3, 3, 16)).astype(np.float32)
    w = rng.normal(0, 1.0, (16, CLASSES)).astype(np.float32)

    def fn(x: Any) -> Any:
        y = tf.nn.relu(tf.nn.conv2d(x / 255.0, k, 1, "SAME"))
        logits = tf.matmul(tf.reduce_mean(y, axis=[1, 2]), w) * temperature
        return tf.nn.softmax(logits) if softmax else logits

    return fn


def _convert(fn: Callable[[Any], Any], shape: list, int_type: Any = None) -> bytes:
    tf = _tf()
    cf = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name="image")]).get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    if int_type is not None:
        rng = np.random.default_rng(1)

        def data() -> Iterator[list]:
            for _ in range(8):
                yield [rng.integers(0, 256, [1, RES, RES, 3]).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = data
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = int_type
    return conv.convert()


def classifier(path: Path, kind: str) -> Path:
    """kind: uint8-softmax, int8-softmax (full-integer), float-softmax, float-logits."""
    tf = _tf()
    int_type = {"uint8-softmax": tf.uint8, "int8-softmax": tf.int8}.get(kind)
    # A flat distribution over 1000 classes: a uint8 softmax rounds most classes to 0, so it sums well under 1.
    fn = _classifier(kind != "float-logits", 1.2 if int_type is not None else 3.0)
    path.write_bytes(_convert(fn, [1, RES, RES, 3], int_type))
    return path


def dynamic_segmenter(path: Path, classes: int = 3) -> Path:
    """Input [1, -1, -1, 3] float; output (1, H, W, classes) logits at the input size: its shape is the size run."""
    tf = _tf()
    k = np.random.default_rng(2).normal(0, 0.3, (3, 3, 3, classes)).astype(np.float32)
    path.write_bytes(_convert(lambda x: tf.nn.conv2d(x / 255.0, k, 1, "SAME"), [1, None, None, 3]))
    return path


def onnx_yxyx_detector(path: Path, res: int = 64) -> Path:
    """ONNX detector, outputs ``det_boxes`` (1, 4, 4) yxyx in input pixels and ``det_scores`` (1, 4, 2) softmax.

    The four boxes are the image quadrants; a quadrant's class-1 score rises with its mean brightness
    (input 0..1), class 0 is background. A bright top-left quadrant must give one box there.
    """
    import onnx
    from onnx import TensorProto, helper

    h = res // 2
    quads = np.array([[0, 0, h, h], [0, h, h, res], [h, 0, res, h], [h, h, res, res]], np.float32)[None]  # yxyx
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[h, h], strides=[h, h]),  # 1,3,2,2
        helper.make_node("ReduceMean", ["pooled", "axes_c"], ["bright"], keepdims=1),  # 1,1,2,2
        helper.make_node("Reshape", ["bright", "shape_q"], ["b"]),  # 1,4,1 (row-major: TL, TR, BL, BR)
        helper.make_node("Sub", ["b", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["pos"]),
        helper.make_node("Neg", ["pos"], ["neg"]),
        helper.make_node("Concat", ["neg", "pos"], ["logits"], axis=2),
        helper.make_node("Softmax", ["logits"], ["det_scores"], axis=2),
        helper.make_node("Identity", ["quads"], ["det_boxes"]),
    ]
    inits = [helper.make_tensor("axes_c", TensorProto.INT64, [1], [1]),
             helper.make_tensor("shape_q", TensorProto.INT64, [3], [1, 4, 1]),
             helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
             helper.make_tensor("gain", TensorProto.FLOAT, [], [10.0]),
             helper.make_tensor("quads", TensorProto.FLOAT, list(quads.shape), quads.reshape(-1).tolist())]
    graph = helper.make_graph(nodes, "yxyx_detector",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, res, res])],
                              [helper.make_tensor_value_info("det_boxes", TensorProto.FLOAT, [1, 4, 4]),
                               helper.make_tensor_value_info("det_scores", TensorProto.FLOAT, [1, 4, 2])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
