"""Bugs the old stand-ins hid (issue 15), reproduced against stand-ins that fail where TensorRT fails.

Each stand-in behaviour used here cites the NVIDIA source it mirrors in tests/trt_standins.py. These are
still STAND-INS: they show our code survives what TensorRT does there, not that TensorRT works.
"""

from __future__ import annotations

import shlex
import shutil

import numpy as np
import pytest
import trt_standins as standin

from edgemnv2.errors import EdgeError
from tests.support.photos import write_noise_folder

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def pending(tmp_path_factory):
    """Pending Jetson bundles built on this host: fp16 and int8 classifiers (a space in the path on purpose)."""
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.jetson.export import build_jetson_bundle

    tmp = tmp_path_factory.mktemp("faithful")
    calib = write_noise_folder(tmp / "calib", 5, (70, 90, 3), seed=5)
    out = {}
    for prec in ("fp16", "int8"):
        out[prec] = tmp / "my bundles" / prec
        build_jetson_bundle(BuildOptions(task="classify", out=out[prec], target="jetson", width_mult=0.35,
                                         resolution=96, num_classes=10, precision=prec, calib=calib, calib_count=5,
                                         max_drop=100.0))
    return out


@pytest.fixture
def copy_of(pending, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMNV2_CACHE_DIR", str(tmp_path / "cache"))

    def copy(prec):
        return shutil.copytree(pending[prec], tmp_path / prec)
    return copy


def _predict(root):
    from edgemnv2.predictor import Predictor

    with Predictor.from_bundle(root) as pred:
        return pred.predict(np.full((80, 80, 3), 120, np.uint8))


def test_tensorrt_85_nptype_fails_on_numpy_124_and_we_do_not_use_it(copy_of, monkeypatch):
    """JetPack 5 + numpy 1.24 (NVIDIA/TensorRT#2557): trt.nptype raises; building and running must not."""
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    trt = standin.install(monkeypatch, "8.5.2.2")
    monkeypatch.setattr(standin, "NUMPY", standin.Numpy124())  # JetPack 5's Python 3.8 gets numpy 1.24.4
    with pytest.raises(AttributeError):
        trt.nptype(trt.DataType.FLOAT)
    root = copy_of("fp16")
    eng = finish_jetson_bundle(root)["model"]["engine"]
    assert eng["io"][0]["dtype"] == "float32" and (root / "model.engine").is_file()
    assert len(_predict(root).top) == 5
    trt86 = standin.make_tensorrt("8.6.1.6")
    assert trt86.nptype(trt86.DataType.BOOL) is np.bool_  # fixed in 8.6


def _dynamic_batch_onnx(path):
    import torch

    from edgemnv2.models.zoo import build_model

    model = build_model("classify", 0.35, 10, 96).eval()
    torch.onnx.export(model, torch.zeros(1, 3, 96, 96), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13, dynamo=False)
    import onnx

    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"  # the file really is dynamic
    return path


def test_dynamic_batch_onnx_becomes_a_static_bundle(cli, tmp_path, monkeypatch):
    import onnx

    from edgemnv2.targets.jetson.engine import build_engine, finish_jetson_bundle

    dyn = _dynamic_batch_onnx(tmp_path / "dyn_batch.onnx")
    trt = standin.install(monkeypatch, "10.3.0.30")
    with pytest.raises(EdgeError, match=r"dynamic input shape \[-1, 3, 96, 96\]"):  # no profile: TensorRT -> None
        build_engine(trt, dyn.read_bytes(), "dyn_batch.onnx", ("FP16",), 64, None, None)
    out = tmp_path / "b"
    r = cli(["build", "--target", "jetson", "--task", "classify", "--weights", dyn, "--out", out])
    assert r.returncode == 0, r.stderr
    assert "fixed the dynamic input dims ['batch', 3, 96, 96]" in r.stderr
    model = onnx.load(str(out / "model.onnx"))
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 96, 96]
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, 10]
    monkeypatch.setenv("EDGEMNV2_CACHE_DIR", str(tmp_path / "cache"))
    eng = finish_jetson_bundle(out)["model"]["engine"]
    assert eng["io"][0]["shape"] == [1, 3, 96, 96] and eng["io"][1]["shape"] == [1, 10]
    assert len(_predict(out).top) == 5


def test_pending_hint_runs_as_printed(cli, pending, tmp_path):
    """predict and bench print one finish command; run as printed it gets as far as TensorRT's absence."""
    import importlib.util

    import cv2

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((40, 40, 3), np.uint8))
    hints = []
    for args in (["predict", "--bundle", pending["fp16"], img], ["bench", "--bundle", pending["fp16"], "--runs", "1",
                                                               "--report", tmp_path / "r.json"]):
        r = cli(args)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        hints.append(r.stderr.split("finish it on the Jetson: ")[1].strip().rstrip(")"))
    assert hints[0] == hints[1] == f"edgemnv2 build --target jetson --bundle {shlex.quote(str(pending['fp16']))}"
    argv = shlex.split(hints[0])
    r = cli(argv[1:])
    assert r.returncode == 1 and "TensorRT is not installed here" in r.stderr, r.stderr


def test_int8_on_a_dla_is_refused_on_the_host(cli, tmp_path):
    out = tmp_path / "dla"
    r = cli(["build", "--target", "jetson", "--task", "classify", "--width-mult", "0.35", "--resolution", "96",
             "--num-classes", "10", "--precision", "int8", "--calib", tmp_path, "--dla-core", "0", "--out", out])
    assert r.returncode == 1 and "does not run explicitly quantized (Q/DQ) int8" in r.stderr
    assert "--precision fp16 --dla-core N" in r.stderr and not out.exists() and "Traceback" not in r.stderr


def test_no_dla_cores_is_reported_before_the_build(copy_of, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = copy_of("fp16")
    trt = standin.install(monkeypatch, "10.3.0.30", gpu="NVIDIA GeForce RTX 3060", cc=(8, 6))
    assert trt.Builder(None).num_DLA_cores == 0  # a desktop GPU has no DLA
    trt = standin.install(monkeypatch, "10.3.0.30", gpu="Orin Nano (stand-in)")
    trt.Builder.num_DLA_cores = 0  # Orin Nano: compute 8.7 like AGX Orin, but no DLA
    with pytest.raises(EdgeError, match=r"this device has 0 DLA core\(s\) \(Orin Nano"):
        finish_jetson_bundle(root, dla_core=0)
    assert "Builder.build_serialized_network" not in standin.CALLS


def test_a_refused_timing_cache_is_replaced(copy_of, monkeypatch, tmp_path):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle, timing_cache_dir
    from edgemnv2.targets.jetson.versions import timing_cache_name

    root = copy_of("fp16")
    standin.install(monkeypatch, "8.5.2.2")
    cache = timing_cache_dir() / timing_cache_name("8.5.2.2", "Orin (stand-in)", "8.7")
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"a cache from another TensorRT")
    finish_jetson_bundle(root)
    assert standin.CALLS.count("BuilderConfig.set_timing_cache") == 2  # refused, then a fresh one
    assert cache.read_bytes().startswith(b"standin-timing-cache 8.5.2.2")


def test_runner_checks_tensor_addresses_and_execution(copy_of, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = copy_of("fp16")
    trt = standin.install(monkeypatch, "10.3.0.30")
    finish_jetson_bundle(root)
    engine = trt.Runtime(None).deserialize_cuda_engine((root / "model.engine").read_bytes())
    ctx = engine.create_execution_context()
    assert ctx.set_tensor_address("images", 1234) is True and ctx.set_tensor_address("nope", 1) is False
    assert ctx.execute_async_v3(0) is False  # 'logits' has no address: TensorRT refuses to enqueue
    context_cls = type(ctx)
    monkeypatch.setattr(context_cls, "set_tensor_address", lambda self, name, ptr: False)
    with pytest.raises(EdgeError, match="refused the buffer address of tensor 'images'"):
        _predict(root)


def test_engine_records_cuda_driver_and_runtime(copy_of, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    standin.install(monkeypatch, "10.3.0.30", cuda="cuda-python")
    eng = finish_jetson_bundle(copy_of("fp16"))["model"]["engine"]
    assert (eng["cuda_runtime"], eng["cuda_driver"], eng["cuda_bindings"]) == ("12.6", "12.2", "cuda-python")
    assert "cuda" not in eng


def test_selftest_turns_any_exception_into_a_fail_row(copy_of, monkeypatch):
    from edgemnv2.targets.jetson import selftest

    root = copy_of("fp16")
    np.savez(root / selftest.REF_FILE, input=np.zeros((1, 3, 96, 96), np.float32), **{"out:logits": np.zeros((1, 10))})
    trt = standin.install(monkeypatch, "8.5.2.2")

    def boom(self, network, config):
        raise RuntimeError("[TRT] [E] 2: [ltWrapper.cpp::setupHeuristic::327] Error Code 2: Internal Error\nmore")
    monkeypatch.setattr(trt.Builder, "build_serialized_network", boom)
    result = selftest.run_checks([root], lambda m: None)
    (row,) = result["rows"]
    assert not result["ok"] and row["error"] == ("RuntimeError: [TRT] [E] 2: [ltWrapper.cpp::setupHeuristic::327] "
                                                 "Error Code 2: Internal Error")
    assert "FAIL  RuntimeError" in selftest.format_report(result)


@pytest.mark.parametrize("version", ["8.5.2.2", "10.3.0.30"])
def test_bench_records_layer_times_and_precisions(version, copy_of, monkeypatch):
    from edgemnv2.bench.measure import BenchConfig, ModelRef, bench_model
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = copy_of("int8")
    standin.install(monkeypatch, version)
    finish_jetson_bundle(root)
    res = bench_model(ModelRef(bundle=root), BenchConfig(runs=2, warmup=0), np.zeros((60, 60, 3), np.uint8))
    layers = res["runtime"]["layers"]
    assert layers["verified_on_hardware"] is False and "error" not in layers, layers
    counts = layers["precision_counts"]
    assert counts.get("int8", 0) > 10 and "unknown" not in counts  # the stand-in: int8 wherever a DQ feeds
    assert all(x["median_ms"] is not None for x in layers["layers"]) and layers["layer_count"] == sum(counts.values())
    assert "Context.execute_async_v3" in standin.CALLS


def test_layer_precisions_need_a_detailed_engine(monkeypatch):
    """Built without ProfilingVerbosity.DETAILED the inspector lists names only: precisions are unknown."""
    import json

    from edgemnv2.targets.jetson.layers import engine_layers, layer_precision

    trt = standin.install(monkeypatch, "10.3.0.30")

    class Names:
        def create_engine_inspector(self):
            return self

        def get_engine_information(self, fmt):
            assert fmt == trt.LayerInformationFormat.JSON
            return json.dumps({"Layers": ["conv1", "relu1"]})
    assert engine_layers(trt, Names()) == [{"name": "conv1", "type": None, "precision": None},
                                           {"name": "relu1", "type": None, "precision": None}]
    assert layer_precision({"Outputs": [{"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]}) \
        == "fp16"
    assert layer_precision({"Outputs": [{"Format/Datatype": "Row major linear FP32"}]}) == "fp32"
