"""Numbers are finite (issue 11 item 2): NaN/Inf weights refused at load, parity and int8 checks fail on
non-finite outputs, ``predict --json`` never prints NaN; checkpoint dtypes are not cast silently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from edgemnv2.errors import EdgeError

torch = pytest.importorskip("torch")

BUILD = ["build", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--num-classes", "3"]


def _state_dict():
    from edgemnv2.models.zoo import build_model

    return build_model("classify", 0.35, 3, 96).state_dict()


def _error_line(r) -> str:
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_weights_are_refused_naming_the_tensor(tmp_path, bad):
    sd = _state_dict()
    sd["features.3.conv.1.0.weight"][0, 0, 0, 0] = bad
    w = tmp_path / "w.pt"
    torch.save(sd, w)
    out = tmp_path / "b"
    line = _error_line(run_cli([*BUILD, "--weights", w, "--out", out]))
    assert "'features.3.conv.1.0.weight' holds NaN/Inf (1 of" in line
    assert not out.exists()


def test_checkpoint_dtypes_are_not_cast_silently(tmp_path):
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in _state_dict().items()}
    w = tmp_path / "half.pt"
    torch.save(sd, w)
    r = run_cli([*BUILD, "--weights", w, "--out", tmp_path / "b"])
    assert r.returncode == 0, r.stderr
    assert "float16 tensors" in r.stderr and "converted to the model's float32" in r.stderr
    sd = _state_dict()
    sd["classifier.1.weight"] = (sd["classifier.1.weight"] * 100).to(torch.int32)
    torch.save(sd, w)
    line = _error_line(run_cli([*BUILD, "--weights", w, "--out", tmp_path / "c"]))
    assert "'classifier.1.weight' is int32 but the model's is float32" in line


def _nan_model_source():
    from edgemnv2.model_source import ModelSource
    from edgemnv2.models.zoo import build_model
    from edgemnv2.tasks.base import Task
    from edgemnv2.tasks.preprocess import IMAGENET

    model = build_model("classify", 0.35, 3, 96).eval()
    with torch.no_grad():
        model.classifier[1].weight[1, :] = float("nan")  # as if loaded by code that does not check
    return ModelSource(model, Task.classify, 0.35, 96, 3, ["a", "b", "c"], IMAGENET, "weights")


def test_parity_fails_on_nonfinite_outputs(tmp_path):
    from edgemnv2.targets.cpu.build import export_source, onnx_parity

    src = _nan_model_source()
    export_source(src, tmp_path / "m.onnx")
    with pytest.raises(EdgeError, match="output 'logits' holds NaN/Inf"):
        onnx_parity(src, tmp_path / "m.onnx")


@pytest.fixture(scope="module")
def nan_onnx(tmp_path_factory):
    from edgemnv2.targets.cpu.build import export_source

    path = tmp_path_factory.mktemp("nan") / "nan.onnx"
    export_source(_nan_model_source(), path)
    return path


def test_int8_check_fails_on_nonfinite_outputs(nan_onnx, cpu_bundles):
    from edgemnv2.calibration.evaluation import compare
    from edgemnv2.predictor import Predictor

    images = [np.random.default_rng(i).integers(0, 256, (96, 96, 3), dtype=np.uint8) for i in range(3)]
    ref = Predictor.from_model(cpu_bundles["classify"] / "model.onnx", "classify")
    with ref, Predictor.from_model(nan_onnx, "classify") as test:
        with pytest.raises(EdgeError, match="quantized model: output '.*' holds NaN/Inf"):
            compare("classify", ref, test, images)


def test_predict_json_never_prints_nan(nan_onnx, tmp_path):
    import cv2

    img = tmp_path / "img.png"
    cv2.imwrite(str(img), np.full((40, 40, 3), 128, np.uint8))
    r = run_cli(["predict", img, "--model", nan_onnx, "--task", "classify", "--json", "--top-k", "3"])
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "holds NaN/Inf" in r.stderr and "null" in r.stderr
    d = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON output"))
    assert None in [t["score"] for t in d["top"]]


def test_onnx_taken_as_is_with_nonfinite_outputs_is_refused(nan_onnx, tmp_path):
    out = tmp_path / "b"
    line = _error_line(run_cli(["build", "--task", "classify", "--weights", nan_onnx, "--out", out]))
    assert "holds NaN/Inf" in line and not out.exists()
