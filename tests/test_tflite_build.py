"""Pi bundles: fp32 / fp16 / int8 TFLite for the three tasks, run on LiteRT and on tflite-runtime 2.14.

The bundles are tiny (width 0.35, 96-128 px) and built once per session from weights with random
BatchNorm statistics (so BN folding is really exercised), saved to a temporary file and passed as
``--weights``. Their int8 quality numbers are meaningless (random weights); int8 quality on a trained
model is tested in test_tflite_quality.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from tests.support.photos import write_photo_folder
from tests.support.tflite_envs import RUNTIMES, predict_json, python_for

pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

TINY = {"classify": (0.35, 96, 5), "detect": (0.35, 128, 5), "segment": (0.35, 96, 5)}


def _random_weights(task: str, path: Path) -> Path:
    from edgemnv2.models.weights import save_weights
    from edgemnv2.models.zoo import build_model

    width, res, ncls = TINY[task]
    torch.manual_seed(0)
    model = build_model(task, width, ncls, res)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            elif isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 0.5, generator=g)
    save_weights(model, path)
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    return write_photo_folder(tmp_path_factory.mktemp("photos"), 15, seed=3)


@pytest.fixture(scope="session")
def pi_bundles(tmp_path_factory, photos: Path) -> Dict[str, Path]:
    """{"<task>-<precision>": bundle dir} for fp32 and int8 of every task, plus classify fp16."""
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle

    tmp = tmp_path_factory.mktemp("pi-bundles")
    out: Dict[str, Path] = {}
    for task, (width, res, ncls) in TINY.items():
        weights = _random_weights(task, tmp / f"{task}.safetensors")
        precisions = ("fp32", "int8", "fp16") if task == "classify" else ("fp32", "int8")
        for prec in precisions:
            key = f"{task}-{prec}"
            build_pi_bundle(BuildOptions(task=task, out=tmp / key, target="pi", weights=weights, width_mult=width,
                                         resolution=res, num_classes=ncls, precision=prec,
                                         calib=photos if prec == "int8" else None, calib_count=15, max_drop=100))
            out[key] = tmp / key
    return out


KEYS = [f"{t}-{p}" for t in TINY for p in ("fp32", "int8")]


@pytest.mark.parametrize("key", KEYS + ["classify-fp16"])
def test_manifest_records_input_contract_parity_and_quantization(pi_bundles, key: str) -> None:
    from edgemnv2.bundle import load_bundle

    b = load_bundle(pi_bundles[key])
    task, prec = key.split("-")
    width, res, ncls = TINY[task]
    m = b.manifest
    assert (b.target, b.precision, b.model_format, b.task.value) == ("pi", prec, "tflite", task)
    inp = m["input"]
    assert inp["layout"] == "NHWC" and inp["shape"] == [1, res, res, 3]
    # normalisation in the graph; int8 input = pixel - 128 (per-channel means: ImageNet's)
    assert inp["mean"] == ([128.0] * 3 if prec == "int8" else [0.0] * 3) and inp["std"] == [1.0, 1.0, 1.0]
    assert inp["normalization_in_graph"]["std"] == pytest.approx([58.395, 57.12, 57.375])
    if prec == "int8":
        assert inp["dtype"] == "int8" and inp["quantization"] == {"scale": 1.0, "zero_point": 0}
        assert all(o["dtype"] == "int8" and "quantization" in o for o in m["outputs"])
        cal = m["calibration"]
        assert cal["count"] == 12 and cal["held_out"] == 3 and len(cal["image_list_sha256"]) == 64
        assert "representative_dataset" in cal["method"]
        acc = m["reports"]["accuracy"]
        assert acc["images"] == 3 and 0 <= acc["agreement"] <= 100 and "drop" not in acc  # no labels: agreement
        assert acc["gate"]["verdict"] == "not judged (n=3)" and any("not judged (n=3)" in w for w in m["warnings"])
        assert any("random weights" in w for w in m["warnings"]) is False  # weights came from a file
        ops = m["model"]["ops"]
        assert "DEQUANTIZE" not in ops and "QUANTIZE" not in ops  # full integer, int8 input: no (de)quantize
    else:
        assert inp["dtype"] == "float32" and "quantization" not in inp and m["calibration"] is None
    assert not {"SHAPE", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} & set(m["model"]["ops"])  # static, native dilation
    parity = m["reports"]["parity"]
    limit = 1e-4 if task == "classify" else 1e-3
    assert 0 < parity["max_abs_diff"] <= limit, parity
    names = [o["name"] for o in m["outputs"]]
    assert names == {"classify": ["logits"], "detect": ["boxes", "scores"], "segment": ["logits"]}[task]
    assert all(o.get("runtime_name") for o in m["outputs"])
    if task == "segment":
        assert m["outputs"][0]["shape"] == [1, res, res, ncls] and m["outputs"][0]["layout"] == "NHWC"


def _raw_outputs_script() -> str:
    return (
        "import sys, json, numpy as np\n"
        "from edgemnv2.predictor import Predictor\n"
        "from edgemnv2.imageio import read_rgb\n"
        "res = {}\n"
        "for d in sys.argv[2:]:\n"
        "    with Predictor.from_bundle(d, threads=1) as p:\n"
        "        raw = p.infer(p.preprocess(read_rgb(sys.argv[1])))\n"
        "        res[d] = {k: v.tolist() for k, v in raw.items()}\n"
        "        res[d]['_runtime'] = p.runner.describe()['runtime']\n"
        "print(json.dumps(res))\n")


def test_same_raw_outputs_on_litert_and_tflite_runtime_214(pi_bundles, photos: Path) -> None:
    """Every bundle gives the same raw tensors on both runtimes (fp32 ~1e-5; int8 within a few LSB)."""
    py214 = python_for("tflite_runtime")
    image = sorted(photos.iterdir())[0]
    dirs = [str(pi_bundles[k]) for k in KEYS + ["classify-fp16"]]
    runs = {}
    for name, py in (("litert", None), ("tflite214", py214)):
        import sys

        proc = subprocess.run([py or sys.executable, "-c", _raw_outputs_script(), str(image), *dirs],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    for d in dirs:
        a, b = runs["litert"][d], runs["tflite214"][d]
        assert a.pop("_runtime") == "ai_edge_litert" and b.pop("_runtime") == "tflite_runtime"
        for k in a:
            x, y = np.asarray(a[k]), np.asarray(b[k])
            assert x.shape == y.shape
            if "int8" in d:
                # Different int8 kernels (XNNPACK vs tflite-runtime's own) round differently; a few LSB at most.
                diff = np.abs(x - y)
                assert diff.max() <= 4 and diff.mean() <= 1.0, (d, k, diff.max(), diff.mean())
            else:
                assert np.abs(x - y).max() <= 1e-4 * max(1.0, np.abs(x).max()), (d, k)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("key", KEYS)
def test_predict_cli_on_both_runtimes(pi_bundles, photos: Path, key: str, runtime: str) -> None:
    """``edgemnv2 predict --bundle`` works on LiteRT and in the tflite-runtime 2.14 environment."""
    image = sorted(photos.iterdir())[1]
    args = [image, "--bundle", pi_bundles[key]]
    if key.startswith("detect"):
        args += ["--score-threshold", "0.01"]
    out = predict_json(args, runtime)
    assert len(out) == 1 and out[0]["task"] == key.split("-")[0]
    if key.startswith("classify"):
        assert len(out[0]["top"]) == 5 and abs(sum(c["score"] for c in out[0]["top"]) - 1) < 0.05
    elif key.startswith("segment"):
        h, w = __import__("cv2").imread(str(image)).shape[:2]
        assert sum(out[0]["classes"].values()) == h * w
    else:
        assert all(0 <= d["index"] < 5 for d in out[0]["detections"])


def test_fp32_bundle_matches_pytorch_end_to_end(pi_bundles, photos: Path) -> None:
    """The fp32 Pi bundle and PyTorch agree on a real photo through the whole Predictor path."""
    from edgemnv2.bundle import load_bundle
    from edgemnv2.imageio import read_rgb
    from edgemnv2.models.weights import load_weights
    from edgemnv2.models.zoo import build_model
    from edgemnv2.predictor import Predictor
    from edgemnv2.tasks.preprocess import IMAGENET, InputFormat, preprocess

    b = load_bundle(pi_bundles["segment-fp32"])
    width, res, ncls = TINY["segment"]
    model = build_model("segment", width, ncls, res)
    load_weights(model, b.root.parent / "segment.safetensors")
    img = read_rgb(sorted(photos.iterdir())[2])
    with torch.no_grad():
        ref = model(torch.from_numpy(preprocess(img, InputFormat(res, res), IMAGENET))).numpy()
    with Predictor.from_bundle(b) as p:
        got = p.infer(p.preprocess(img))[b.outputs[0]["runtime_name"]]
    assert np.abs(got - ref.transpose(0, 2, 3, 1)).max() < 1e-3


def test_int8_evaluated_on_labelled_set(tmp_path: Path, photos: Path) -> None:
    """With a labelled eval set (opts.eval_data) the report uses real labels: mIoU of each and the delta."""
    synthetic = pytest.importorskip("edgemnv2.data.synthetic")
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle

    data = synthetic.write_dataset(tmp_path / "data", "segment", {"val": 4}, size=96, seed=0)
    width, res, _ = TINY["segment"]
    weights = _random_weights("segment", tmp_path / "w.safetensors")
    man = build_pi_bundle(BuildOptions(task="segment", out=tmp_path / "b", target="pi", weights=weights,
                                       width_mult=width, resolution=res, num_classes=5, precision="int8",
                                       calib=photos, calib_count=6, max_drop=100, eval_data=data))
    acc = man["reports"]["accuracy"]
    assert acc["basis"] == "labels" and acc["images"] == 4 and acc["metric"] == "mIoU"
    assert acc["drop"] == pytest.approx(acc["reference"] - acc["test"], abs=1e-3)
    assert 0 <= acc["test"] <= 100 and acc["evaluated_on"].endswith("val")
    assert man["calibration"]["count"] == 6 and man["calibration"]["held_out"] == 0
