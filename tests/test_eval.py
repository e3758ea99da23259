"""``edgemnv2 eval`` end to end on tiny datasets with hand-made ONNX models whose answers are known.

Each model is a few ONNX nodes: the classifier's logits are the mean of each colour channel; the
detector and segmenter output constants (so their predictions, and the metrics, can be worked out by
hand below). Everything runs through the CLI, the Predictor and faster-coco-eval.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

R = 32  # model and image size


def _save(path: Path, nodes, outputs, inits) -> Path:
    graph = helper.make_graph(nodes, "hand", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                             [1, 3, R, R])],
                              outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _constant_outputs(path: Path, consts: dict) -> Path:
    """Outputs = constant + 0 * sum(images) (so they are graph outputs that depend on the input)."""
    nodes = [helper.make_node("ReduceSum", ["images"], ["s"], keepdims=0),
             helper.make_node("Mul", ["s", "zero"], ["z"])]
    outs, inits = [], {"zero": np.zeros((), np.float32)}
    for name, value in consts.items():
        nodes.append(helper.make_node("Add", ["z", f"{name}_c"], [name]))
        inits[f"{name}_c"] = value.astype(np.float32)
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    return _save(path, nodes, outs, inits)


def _write_image(path: Path, rgb: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _eval(cli, args) -> dict:
    r = cli(["eval", *map(str, args), "--json"], timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_eval_classify_top1(tmp_path, cli):
    # logits = per-channel mean -> predicts the dominant colour
    model = _save(tmp_path / "cls.onnx", [helper.make_node("ReduceMean", ["images"], ["logits"], axes=[2, 3],
                                                           keepdims=0)],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])], {})
    colours = {"red": (220, 10, 10), "green": (10, 220, 10), "blue": (10, 10, 220)}
    data = tmp_path / "colours"
    # 3 per class correctly filed, plus 2 blue images filed under "red" -> 9 of 11 right
    for name, c in colours.items():
        for i in range(3):
            _write_image(data / name / f"{name}{i}.png", np.full((R, R, 3), c, np.uint8))
    for i in range(2):
        _write_image(data / "red" / f"wrong{i}.png", np.full((R, R, 3), colours["blue"], np.uint8))
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")  # model order; the dataset's folders sort blue, green, red
    res = _eval(cli, ["--model", model, "--task", "classify", "--labels", labels, "--data", data])
    assert res["images"] == 11
    assert res["metrics"]["top1"] == pytest.approx(9 / 11)


def test_eval_detect_map(tmp_path, cli):
    # model: two boxes, normalised xyxy; box 0 -> class 1 (score 0.9), box 1 -> class 2 (score 0.8)
    boxes = np.array([[[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.25, 0.25]]], np.float32)
    scores = np.array([[[0.1, 0.9, 0.0], [0.2, 0.0, 0.8]]], np.float32)
    model = _constant_outputs(tmp_path / "det.onnx", {"boxes": boxes, "scores": scores})
    labels = tmp_path / "labels.txt"
    labels.write_text("background\ncat\ndog\n")
    data = tmp_path / "coco"
    for i in (1, 2):
        _write_image(data / "images" / f"im{i}.png", np.full((R, R, 3), 100, np.uint8))
    # category ids are not 1..K on purpose (7 = cat, 3 = dog; the model's classes are matched by name)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [8, 8, 16, 16]},  # = box 0 in pixels: TP
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 8, 8]},  # = box 1: TP
        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [8, 8, 16, 16]},  # TP
        {"id": 4, "image_id": 2, "category_id": 7, "bbox": [20, 20, 10, 10]},  # never predicted: a miss
        {"id": 5, "image_id": 2, "category_id": 3, "bbox": [0, 0, 8, 8]},  # TP
    ]
    for a in anns:
        a.update(area=a["bbox"][2] * a["bbox"][3], iscrowd=0)
    coco = {"images": [{"id": i, "file_name": f"im{i}.png", "height": R, "width": R} for i in (1, 2)],
            "annotations": anns, "categories": [{"id": 3, "name": "dog"}, {"id": 7, "name": "cat"}]}
    (data / "annotations.json").write_text(json.dumps(coco))
    res = _eval(cli, ["--model", model, "--task", "detect", "--labels", labels, "--data", data])
    # cat: 3 GT, 2 TP at 0.9, nothing else -> precision 1 up to recall 2/3: 67 of COCO's 101 recall points.
    # dog: 2 GT, 2 TP, no false positive -> AP 1.
    cat_ap, dog_ap = 67 / 101, 1.0
    assert res["metrics"]["map50"] == pytest.approx((cat_ap + dog_ap) / 2, abs=1e-4)
    assert res["metrics"]["map"] == pytest.approx((cat_ap + dog_ap) / 2, abs=1e-4)  # exact boxes: every IoU


def test_eval_segment_miou(tmp_path, cli):
    # model: class 1 on the left half (columns < 16), background on the right
    logits = np.zeros((1, 2, R, R), np.float32)
    logits[0, 1, :, :16] = 5.0
    logits[0, 0, :, 16:] = 5.0
    model = _constant_outputs(tmp_path / "seg.onnx", {"logits": logits})
    data = tmp_path / "seg"
    (data / "masks").mkdir(parents=True)
    (data / "labels.txt").write_text("background\nthing\n")
    import cv2

    _write_image(data / "images" / "a.png", np.full((R, R, 3), 50, np.uint8))
    gt = np.zeros((R, R), np.uint8)
    gt[:, :8] = 1  # left quarter is "thing"
    gt[0, :] = 255  # first row ignored
    cv2.imwrite(str(data / "masks" / "a.png"), gt)
    res = _eval(cli, ["--model", model, "--task", "segment", "--data", data])
    # rows 1..31: thing: intersection 31*8, union 31*16 -> 0.5; background: inter 31*16, union 31*24 -> 2/3
    assert res["per_class_iou"] == {"background": pytest.approx(2 / 3, abs=1e-4), "thing": 0.5}
    assert res["metrics"]["miou"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_eval_bundle_and_errors(tmp_path, cli, cpu_bundles):
    from edgemnv2.data.synthetic import write_dataset

    data = write_dataset(tmp_path / "ds", "segment", {"train": 0, "val": 3, "calib": 0}, 64, seed=0)
    r = cli(["eval", "--bundle", cpu_bundles["segment"], "--data", data, "--json"])
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["images"] == 3 and 0.0 <= res["metrics"]["miou"] <= 1.0 and res["target"] == "cpu"
    r = cli(["eval", "--bundle", cpu_bundles["segment"], "--data", tmp_path / "nowhere"])
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = cli(["eval", "--data", data])
    assert r.returncode == 1 and "--bundle" in r.stderr
