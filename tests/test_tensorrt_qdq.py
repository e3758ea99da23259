"""Q/DQ int8 ONNX for TensorRT: the quantizer's output form and the conformance checker (real onnx/onnxruntime)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from edgemnv2.calibration.qdq_check import check_onnx_for_tensorrt, require_conformant
from edgemnv2.errors import EdgeError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny classifier exported at the Jetson opset, and its Q/DQ version calibrated on a few images."""
    from edgemnv2.calibration.qdq import quantize_qdq
    from edgemnv2.export import export_onnx
    from edgemnv2.models.zoo import build_model, model_outputs
    from edgemnv2.targets.jetson.versions import export_opset_for_jetson
    from edgemnv2.tasks.preprocess import IMAGENET

    tmp = tmp_path_factory.mktemp("qdq")
    model = build_model("classify", 0.35, 10, 96)
    export_onnx(model, tmp / "fp32.onnx", 96, model_outputs("classify"), opset=export_opset_for_jetson())
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (80 + 7 * i, 100, 3), dtype=np.uint8) for i in range(4)]
    info = quantize_qdq(tmp / "fp32.onnx", tmp / "qdq.onnx", images, IMAGENET)
    return tmp / "fp32.onnx", tmp / "qdq.onnx", info


def _load(path):
    return onnx.load(str(path))


def _qdq_nodes(model, op="QuantizeLinear"):
    return [n for n in model.graph.node if n.op_type == op]


def _init(model, name):
    return next(t for t in model.graph.initializer if t.name == name)


def _replace(model, name, array):
    t = _init(model, name)
    t.CopyFrom(numpy_helper.from_array(array, name))


def _activation_q(model):
    inits = {t.name for t in model.graph.initializer}
    return next(n for n in _qdq_nodes(model) if n.input[0] not in inits)


def _weight_q(model):
    inits = {t.name for t in model.graph.initializer}
    return next(n for n in _qdq_nodes(model) if n.input[0] in inits and
                numpy_helper.to_array(_init(model, n.input[1])).size > 1)


def test_quantizer_output_is_the_documented_form(models):
    _, qdq, info = models
    m = _load(qdq)
    assert info["quantize_nodes"] > 50 and info["opset"] == 13
    assert info["extra_options"]["ActivationSymmetric"] and info["extra_options"]["QuantizeBias"] is False
    zps = [numpy_helper.to_array(_init(m, n.input[2])) for n in _qdq_nodes(m) + _qdq_nodes(m, "DequantizeLinear")]
    assert all(z.dtype == np.int8 and not z.any() for z in zps)
    w = _weight_q(m)
    axis = next(a.i for a in w.attribute if a.name == "axis")
    assert axis == 0 and numpy_helper.to_array(_init(m, w.input[1])).size == _init(m, w.input[0]).dims[0]


@pytest.mark.parametrize("version", ["8.5", "10.3", "11.0"])
def test_checker_accepts_the_exporters_qdq_output(models, version):
    fp32, qdq, _ = models
    rep = require_conformant(qdq, version)
    assert rep.ok and rep.per_channel > 0 and rep.quantize_nodes == rep.dequantize_nodes
    assert check_onnx_for_tensorrt(fp32, "8.2").ok  # the fp32 export parses on JetPack 4.6 too


def test_checker_rejects_uint8(models):
    m = _load(models[1])
    q = _activation_q(m)
    _replace(m, q.input[2], np.array(0, np.uint8))
    rep = check_onnx_for_tensorrt(m, "8.5")
    assert not rep.ok and any("uint8" in p and "int8" in p for p in rep.problems)


def test_checker_rejects_nonzero_zero_point(models):
    m = _load(models[1])
    q = _activation_q(m)
    _replace(m, q.input[2], np.array(3, np.int8))
    rep = check_onnx_for_tensorrt(m, "10.3")
    assert any("zero-point is not 0" in p for p in rep.problems)
    with pytest.raises(EdgeError, match="not in the form TensorRT 10.3 accepts: .*zero-point is not 0"):
        require_conformant(m, "10.3")


def test_checker_rejects_scale_count_mismatches(models):
    m = _load(models[1])
    w = _weight_q(m)
    scale = numpy_helper.to_array(_init(m, w.input[1]))
    zp = numpy_helper.to_array(_init(m, w.input[2]))
    _replace(m, w.input[1], scale[:-1].copy())
    _replace(m, w.input[2], zp[:-1].copy())
    rep = check_onnx_for_tensorrt(m, "8.5")
    assert any(f"{scale.size - 1} scales for dims[0] = {scale.size}" in p for p in rep.problems)

    m2 = _load(models[1])  # an activation (per-tensor only) given 3 scales
    a = _activation_q(m2)
    _replace(m2, a.input[1], np.array([0.1, 0.2, 0.3], np.float32))
    _replace(m2, a.input[2], np.zeros(3, np.int8))
    rep2 = check_onnx_for_tensorrt(m2, "8.5")
    assert any("per-channel scales (3) on an activation" in p for p in rep2.problems)


def test_checker_rejects_opset_too_new_for_declared_version(models):
    m = _load(models[1])
    for imp in m.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = 18
    assert any("opset 18 is newer than TensorRT 8.5's parser accepts (max 17)" in p
               for p in check_onnx_for_tensorrt(m, "8.5.2").problems)
    assert check_onnx_for_tensorrt(m, "10.3").ok  # 10.x parses opset 18
    m13 = _load(models[0])
    for imp in m13.opset_import:
        imp.version = 14
    assert not check_onnx_for_tensorrt(m13, "8.2").ok


def test_checker_other_rules(models):
    m = _load(models[1])
    q = copy.deepcopy(_activation_q(m))
    node = _activation_q(m)
    del node.input[2]  # zero-point omitted: uint8 by ONNX's default, and TensorRT 8.5 needs 3 inputs
    assert any("needs 3" in p for p in check_onnx_for_tensorrt(m, "8.5").problems)
    m = _load(models[1])
    _replace(m, _activation_q(m).input[1], np.array(-0.5, np.float32))
    assert any("> 0" in p for p in check_onnx_for_tensorrt(m, "8.5").problems)
    m = _load(models[1])
    _replace(m, _activation_q(m).input[1], np.array(0.5, np.float16))
    assert any("float16" in p for p in check_onnx_for_tensorrt(m, "8.5").problems)
    assert check_onnx_for_tensorrt(m, "10.3").ok  # fp16 scales are accepted from 10
    m.graph.node.append(helper.make_node("Hardmax", [q.output[0]], ["hm"]))
    assert any("Hardmax" in p for p in check_onnx_for_tensorrt(m, "10.3").problems)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], domain="com.example")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    custom = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    assert any("custom op domain" in p for p in check_onnx_for_tensorrt(custom, "8.5").problems)


def test_calibration_reader_uses_the_shared_preprocessing():
    from edgemnv2.calibration.qdq import ImageReader
    from edgemnv2.tasks.preprocess import IMAGENET, InputFormat, preprocess

    img = np.random.default_rng(5).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    reader = ImageReader([img, img], "images", 32, IMAGENET)
    first = reader.get_next()["images"]
    np.testing.assert_array_equal(first, preprocess(img, InputFormat(32, 32, "NCHW", "float32"), IMAGENET))
    assert reader.get_next() is not None and reader.get_next() is None
    reader.rewind()
    assert reader.get_next() is not None


def test_unreadable_model_is_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all \x00\xff")
    with pytest.raises(EdgeError, match="not a readable ONNX model"):
        check_onnx_for_tensorrt(bad, "8.5")
