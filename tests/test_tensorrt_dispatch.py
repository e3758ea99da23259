"""Jetson builder and runner version dispatch, against STAND-INS for TensorRT 8.2 / 8.5 / 10.x / 11.x.

The stand-ins (tests/trt_standins.py) reproduce which API each TensorRT version has; they are not
TensorRT. These tests check OUR dispatch: which calls the builder and runner make on each version,
what the engine manifest records, that the runner's buffers and I/O names line up, the load-time
version/GPU check, the Nano int8 refusal and parser error reporting. Real-GPU checks live in
test_tensorrt_device.py (marker ``tensorrt``) and ``edgemnv2 selftest --target jetson``.
"""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import trt_standins as standin

from edgemnv2.bundle import load_bundle
from edgemnv2.errors import EdgeError
from edgemnv2.model_source import BuildOptions
from edgemnv2.predictor import Predictor
from tests.support.photos import write_noise_folder

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def host_bundles(tmp_path_factory):
    """Jetson bundles built on this host (no TensorRT): pending engines, ONNX inside."""
    from edgemnv2.targets.jetson.export import build_jetson_bundle

    tmp = tmp_path_factory.mktemp("jetson-host")
    calib = write_noise_folder(tmp / "calib", 6, (90, 110, 3), seed=1)
    out = {}
    for name, task, res, ncls, prec in (("cls16", "classify", 96, 10, "fp16"), ("cls8", "classify", 96, 10, "int8"),
                                        ("det16", "detect", 160, 4, "fp16")):
        out[name] = tmp / name
        build_jetson_bundle(BuildOptions(task=task, out=out[name], target="jetson", width_mult=0.35, resolution=res,
                                         num_classes=ncls, precision=prec, calib=calib, calib_count=6,
                                         max_drop=100.0))
    return out


@pytest.fixture
def bundle_copy(host_bundles, tmp_path):
    def copy(name):
        dst = tmp_path / name
        shutil.copytree(host_bundles[name], dst)
        return dst
    return copy


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMNV2_CACHE_DIR", str(tmp_path / "cache"))


def test_host_bundle_is_pending_and_says_so(host_bundles):
    b = load_bundle(host_bundles["cls16"])
    assert b.manifest["model"]["pending"] is True and not (b.root / "model.engine").exists()
    assert set(b.manifest["files"]) == {"model.onnx", "model.fp16.onnx", "labels.txt"}
    assert any("edgemnv2 build --target jetson --bundle" in w for w in b.manifest["warnings"])
    assert b.manifest["model"]["opset"] == 13
    assert b.manifest["reports"]["tensorrt_checks"]["model.onnx"]["ok"]
    with pytest.raises(EdgeError, match="on the Jetson"):
        Predictor.from_bundle(b)
    q = load_bundle(host_bundles["cls8"]).manifest
    assert q["reports"]["tensorrt_checks"]["model.qdq.onnx"]["ok"] and q["calibration"]["held_out"] >= 1
    assert q["reports"]["accuracy"]["evaluated_with"].startswith("onnxruntime, graph optimisations disabled")


def _reference(bundle, onnx_name, image):
    from edgemnv2.targets.cpu.runner import OnnxRuntimeRunner

    b = load_bundle(bundle)
    pred = Predictor(OnnxRuntimeRunner(bundle / onnx_name, optimize=False), b.task, b.labels, b.normalization,
                     b.manifest)
    with pred:
        return pred.runner.infer(pred.preprocess(image))


@pytest.mark.parametrize("version,expect_network_flags,onnx_used,flags", [
    ("8.5.2.2", 1, "model.onnx", ["FP16"]),  # EXPLICIT_BATCH, FP16 flag
    ("10.3.0.30", 0, "model.onnx", ["FP16"]),  # no explicit-batch flag from 10
    ("11.0.0.7", 0, "model.fp16.onnx", []),  # strongly typed: precision from the ONNX, no flags
])
def test_finish_and_run_fp16(version, expect_network_flags, onnx_used, flags, bundle_copy, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls16")
    standin.install(monkeypatch, version)
    manifest = finish_jetson_bundle(root, workspace_mb=256)
    calls = list(standin.CALLS)
    assert f"Builder.create_network({expect_network_flags})" in calls
    assert [c for c in calls if c.startswith("BuilderConfig.set_flag")] == [f"BuilderConfig.set_flag({f})"
                                                                             for f in flags]
    assert "BuilderConfig.set_memory_pool_limit" in calls
    eng = manifest["model"]["engine"]
    assert eng["tensorrt"] == version and eng["compute_capability"] == "8.7" and eng["precision"] == "fp16"
    assert eng["onnx_file"] == onnx_used and eng["gpu"] == "Orin (stand-in)" and eng["cuda_bindings"] == "pycuda"
    assert [t["name"] for t in eng["io"]] == ["images", "logits"] and eng["io"][0]["shape"] == [1, 3, 96, 96]
    assert "pending" not in manifest["model"] and (root / "model.engine").is_file()
    assert (root.parent / "cache" / "tensorrt" / f"timing-trt{'.'.join(version.split('.')[:3])}-orin-stand-in-sm87"
            ".cache").is_file()
    b = load_bundle(root)  # hashes of the engine and every ONNX verify
    assert b.model_format == "tensorrt" and "model.engine" in b.manifest["files"]

    image = np.random.default_rng(0).integers(0, 255, (120, 100, 3), dtype=np.uint8)
    standin.CALLS.clear()
    with Predictor.from_bundle(root) as pred:
        raw = pred.runner.infer(pred.preprocess(image))
        result = pred.predict(image)
        assert pred.runner.describe()["io_api"].startswith("name")
    assert "Context.execute_async_v3" in standin.CALLS and "Context.execute_async_v2" not in standin.CALLS
    assert standin.CALLS.index("memcpy_htod_async") < standin.CALLS.index("Context.execute_async_v3") \
        < standin.CALLS.index("memcpy_dtoh_async") < standin.CALLS.index("Stream.synchronize")
    ref = _reference(root, onnx_used, image)
    np.testing.assert_allclose(raw["logits"], ref["logits"], rtol=0, atol=1e-6)
    from edgemnv2.tasks.base import softmax

    assert result.top[0].score == pytest.approx(float(softmax(ref["logits"][0]).max()), abs=1e-6)


def test_bindings_api_before_8_5_on_nano(bundle_copy, monkeypatch):
    """TensorRT 8.2 (JetPack 4.6, Nano): bindings API, max_workspace_size, fp16 works."""
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("det16")
    standin.install(monkeypatch, "8.2.1.8", gpu="NVIDIA Tegra X1", cc=(5, 3))
    manifest = finish_jetson_bundle(root)
    assert "BuilderConfig.set_memory_pool_limit" not in standin.CALLS  # 8.2 uses max_workspace_size
    assert manifest["model"]["engine"]["compute_capability"] == "5.3"
    image = np.random.default_rng(2).integers(0, 255, (200, 160, 3), dtype=np.uint8)
    with Predictor.from_bundle(root) as pred:
        raw = pred.runner.infer(pred.preprocess(image))
        pred.predict(image)
    assert "Context.execute_async_v2" in standin.CALLS and "Context.execute_async_v3" not in standin.CALLS
    ref = _reference(root, "model.onnx", image)
    for k in ("boxes", "scores"):
        np.testing.assert_allclose(raw[k], ref[k], rtol=0, atol=1e-6)


@pytest.mark.parametrize("version,flags", [("8.5.2.2", ["INT8", "FP16"]), ("10.3.0.30", ["INT8", "FP16"]),
                                           ("11.1.0.2", [])])
def test_int8_builds_from_qdq(version, flags, bundle_copy, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls8")
    standin.install(monkeypatch, version)
    eng = finish_jetson_bundle(root)["model"]["engine"]
    assert eng["onnx_file"] == "model.qdq.onnx" and eng["builder_flags"] == flags
    assert eng["calibration_sha256"] and eng["conformance"]["checked"] and eng["conformance"]["ok"]
    image = np.random.default_rng(3).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    with Predictor.from_bundle(root) as pred:
        raw = pred.runner.infer(pred.preprocess(image))
    np.testing.assert_allclose(raw["logits"], _reference(root, "model.qdq.onnx", image)["logits"], atol=1e-6)


def test_int8_refused_on_nano(bundle_copy, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls8")
    before = (root / "manifest.json").read_text()
    standin.install(monkeypatch, "8.2.1.8", gpu="NVIDIA Tegra X1", cc=(5, 3))
    with pytest.raises(EdgeError, match="fast int8") as e:
        finish_jetson_bundle(root)
    assert "--precision fp16" in str(e.value) and "Jetson Nano" in str(e.value)
    assert (root / "manifest.json").read_text() == before and not (root / "model.engine").exists()


def test_engine_mismatch_gives_rebuild_command(bundle_copy, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls16")
    standin.install(monkeypatch, "8.5.2.2")
    finish_jetson_bundle(root)
    standin.install(monkeypatch, "10.3.0.30")  # JetPack upgraded
    with pytest.raises(EdgeError) as e:
        Predictor.from_bundle(root).activate()
    msg = str(e.value)
    assert "built with TensorRT 8.5.2.2" in msg and "10.3.0.30" in msg
    assert f"edgemnv2 build --target jetson --bundle {root}" in msg and "\n" not in msg
    standin.install(monkeypatch, "8.5.2.2", gpu="Xavier (stand-in)", cc=(7, 2))  # another board
    with pytest.raises(EdgeError, match="compute 8.7.*compute 7.2"):
        Predictor.from_bundle(root).activate()
    # without a manifest the engine itself is refused by (stand-in) TensorRT: still one line + rebuild hint
    from edgemnv2.targets.jetson.runner import TensorRTRunner

    standin.install(monkeypatch, "10.3.0.30")
    with pytest.raises(EdgeError, match="cannot deserialize"):
        TensorRTRunner(root / "model.engine").activate()


def test_cuda_python_fallback_and_thread_ownership(bundle_copy, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls16")
    standin.install(monkeypatch, "10.3.0.30", cuda="cuda-python")
    assert finish_jetson_bundle(root)["model"]["engine"]["cuda_bindings"] == "cuda-python"
    image = np.random.default_rng(4).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    with Predictor.from_bundle(root) as pred:
        raw = pred.runner.infer(pred.preprocess(image))
        assert pred.runner.describe()["cuda_bindings"] == "cuda-python"
    assert "cudaMemcpyAsync" in standin.CALLS
    np.testing.assert_allclose(raw["logits"], _reference(root, "model.onnx", image)["logits"], atol=1e-6)

    # pycuda: the context is pushed by whichever thread does the work and popped after
    standin.install(monkeypatch, "10.3.0.30")
    drv = __import__("sys").modules["pycuda.driver"]
    pred = Predictor.from_bundle(root).activate()
    results = {}

    def worker():
        results["out"] = pred.runner.infer(pred.preprocess(image))
        results["depth"] = drv.Context.depth()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    pred.deactivate()
    assert drv.Context.depth() == 0 and results["depth"] == 0
    assert t.ident in drv.pushes and threading.get_ident() in drv.pushes
    np.testing.assert_allclose(results["out"]["logits"], raw["logits"], atol=1e-6)


def test_dla_settings(bundle_copy, monkeypatch):
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls16")
    standin.install(monkeypatch, "8.5.2.2")
    eng = finish_jetson_bundle(root, dla_core=1)["model"]["engine"]
    assert eng["dla"] == {"core": 1, "gpu_fallback": True} and eng["builder_flags"] == ["FP16", "GPU_FALLBACK"]
    assert json.loads((root / "model.engine").read_bytes()[len(standin.MAGIC):].split(b"\n")[0])["dla"] == 1
    with pytest.raises(EdgeError, match=r"--dla-core 2: this device has 2 DLA core\(s\) \(0..1\)"):
        finish_jetson_bundle(root, dla_core=2)  # the stand-in builder reports num_DLA_cores = 2
    standin.install(monkeypatch, "10.3.0.30", gpu="NVIDIA GeForce RTX 3060", cc=(8, 6))
    with pytest.raises(EdgeError, match="has no DLA"):
        finish_jetson_bundle(root, dla_core=0)


def test_parser_errors_name_the_node(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper

    from edgemnv2.targets.jetson.engine import build_engine

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="relu0"),
                               helper.make_node("Hardmax", ["r"], ["y"], name="head")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    trt = standin.install(monkeypatch, "10.3.0.30")
    with pytest.raises(EdgeError, match=r"TensorRT 10.3.0 cannot parse m.onnx: node 1 \(Hardmax 'head'\)"):
        build_engine(trt, data, "m.onnx", (), 64, None, None)
    trt = standin.install(monkeypatch, "8.5.2.2")  # no node_name() on 8.5: index only
    with pytest.raises(EdgeError, match=r"cannot parse m.onnx: node 1: No importer"):
        build_engine(trt, data, "m.onnx", (), 64, None, None)
    too_new = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(EdgeError, match="opset 18"):
        build_engine(trt, too_new.SerializeToString(), "m.onnx", (), 64, None, None)
    assert onnx.checker.check_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])) is None


def test_finish_without_tensorrt_is_one_clear_line(host_bundles, cli):
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    r = cli(["build", "--target", "jetson", "--bundle", host_bundles["cls16"]])
    assert r.returncode == 1
    assert "TensorRT is not installed here" in r.stderr and "--system-site-packages" in r.stderr
    assert "Traceback" not in r.stderr


def test_device_finish_without_host_packages(bundle_copy, monkeypatch):
    """A Jetson has TensorRT but usually no torch / onnx / onnxruntime: finishing and running still work."""
    import sys

    from edgemnv2.targets.jetson.engine import finish_jetson_bundle

    root = bundle_copy("cls8")
    standin.install(monkeypatch, "8.5.2.2")
    for name in ("torch", "onnx", "onnxruntime", "tensorflow", "onnxslim"):
        monkeypatch.setitem(sys.modules, name, None)  # "import onnx" now raises ImportError
    eng = finish_jetson_bundle(root)["model"]["engine"]
    assert eng["conformance"]["checked"] is False and "host checked" in eng["conformance"]["note"]
    with Predictor.from_bundle(root) as pred:
        out = pred.predict(np.zeros((64, 64, 3), np.uint8))
    assert len(out.top) == 5


def test_int8_quality_on_a_labelled_set(tmp_path):
    """opts.eval_data (as on the Pi target): every --calib image calibrates, the labelled set evaluates."""
    import cv2

    from edgemnv2.targets.jetson.export import build_jetson_bundle

    rng = np.random.default_rng(3)
    for folder in ("calib/a", "lab/class_0", "lab/class_3"):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(tmp_path / folder / f"{i}.png"), rng.integers(0, 255, (70, 90, 3), dtype=np.uint8))
    m = build_jetson_bundle(BuildOptions(task="classify", out=tmp_path / "b", target="jetson", width_mult=0.35,
                                         resolution=96, num_classes=10, precision="int8", calib=tmp_path / "calib",
                                         calib_count=3, max_drop=100.0, eval_data=tmp_path / "lab"))
    acc = m["reports"]["accuracy"]
    assert acc["basis"] == "labels" and acc["labelled_images"] == 6 and acc["evaluated_on"].endswith("lab")
    assert m["calibration"]["count"] == 3 and m["calibration"]["held_out"] == 0
