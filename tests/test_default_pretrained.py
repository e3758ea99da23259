"""Acceptance of the built-in ImageNet classifier and PASCAL VOC segmenter (issue 12), on the shared photos.

Default classify bundles (cpu fp32, Pi int8 calibrated on a handful of photo crops, Jetson Q/DQ run by
ONNX Runtime) give Google's top-1 on cat.bmp and grace_hopper.bmp, and agree with Google's int8 model on
>= 93% of 200 crops. Measured: fp32 98.0%, Pi int8 95.0%, Q/DQ 94.5%; before the int8 weights kept
their own grid (``calibration/weight_grid.py``) the int8 ones were 90.5% / 91.0%. The default segmenter
finds the bird (IoU >= 0.85 against the reference mask) in fp32 and Pi int8. Skips without
../shared/data/coral.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from tests.support.photos import write_photo_folder

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

CORAL_CLS = "mobilenet_v2_1.0_224_quant.tflite"


def _top1(predictor, images: List[np.ndarray]) -> List[str]:
    with predictor:
        return [predictor.predict(img).top[0].label for img in images]


@pytest.fixture(scope="module")
def crops(coral_dir, tmp_path_factory) -> List[np.ndarray]:
    from edgemnv2.imageio import list_images, read_rgb

    folder = write_photo_folder(tmp_path_factory.mktemp("crops"), 200, seed=5, coral_dir=coral_dir)
    return [read_rgb(p) for p in list_images(folder)]


@pytest.fixture(scope="module")
def classify_bundles(coral_dir, tmp_path_factory) -> Dict[str, Path]:
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.cpu.build import build_cpu_bundle
    from edgemnv2.targets.jetson.export import build_jetson_bundle
    from edgemnv2.targets.pi.build import build_pi_bundle

    tmp = tmp_path_factory.mktemp("default-classify")
    calib = write_photo_folder(tmp / "calib", 24, seed=9, coral_dir=coral_dir)
    out = {"fp32": tmp / "cpu", "pi_int8": tmp / "pi", "jetson_qdq": tmp / "jetson"}
    build_cpu_bundle(BuildOptions(task="classify", out=out["fp32"]))
    build_pi_bundle(BuildOptions(task="classify", out=out["pi_int8"], target="pi", precision="int8", calib=calib,
                                 calib_count=24, max_drop=100))
    build_jetson_bundle(BuildOptions(task="classify", out=out["jetson_qdq"], target="jetson", precision="int8",
                                     calib=calib, calib_count=24, max_drop=100))
    return out


def _predictor(key: str, bundle: Path):
    from edgemnv2.bundle import load_bundle
    from edgemnv2.predictor import Predictor
    from edgemnv2.targets.cpu.runner import OnnxRuntimeRunner

    if key != "jetson_qdq":
        return Predictor.from_bundle(bundle)
    b = load_bundle(bundle)  # no TensorRT here: the Q/DQ ONNX on ONNX Runtime, graph optimisations off
    return Predictor(OnnxRuntimeRunner(bundle / b.manifest["model"]["onnx"]["qdq"], optimize=False), b.task,
                     b.labels, b.normalization, b.manifest)


@pytest.mark.parametrize("key", ["fp32", "pi_int8", "jetson_qdq"])
def test_default_classifier_agrees_with_google(classify_bundles, coral_dir, crops, key, capsys):
    from edgemnv2.bundle import load_bundle
    from edgemnv2.imageio import read_rgb
    from edgemnv2.predictor import Predictor

    man = load_bundle(classify_bundles[key]).manifest
    assert man["source"]["origin"] == "default" and man["architecture"]["padding"] == "tf"
    assert man["num_classes"] == 1001
    google = Predictor.from_model(coral_dir / CORAL_CLS, "classify", coral_dir / "imagenet_labels.txt")
    photos = [read_rgb(coral_dir / n) for n in ("cat.bmp", "grace_hopper.bmp")]
    theirs = _top1(google, photos + crops)
    ours = _top1(_predictor(key, classify_bundles[key]), photos + crops)
    assert ours[:2] == theirs[:2] == ["Egyptian cat", "military uniform"]
    agreement = float(np.mean([a == b for a, b in zip(ours[2:], theirs[2:])]))
    with capsys.disabled():
        print(f"\n[default classify {key}] top-1 agreement with Google's int8 on {len(crops)} crops: {agreement:.1%}")
    assert agreement >= 0.93


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_default_segmenter_finds_the_bird(coral_dir, tmp_path, precision, capsys):
    import cv2

    from edgemnv2.imageio import read_rgb
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.predictor import Predictor
    from edgemnv2.targets.pi.build import build_pi_bundle

    calib = write_photo_folder(tmp_path / "calib", 8, seed=4, coral_dir=coral_dir) if precision == "int8" else None
    man = build_pi_bundle(BuildOptions(task="segment", out=tmp_path / "b", target="pi", precision=precision,
                                       calib=calib, calib_count=8, max_drop=100))
    assert man["source"]["origin"] == "default" and man["architecture"]["align_corners"] is True
    truth = cv2.imread(str(coral_dir / "bird_segmentation_mask.bmp"), cv2.IMREAD_UNCHANGED)
    with Predictor.from_bundle(tmp_path / "b") as p:
        mask = p.predict(read_rgb(coral_dir / "bird_segmentation.bmp")).mask
    bird = 3  # PASCAL VOC
    iou = np.sum((mask == bird) & (truth == bird)) / np.sum((mask == bird) | (truth == bird))
    with capsys.disabled():
        print(f"\n[default segment Pi {precision}] bird IoU {iou:.3f}")
    assert iou >= 0.85
