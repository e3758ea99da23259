"""``build --target pi --task detect --in-model-nms``: TFLite_Detection_PostProcess inside the .tflite.

The 4-output file our builder writes must give the same detections as the 2-output bundle (NMS in
numpy) within NMS tolerance, as a bundle and as a bare ``--model`` file with a label map.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pi_detect(tmp_path_factory) -> dict:
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle

    tmp = tmp_path_factory.mktemp("ssd")
    out = {}
    for name, nms in (("numpy", False), ("in_model", True)):
        out[name] = tmp / name
        build_pi_bundle(BuildOptions(task="detect", out=out[name], target="pi", in_model_nms=nms))
    return out


def test_bundle_records_the_ssd_layout(pi_detect) -> None:
    from edgemnv2.tflite_file import read_tflite

    m = json.loads((pi_detect["in_model"] / "manifest.json").read_text())
    assert m["postprocess"]["nms"] == "in-model" and m["postprocess"]["box_format"] == "yxyx_normalized"
    assert [o["name"] for o in m["outputs"]] == ["boxes", "classes", "scores", "count"]
    assert m["model"]["ops"].get("TFLite_Detection_PostProcess") == 1
    assert m["reports"]["in_model_nms"]["agreement"] >= 0.9
    ops = [o.name for o in read_tflite(pi_detect["in_model"] / "model.tflite").ops]
    assert ops[-1] == "TFLite_Detection_PostProcess"


def test_same_detections_as_the_two_output_bundle(pi_detect) -> None:
    from edgemnv2.data.synthetic import synthetic_frame
    from edgemnv2.predictor import Predictor
    from edgemnv2.targets.pi.ssd_postprocess import match_detections

    total = matched = 0
    with Predictor.from_bundle(pi_detect["numpy"]) as ref, Predictor.from_bundle(pi_detect["in_model"]) as ssd:
        for i in range(10):
            img = synthetic_frame(i, 200, seed=7)
            a, b = ref.predict(img).detections, ssd.predict(img).detections
            total += max(len(a), len(b))
            matched += match_detections(a, b, iou=0.9, score_tol=1e-3)
    assert total >= 5 and matched >= 0.9 * total


def test_bare_ssd_file_with_a_label_map_without_background(pi_detect, tmp_path, cli) -> None:
    import cv2

    from edgemnv2.data.synthetic import synthetic_frame

    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), synthetic_frame(3, 160, seed=0)[..., ::-1])
    labels = (pi_detect["in_model"] / "labels.txt").read_text().splitlines()
    coco_style = tmp_path / "labels.txt"  # the op's class 0 is the first real class, as in Coral's coco_labels.txt
    coco_style.write_text("\n".join(labels[1:]) + "\n")
    want = json.loads(cli(["predict", img, "--bundle", pi_detect["in_model"], "--json"]).stdout)["detections"]
    model = pi_detect["in_model"] / "model.tflite"
    r = cli(["predict", img, "--model", model, "--task", "detect", "--labels", coco_style, "--score-threshold",
             "0.15", "--json"])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert want and [d["label"] for d in got["detections"]] == [d["label"] for d in want]
    assert {o["rule"] for o in got["semantics"]["outputs"]} == {"graph-op"}
    assert got["semantics"]["input_normalization"] == "metadata"  # the file's own Model Metadata
    r = cli(["predict", img, "--model", model, "--task", "detect", "--score-threshold", "0.15", "--json"])
    assert [d["label"] for d in json.loads(r.stdout)["detections"]] == [d["label"] for d in want]  # its labels


def test_in_model_nms_is_refused_elsewhere(cli, tmp_path: Path) -> None:
    r = cli(["build", "--target", "cpu", "--task", "detect", "--in-model-nms", "--out", tmp_path / "x"])
    assert r.returncode != 0 and "--in-model-nms is for --target pi --task detect" in r.stderr
    assert not (tmp_path / "x").exists()


def test_int8_network_with_float_post_processing(tmp_path) -> None:
    from edgemnv2.data.synthetic import write_dataset
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle

    data = write_dataset(tmp_path / "ds", "detect", {"calib": 15})
    out = tmp_path / "ssd8"
    m = build_pi_bundle(BuildOptions(task="detect", out=out, target="pi", precision="int8", calib=data / "calib",
                                     in_model_nms=True))
    assert m["input"]["dtype"] == "uint8" and {o["dtype"] for o in m["outputs"]} == {"float32"}
    rep = m["reports"]["in_model_nms"]
    assert rep["reference_detections"] > 0 and rep["agreement"] >= 0.9, rep
