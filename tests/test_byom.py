"""Bring your own model: output semantics from the graph, input contract from the file, other layouts.

The model files are made honestly (TensorFlow's converter, onnx.helper) by tests/support/byom_models.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgemnv2.errors import EdgeError
from edgemnv2.model_io import BoxFormat, IOOverrides, Rule, input_range
from edgemnv2.predictor import Predictor
from edgemnv2.tasks.base import looks_like_probabilities, softmax

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    from support import byom_models as bm

    d = tmp_path_factory.mktemp("byom")
    out = {k: bm.classifier(d / f"{k}.tflite", k) for k in ("uint8-softmax", "int8-softmax", "float-softmax",
                                                              "float-logits")}
    out["dynamic"] = bm.dynamic_segmenter(d / "dynamic.tflite")
    out["onnx-det"] = bm.onnx_yxyx_detector(d / "detector.onnx")
    return out


def _photo(seed: int = 3, size: tuple = (40, 50)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3)).astype(np.uint8)


def _raw(pred: Predictor, img: np.ndarray) -> np.ndarray:
    from edgemnv2.tasks.base import dequantize

    spec = pred.runner.output_specs()[0]
    return dequantize(pred.infer(pred.preprocess(img))[spec.name], spec.quant)[0]


@pytest.mark.parametrize("kind", ["uint8-softmax", "int8-softmax"])
def test_quantized_softmax_that_sums_below_one_is_not_softmaxed_again(models, kind) -> None:
    with Predictor.from_model(models[kind], "classify", top_k=3) as pred:
        img = _photo()
        probs = _raw(pred, img)
        assert 0.75 < probs.sum() < 0.9 and not looks_like_probabilities(probs)  # the old heuristic's miss
        res = pred.predict(img)
        out = res.semantics["outputs"][0]
    assert out["kind"] == "probabilities" and out["rule"] == Rule.graph_op.value and out["evidence"] == "SOFTMAX"
    assert res.top[0].score == pytest.approx(float(probs.max()))  # as the model said, not softmax(probs)


def test_float_softmax_and_logits_from_the_producing_op(models) -> None:
    img = _photo(4)
    with Predictor.from_model(models["float-softmax"], "classify", top_k=1) as pred:
        probs = _raw(pred, img)
        res = pred.predict(img)
    assert res.semantics["outputs"][0]["evidence"] == "SOFTMAX" and res.top[0].score == pytest.approx(probs.max())
    with Predictor.from_model(models["float-logits"], "classify", top_k=1) as pred:
        logits = _raw(pred, img)
        res = pred.predict(img)
    out = res.semantics["outputs"][0]
    assert out["kind"] == "logits" and out["evidence"] == "FULLY_CONNECTED"
    assert res.top[0].score == pytest.approx(float(softmax(logits).max()), rel=1e-5)


def test_dynamic_input_is_resized_not_run_at_1x1(models) -> None:
    with pytest.raises(EdgeError, match="dynamic input shape .*--resolution"):
        Predictor.from_model(models["dynamic"], "segment").activate()
    pred = Predictor.from_model(models["dynamic"], "segment", overrides=IOOverrides(resolution=(48, 40)))
    with pred:
        out = pred.infer(pred.preprocess(_photo()))
        res = pred.predict(_photo())
    assert next(iter(out.values())).shape == (1, 48, 40, 3)  # the output proves the size it ran at
    assert res.mask is not None and res.mask.shape == (40, 50) and res.semantics["input_size"] == [48, 40]


def test_dynamic_input_cli(models, tmp_path, cli) -> None:
    import cv2

    img = tmp_path / "x.png"
    cv2.imwrite(str(img), _photo())
    r = cli(["predict", img, "--model", models["dynamic"], "--task", "segment"])
    errors = [line for line in r.stderr.splitlines() if not line.startswith("INFO:")]  # LiteRT's own log line
    assert r.returncode == 1 and len(errors) == 1 and "--resolution" in errors[0], r.stderr
    r = cli(["predict", img, "--model", models["dynamic"], "--task", "segment", "--resolution", "24", "--json"])
    assert r.returncode == 0 and json.loads(r.stdout)["semantics"]["input_size"] == [24, 24], r.stderr


def test_bare_float_model_normalisation_is_stated_or_given(models) -> None:
    with Predictor.from_model(models["float-logits"], "classify") as pred:
        assert "assumed" in pred.describe_io()["input_normalization"]
    norm = input_range("-1,1")
    assert norm.mean == (127.5,) * 3 and norm.std == (127.5,) * 3
    with Predictor.from_model(models["float-logits"], "classify", overrides=IOOverrides(norm)) as pred:
        x = next(iter(pred.preprocess(np.full((8, 8, 3), 255, np.uint8)).values()))
        assert pred.describe_io()["input_normalization"] == "user" and np.allclose(x, 1.0)


def test_onnx_detector_with_other_names_and_yxyx_pixel_boxes(models, tmp_path, cli) -> None:
    import cv2

    rgb = np.full((96, 128, 3), 10, np.uint8)
    rgb[:48, :64] = 250  # the top-left quadrant is bright: the model's class 1 there
    img = tmp_path / "tl.png"
    cv2.imwrite(str(img), rgb[..., ::-1])
    args = ["predict", img, "--model", models["onnx-det"], "--task", "detect", "--json", "--outputs",
            "boxes=det_boxes,scores=det_scores", "--box-format", "yxyx", "--box-units", "pixels",
            "--input-range", "0,1", "--score-threshold", "0.5"]
    r = cli(args)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [x["index"] for x in d["detections"]] == [1]
    assert d["detections"][0]["bbox"] == pytest.approx([0, 0, 64, 48], abs=0.5)  # COCO x, y, w, h in pixels
    rules = {o["name"]: o["rule"] for o in d["semantics"]["outputs"]}
    assert rules == {"det_boxes": "user", "det_scores": "user"} and d["semantics"]["boxes"]["format"] == "yxyx"
    r = cli([a if a != "boxes=det_boxes,scores=det_scores" else "boxes=nope,scores=det_scores" for a in args])
    assert r.returncode == 1 and "no output named 'nope'" in r.stderr and r.stderr.count("\n") == 1


def test_onnx_detector_graph_rule_without_names(models) -> None:
    ov = IOOverrides(box_format=BoxFormat.yxyx, normalized_boxes=False, normalization=input_range("0,1"))
    with Predictor.from_model(models["onnx-det"], "detect", overrides=ov) as pred:
        outs = {o["name"]: (o["kind"], o["rule"]) for o in pred.describe_io()["outputs"]}
    assert outs == {"det_scores": ("scores", "graph-op"), "det_boxes": ("boxes", "shape")}


def test_coral_classifier_reads_its_metadata(coral_dir: Path, cli) -> None:
    """Labels and normalisation from Model Metadata; probabilities from the SOFTMAX op (no --labels given)."""
    r = cli(["predict", coral_dir / "cat.bmp", "--model", coral_dir / "mobilenet_v2_1.0_224_quant.tflite",
             "--task", "classify", "--json", "--top-k", "1"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["top"][0]["label"] == "Egyptian cat" and d["top"][0]["score"] > 0.8
    assert d["semantics"]["source"] == "tflite graph + metadata"
    assert d["semantics"]["outputs"][0]["evidence"] == "SOFTMAX"


def test_our_pi_tflite_carries_metadata_and_runs_bare(tmp_path, cli) -> None:
    """Labels and normalisation from the file: the bare fp32 model answers like its bundle."""
    from edgemnv2.data.synthetic import write_dataset
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle
    from edgemnv2.tflite_file import read_tflite

    bundle = tmp_path / "cls"
    build_pi_bundle(BuildOptions(task="classify", out=bundle, target="pi"))
    meta = read_tflite(bundle / "model.tflite").metadata
    assert meta is not None and meta.name == "edgemnv2 classify" and meta.mean == [0.0] * 3
    labels = (bundle / "labels.txt").read_text().splitlines()
    assert meta.output_labels[0] == labels
    data = write_dataset(tmp_path / "shapes", "classify", {"val": 8})
    images = sorted(Path(data).rglob("*.jpg"))[:8] or sorted(Path(data).rglob("*.png"))[:8]
    ref = cli(["predict", *images, "--bundle", bundle, "--json"]).stdout
    want = [json.loads(x)["top"][0] for x in ref.splitlines()]
    r = cli(["predict", *images, "--model", bundle / "model.tflite", "--task", "classify", "--json"])
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 0 and [g["top"][0] for g in got] == want, r.stderr
    assert got[0]["semantics"]["input_normalization"] == "metadata"


def test_file_readers_agree_with_the_reference_parsers(models) -> None:
    """The small flatbuffer / protobuf readers against LiteRT's generated TFLite schema and the onnx package."""
    import onnx
    from ai_edge_litert import schema_py_generated as schema

    from edgemnv2.onnx_graph import read_onnx_graph
    from edgemnv2.tflite_file import BUILTIN_OPS, read_tflite

    assert all(getattr(schema.BuiltinOperator, name) == code for code, name in BUILTIN_OPS.items())
    for key in ("uint8-softmax", "float-logits", "dynamic"):
        ours = read_tflite(models[key])
        buf = models[key].read_bytes()
        sub = schema.Model.GetRootAsModel(buf, 0).Subgraphs(0)
        assert ours.outputs == [sub.Outputs(i) for i in range(sub.OutputsLength())]
        for i, t in enumerate(ours.tensors):
            ref = sub.Tensors(i)
            assert t.name == ref.Name().decode()
            sig = ref.ShapeSignatureAsNumpy() if ref.ShapeSignatureLength() else ref.ShapeAsNumpy()
            assert list(t.shape) == [int(v) for v in np.atleast_1d(sig)] or (not t.shape and not ref.ShapeLength())
        assert len(ours.ops) == sub.OperatorsLength()
    g = read_onnx_graph(models["onnx-det"])
    ref = onnx.load(str(models["onnx-det"])).graph
    assert g.outputs == [o.name for o in ref.output]
    assert [(n.op_type, list(n.inputs), list(n.outputs)) for n in g.nodes] == \
        [(n.op_type, list(n.input), list(n.output)) for n in ref.node]
