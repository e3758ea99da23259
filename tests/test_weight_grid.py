"""int8 weight scales (``calibration.weight_grid``): weights already on a grid keep it, in the scale
maths and through both real int8 converters (TFLite's, onnxruntime's Q/DQ)."""

from __future__ import annotations

import numpy as np
import pytest

from edgemnv2.calibration.weight_grid import choose_scales, quantize, tensor_step

STEP = 0.0123


def _grid_weights(shape, kmax=127, seed=0, axis=0):
    """``STEP * k`` stored in fp16 (as the default weights are), with one ``|k| == kmax`` per channel."""
    rng = np.random.default_rng(seed)
    k = rng.integers(-kmax, kmax + 1, shape)
    per_channel = np.moveaxis(k, axis, 0).reshape(shape[axis], -1)
    per_channel[:, 0] = 1  # the smallest non-zero |k| is 1 step
    per_channel[:, 1] = kmax
    k = np.moveaxis(per_channel.reshape(np.moveaxis(k, axis, 0).shape), 0, axis)
    return (STEP * k).astype(np.float16).astype(np.float32), k


def test_grid_weights_keep_their_grid_exactly():
    w, k = _grid_weights((8, 3, 3, 4), kmax=100)
    grid = choose_scales(w, 0)
    assert grid.on_grid == grid.channels == 8
    np.testing.assert_allclose(grid.scales, STEP, rtol=1e-5)
    assert np.array_equal(quantize(w, grid.scales, 0), k)
    # the usual max|w|/127 scale would round them a second time: the case this module exists for
    usual = np.abs(w).reshape(8, -1).max(1) / 127
    assert not np.array_equal(np.round(w / usual[:, None, None, None]), k)


def test_float_trained_weights_keep_the_usual_scale():
    w = np.random.default_rng(1).normal(0, 0.1, (16, 8)).astype(np.float32)
    grid = choose_scales(w, 0)
    assert grid.on_grid == 0 and tensor_step(w) is None
    np.testing.assert_allclose(grid.scales, np.abs(w).max(1) / 127, rtol=1e-6)


def test_channels_beyond_127_steps_take_the_usual_scale():
    """uint8 sources can need up to 255 steps in a channel; int8 holds 127 of them."""
    w, _ = _grid_weights((4, 10), kmax=100)
    w[2, 1] = np.float32(STEP * 200)
    grid = choose_scales(w, 0)
    assert grid.on_grid == 3
    assert grid.scales[2] == pytest.approx(STEP * 200 / 127, rel=1e-3)


def test_hand_computed_cases():
    # steps 0.5: k = 1, -3, 2 (one channel, per tensor)
    w = np.array([0.5, -1.5, 1.0], np.float32)
    assert tensor_step(w) == pytest.approx(0.5)
    g = choose_scales(w, None)
    assert g.on_grid == 1 and g.scales.tolist() == [0.5]
    assert quantize(w, g.scales, None).tolist() == [1, -3, 2]
    # 2 and 3 steps with no 1-step weight: not recognised as a grid (1.5 steps off the 2-step guess)
    assert tensor_step(np.array([1.0, 1.5], np.float32)) is None
    # an all-zero channel gets a positive scale and zero weights
    z = choose_scales(np.zeros((2, 3), np.float32), 0)
    assert np.all(z.scales > 0) and not quantize(np.zeros((2, 3)), z.scales, 0).any()
    # depthwise layout: channels on the last axis
    w, k = _grid_weights((1, 3, 3, 6), kmax=90, axis=3)
    g = choose_scales(w, 3)
    assert g.on_grid == 6 and np.array_equal(quantize(w, g.scales, 3), k)


def test_tflite_int8_keeps_the_grid(tmp_path):
    """TensorFlow's converter, then ``regrid_weights``: int8 weights are the grid's integers and the
    int32 bias scale is input scale x weight scale, per channel (TFLite's rule); the model runs."""
    tf = pytest.importorskip("tensorflow")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from edgemnv2.calibration.tflite_int8 import _quantize, convert_int8
    from edgemnv2.targets.pi.tf_twin import InputAffine

    w, k = _grid_weights((3, 3, 3, 8), kmax=110, axis=3)  # HWIO: output channels last for tf.nn.conv2d
    bias = np.linspace(-0.5, 0.5, 8).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec((1, 32, 32, 3), tf.float32)])
    def net(x):
        y = tf.nn.relu6(tf.nn.conv2d(x, w, 1, "SAME") + bias)
        return tf.reduce_mean(y, axis=[1, 2])

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(4)]
    affine = InputAffine()
    model, counts = convert_int8(net.get_concrete_function(), images, 32, affine)
    assert counts == {"channels": 8, "on_grid": 8}
    plain = _quantize(net.get_concrete_function(), images, 32, affine)
    for data, on_grid in ((model, True), (plain, False)):
        it = litert.Interpreter(model_content=data)
        it.allocate_tensors()
        conv = next(op for op in it._get_ops_details() if op["op_name"] == "CONV_2D")
        t = {d["index"]: d for d in it.get_tensor_details()}
        wq, bq, xq = t[conv["inputs"][1]], t[conv["inputs"][2]], t[conv["inputs"][0]]
        ints = np.moveaxis(it.get_tensor(wq["index"]), 0, 3)  # OHWI -> HWIO
        assert np.array_equal(ints, k) is on_grid
        scales = wq["quantization_parameters"]["scales"]
        np.testing.assert_allclose(bq["quantization_parameters"]["scales"], xq["quantization"][0] * scales,
                                   rtol=1e-6)
        if on_grid:
            np.testing.assert_allclose(scales, STEP, rtol=1e-4)
        it.set_tensor(it.get_input_details()[0]["index"], rng.integers(-128, 127, (1, 32, 32, 3), dtype=np.int8))
        it.invoke()


def test_qdq_int8_keeps_the_grid(tmp_path):
    """onnxruntime's quantize_static with the TensorQuantOverrides ``quantize_qdq`` passes."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from edgemnv2.calibration.qdq import quantize_qdq
    from edgemnv2.tasks.preprocess import IMAGENET

    w, k = _grid_weights((8, 3, 3, 3), kmax=120)
    fc, kfc = _grid_weights((4, 8), kmax=60, seed=2)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1)],
        "grid", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(8, np.float32), "b"),
         numpy_helper.from_array(fc, "fc"), numpy_helper.from_array(np.zeros(4, np.float32), "fb")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    info = quantize_qdq(tmp_path / "m.onnx", tmp_path / "q.onnx", images, IMAGENET)
    assert info["weights_on_own_grid"] == {"channels": 9, "on_grid": 9}  # 8 Conv channels + the Gemm tensor
    q = onnx.load(str(tmp_path / "q.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    # AddQDQPairToWeight: float weights -> QuantizeLinear -> DequantizeLinear, as TensorRT takes them
    quant = {n.input[0]: n for n in q.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in inits}
    for name, want, axis in (("w", k, 0), ("fc", kfc, None)):
        scale = inits[quant[name].input[1]]
        np.testing.assert_allclose(scale, STEP, rtol=1e-3)
        assert np.array_equal(quantize(inits[name], scale, axis), want)
