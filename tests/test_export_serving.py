"""``edgemnv2 export``: Triton model repository entries and DeepStream nvinfer configs from bundles."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def detect_bundle(tmp_path_factory, cli) -> Path:
    """The built-in (trained) detector as a cpu bundle: real detections for the parser check."""
    out = tmp_path_factory.mktemp("serving") / "det"
    r = cli(["build", "--target", "cpu", "--task", "detect", "--out", out])
    assert r.returncode == 0, r.stderr
    return out


def _frame(size: int) -> np.ndarray:
    from edgemnv2.data.synthetic import synthetic_frame

    return synthetic_frame(3, size=size)


def _our_input(bundle, rgb: np.ndarray) -> np.ndarray:
    from edgemnv2.tasks.preprocess import Normalization

    inp = bundle.input
    norm = Normalization.from_dict(inp)
    x = (rgb.astype(np.float32) - np.float32(norm.mean)) / np.float32(norm.std)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _nvinfer_input(cfg: configparser.SectionProxy, rgb: np.ndarray) -> np.ndarray:
    """What nvinfer feeds: net-scale-factor * (pixel - offsets[c]), RGB, NCHW (Gst-nvinfer docs)."""
    nsf = float(cfg["net-scale-factor"])
    offsets = np.array([float(v) for v in cfg["offsets"].split(";")], np.float32)
    x = nsf * (rgb.astype(np.float32) - offsets)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(np.float32)


def test_triton_entry_parses_with_tritons_schema_and_runs_as_declared(detect_bundle, tmp_path, cli):
    from tritonclient.grpc import model_config_pb2  # noqa: F401  (the schema must be importable)

    from edgemnv2.serving.triton import parse_config

    repo = tmp_path / "models"
    r = cli(["export", "--bundle", detect_bundle, "--triton", repo, "--name", "detector"])
    assert r.returncode == 0, r.stderr
    cfg = parse_config((repo / "detector" / "config.pbtxt").read_text())
    assert cfg.name == "detector" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 0
    sess = ort.InferenceSession(str(repo / "detector" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    from tritonclient.grpc import model_config_pb2 as mc

    np_types = {mc.TYPE_FP32: np.float32, mc.TYPE_UINT8: np.uint8}
    feeds = {i.name: np.zeros(list(i.dims), np_types[i.data_type]) for i in cfg.input}
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    assert {o.name for o in cfg.output} == set(outs)
    for o in cfg.output:
        assert list(outs[o.name].shape) == list(o.dims) and outs[o.name].dtype == np_types[o.data_type]


def test_triton_refuses_to_replace_an_entry_and_a_pending_engine(detect_bundle, tmp_path, cli):
    repo = tmp_path / "models"
    (repo / "det").mkdir(parents=True)
    (repo / "det" / "notes.txt").write_text("mine")
    r = cli(["export", "--bundle", detect_bundle, "--triton", repo, "--name", "det"])
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr
    assert (repo / "det" / "notes.txt").read_text() == "mine"
    jet = tmp_path / "jet"
    r = cli(["build", "--target", "jetson", "--task", "classify", "--width-mult", "0.35", "--resolution", "96",
             "--out", jet])
    assert r.returncode == 0, r.stderr
    r = cli(["export", "--bundle", jet, "--triton", repo])
    assert r.returncode == 1 and "no TensorRT engine yet" in r.stderr
    assert f"edgemnv2 build --target jetson --bundle {jet}" in r.stderr


def _ds_config(out: Path) -> configparser.SectionProxy:
    cp = configparser.ConfigParser()
    cp.read(out / "config_infer_primary.txt")
    return cp["property"]


@pytest.mark.parametrize("task", ["classify", "segment"])
def test_deepstream_normalisation_and_softmax_are_exact(cpu_bundles, tmp_path, cli, task):
    """nvinfer's single scale factor + our per-channel Mul reproduce (pixel - mean[c]) / std[c] exactly."""
    from edgemnv2.bundle import load_bundle
    from edgemnv2.tasks.base import softmax

    bundle = load_bundle(cpu_bundles[task])
    out = tmp_path / "ds"
    r = cli(["export", "--bundle", bundle.root, "--deepstream", out])
    assert r.returncode == 0, r.stderr
    cfg = _ds_config(out)
    std = np.array(bundle.input["std"])
    assert float(cfg["net-scale-factor"]) == pytest.approx(1.0 / std.mean())  # per-channel std: no single factor
    assert cfg["network-type"] == {"classify": "1", "segment": "2"}[task] and cfg["model-color-format"] == "0"
    rgb = _frame(bundle.input["shape"][2])
    ref = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    ds = ort.InferenceSession(str(out / cfg["onnx-file"]), providers=["CPUExecutionProvider"])
    want = softmax(ref.run(None, {"images": _our_input(bundle, rgb)})[0], axis=1)
    got = ds.run(None, {"images": _nvinfer_input(cfg, rgb)})[0]
    assert np.abs(got - want).max() < 1e-5


def test_deepstream_detector_parser_matches_numpy(detect_bundle, tmp_path, cli):
    """The C++ box parser, compiled against a stand-in header, keeps what our numpy decoding keeps."""
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    from edgemnv2.bundle import load_bundle

    bundle = load_bundle(detect_bundle)
    out = tmp_path / "ds"
    r = cli(["export", "--bundle", detect_bundle, "--deepstream", out, "--sources", "4"])
    assert r.returncode == 0, r.stderr
    cfg = _ds_config(out)
    assert cfg["parse-bbox-func-name"] == "NvDsInferParseEdgemnv2" and cfg["cluster-mode"] == "2"
    app = configparser.ConfigParser()
    app.read(out / "deepstream_app_config.txt")
    assert app["streammux"]["batch-size"] == "4" and app.has_section("source3")
    size = bundle.input["shape"][2]
    rgb = _frame(size)
    sess = ort.InferenceSession(str(out / cfg["onnx-file"]), providers=["CPUExecutionProvider"])
    boxes, scores = sess.run(["boxes", "scores"], {"images": _nvinfer_input(cfg, rgb)})
    boxes, scores = boxes[0].astype(np.float32), scores[0].astype(np.float32)
    harness = tmp_path / "harness"
    subprocess.run(["g++", "-std=c++14", "-O1", "-Wall", "-Werror", "-I", str(REPO / "tests/support/deepstream"),
                    str(out / "nvdsinfer_edgemnv2.cpp"), str(REPO / "tests/support/deepstream/harness.cpp"),
                    "-o", str(harness)], check=True)
    boxes.tofile(tmp_path / "b.bin")
    scores.tofile(tmp_path / "s.bin")
    full = configparser.ConfigParser()
    full.read(out / "config_infer_primary.txt")
    thr = float(full["class-attrs-all"]["pre-cluster-threshold"])
    assert thr == pytest.approx(bundle.manifest["postprocess"]["score_threshold"])
    run = subprocess.run([str(harness), str(tmp_path / "b.bin"), str(tmp_path / "s.bin"), str(len(boxes)),
                          str(scores.shape[1]), str(size), str(size), str(thr)],
                         capture_output=True, text=True, check=True)
    got = [line.split() for line in run.stdout.splitlines()]
    cls = scores[:, 1:].argmax(1) + 1
    best = scores[np.arange(len(scores)), cls]
    keep = (best >= thr) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    assert keep.sum() > 0, "the trained detector should find shapes on the synthetic frame"
    assert sorted(int(g[0]) for g in got) == sorted(cls[keep].tolist())
    lefts = np.sort(boxes[keep, 0] * size)
    assert np.allclose(np.sort([float(g[2]) for g in got]), lefts, atol=1e-3)
