"""``edgemnv2 build --target jetson`` on a host without TensorRT (subprocess runs of the CLI)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.support.photos import write_noise_folder

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

if importlib.util.find_spec("tensorrt") is not None:  # these check the host (no TensorRT) behaviour
    pytest.skip("TensorRT is installed here", allow_module_level=True)


def test_host_build_says_engine_is_pending(cli, tmp_path):
    out = tmp_path / "seg"
    r = cli(["build", "--target", "jetson", "--task", "segment", "--width-mult", "0.35", "--resolution", "128",
             "--num-classes", "5", "--out", out])
    assert r.returncode == 0, r.stderr
    assert "TensorRT is not installed here" in r.stderr and f"edgemnv2 build --target jetson --bundle {out}" in r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["target"] == "jetson" and m["precision"] == "fp16"  # the Jetson default
    assert m["model"] == {"file": "model.engine", "format": "tensorrt", "pending": True,
                          "onnx": {"fp32": "model.onnx", "fp16": "model.fp16.onnx"}, "opset": 13, "min_tensorrt": "8.2"}
    assert m["reports"]["fp16_onnx"]["max_abs_diff"] < 1e-2
    r = cli(["predict", "--bundle", out, tmp_path / "missing.png"])
    assert r.returncode == 1 and f"finish it on the Jetson: edgemnv2 build --target jetson --bundle {out}" in r.stderr


def test_int8_gate_and_bad_options_fail_cleanly(cli, tmp_path):
    calib = write_noise_folder(tmp_path / "calib", 5, (64, 64, 3), seed=0)
    out = tmp_path / "cls"
    base = ["build", "--target", "jetson", "--task", "classify", "--width-mult", "0.35", "--resolution", "96",
            "--num-classes", "10", "--out", out]
    r = cli(base + ["--precision", "int8", "--calib", calib, "--max-drop", "-1"])
    assert r.returncode == 1 and "--max-drop -1 is not a number of points" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    r = cli(base + ["--precision", "int8"])
    assert r.returncode == 1 and "int8 needs calibration images" in r.stderr and not out.exists()
    r = cli(base + ["--precision", "fp32", "--dla-core", "0"])
    assert r.returncode == 1 and "DLA runs fp16 or int8 only, not fp32" in r.stderr and not out.exists()
