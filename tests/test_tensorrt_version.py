"""The TensorRT version decisions (pure functions in targets/jetson/versions.py)."""

from __future__ import annotations

import pytest

from edgemnv2.targets.jetson import versions as tv


@pytest.mark.parametrize("text,expected", [
    ("8.5.2.2", (8, 5, 2)), ("10.3.0.30", (10, 3, 0)), ("11.0.0b1", (11, 0, 0)), ("8.2", (8, 2, 0)),
    ((10, 3), (10, 3, 0)), ("v10", (10, 0, 0)),
])
def test_parse_version(text, expected):
    assert tv.parse_version(text) == expected


def test_parse_version_rejects_garbage():
    with pytest.raises(ValueError):
        tv.parse_version("tensorrt")


@pytest.mark.parametrize("version,opset", [("8.2.1", 13), ("8.4.3", 13), ("8.5.2", 17), ("8.6.1", 17),
                                           ("9.2", 19), ("10.3.0", 20), ("10.15", 20), ("11.0", 24)])
def test_max_onnx_opset(version, opset):
    assert tv.max_onnx_opset(version) == opset


def test_jetson_export_opset_is_parsed_by_every_supported_version():
    opset = tv.export_opset_for_jetson()
    assert opset == 13  # first opset with per-axis Q/DQ; TensorRT 8.2 (JetPack 4.6) parses up to 13
    assert all(tv.max_onnx_opset(v) >= opset for v in ("8.2", "8.5", "10.3", "11.0"))


def test_feature_table_8_5_jetpack5():
    f = tv.features("8.5.2.2")
    assert f.explicit_batch_flag and f.name_api and f.memory_pool_limit and f.dla_supported
    assert not f.strongly_typed_only and not f.parser_error_node_name and f.max_onnx_opset == 17


def test_feature_table_10_jetpack6():
    f = tv.features("10.3.0.30")
    assert not f.explicit_batch_flag and f.name_api and f.parser_error_node_name and not f.strongly_typed_only


def test_feature_table_11():
    f = tv.features("11.0.0")
    assert f.strongly_typed_only and not f.dla_supported and f.name_api


def test_feature_table_old():
    assert not tv.features("8.2.1").memory_pool_limit and tv.features("8.4.0").memory_pool_limit
    assert not tv.features("8.2.1").name_api
    assert tv.use_name_api("8.5.1") and not tv.use_name_api("8.4.3")


def test_jetpack_table():
    """JetPack 6.0 ships TensorRT 8.6 (6.1 and 6.2: 10.3), and its versions' rules are 8.5's."""
    assert tv.JETPACK_TRT["6.0"] == "8.6" and tv.JETPACK_TRT["6.1"] == tv.JETPACK_TRT["6.2"] == "10.3"
    assert tv.features(tv.JETPACK_TRT["6.0"]).explicit_batch_flag and tv.max_onnx_opset("8.6") == 17


@pytest.mark.parametrize("text,expected", [
    ("# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref", {"l4t": "35.3.1", "jetpack": "5"}),
    ("# R36 (release), REVISION: 4.3, GCID: 38968081", {"l4t": "36.4.3", "jetpack": "6"}),
    ("#R32 (release),REVISION:7.1", {"l4t": "32.7.1", "jetpack": "4"}),
    ("something else\nmore", {"l4t": "something else", "jetpack": "unknown"}),
    ("", None),
])
def test_parse_l4t(text, expected):
    assert tv.parse_l4t(text) == expected


def test_numpy_dtype_table_is_ours():
    import numpy as np

    class DataType:  # pybind11 enums have .name
        def __init__(self, name):
            self.name = name

    assert tv.numpy_dtype(DataType("HALF")) == np.float16 and tv.numpy_dtype(DataType("BOOL")) == np.bool_
    assert tv.numpy_dtype("DataType.INT8") == np.int8 and tv.numpy_dtype(DataType("BF16")) is None


@pytest.mark.parametrize("cc,int8,fp16,dla", [
    ("5.3", False, True, False),  # Jetson Nano: fp16 only
    ("6.2", False, True, False),  # TX2
    ((6, 1), True, False, False),  # P4 / GTX 10xx
    ("7.2", True, True, True),  # Xavier
    ("8.7", True, True, True),  # Orin
    ("8.6", True, True, False),  # desktop Ampere
])
def test_capabilities(cc, int8, fp16, dla):
    assert tv.fast_int8(cc) is int8 and tv.fast_fp16(cc) is fp16 and tv.has_dla(cc) is dla


def test_precision_plans():
    assert tv.engine_precision_plan("8.5", "fp16") == tv.PrecisionPlan("fp32", ("FP16",), "BuilderFlag.FP16")
    assert tv.engine_precision_plan("10.3", "int8").flags == ("INT8", "FP16")
    assert tv.engine_precision_plan("10.3", "int8").onnx == "qdq"
    assert tv.engine_precision_plan("11.1", "fp16") == tv.PrecisionPlan("fp16", (), "fp16 ONNX, strongly typed")
    assert tv.engine_precision_plan("11.1", "int8").flags == ()
    with pytest.raises(ValueError, match="DLA"):
        tv.engine_precision_plan("11.0", "fp16", dla=True)
    for v in ("8.5", "10.3"):  # the DLA takes implicitly quantized int8 only, on every version
        with pytest.raises(ValueError, match="does not run explicitly quantized"):
            tv.engine_precision_plan(v, "int8", dla=True)
    assert tv.engine_precision_plan("10.3", "fp16", dla=True).flags == ("FP16", "GPU_FALLBACK")
    with pytest.raises(ValueError, match="fp16 or int8"):
        tv.engine_precision_plan("8.5", "fp32", dla=True)
    tv.check_dla_precision("fp16")


def test_timing_cache_name_keys_version_and_gpu():
    a = tv.timing_cache_name("8.5.2.2", "Orin", "8.7")
    assert a == "timing-trt8.5.2-orin-sm87.cache"
    assert a != tv.timing_cache_name("10.3.0", "Orin", "8.7") != tv.timing_cache_name("8.5.2", "Xavier", "7.2")


def test_engine_compat():
    rec = {"tensorrt": "8.5.2.2", "gpu": "Orin", "compute_capability": "8.7"}
    assert tv.check_engine_compat(rec, dict(rec)) is None
    assert "TensorRT 8.5.2.2" in tv.check_engine_compat(rec, dict(rec, tensorrt="10.3.0.30"))
    assert "compute 7.2" in tv.check_engine_compat(rec, dict(rec, gpu="Xavier", compute_capability="7.2"))
    assert tv.check_engine_compat(rec, dict(rec, tensorrt="8.5.2.1")) is not None  # plans need the exact build


def test_jetson_release_reads_the_file(tmp_path):
    f = tmp_path / "nv_tegra_release"
    f.write_text("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: ...\n")
    assert tv.jetson_release(str(f)) == {"l4t": "35.4.1", "jetpack": "5"}
    assert tv.jetson_release(str(tmp_path / "missing")) is None
