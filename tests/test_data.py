"""Dataset readers and the synthetic generator: formats, determinism, and clear errors for bad data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgemnv2.data import open_dataset
from edgemnv2.data.synthetic import CLASSES, write_dataset
from edgemnv2.errors import EdgeError


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("synth")
    return {t: write_dataset(root / t, t, {"train": 6, "val": 3, "calib": 2}, 96, seed=5)
            for t in ("classify", "detect", "segment")}


def test_synthetic_formats_read_back(synth):
    cls = open_dataset("classify", synth["classify"], "train")
    assert cls.labels == list(CLASSES) and len(cls) == 6
    img, target = cls.load(0)
    assert img.shape == (96, 96, 3) and 0 <= target < 4
    det = open_dataset("detect", synth["detect"], "val")
    assert det.labels == ["background", *CLASSES] and det.category_ids == [1, 2, 3, 4]
    img, s = det.load(0)
    assert len(s.boxes) >= 1 and (s.boxes[:, 2:] > s.boxes[:, :2]).all() and s.boxes.max() <= 96
    seg = open_dataset("segment", synth["segment"], "train")
    img, mask = seg.load(0)
    assert mask.shape == img.shape[:2] and set(np.unique(mask)) - {0} and mask.max() <= 4
    assert len(list((synth["detect"] / "calib").glob("*.jpg"))) == 2


def test_synthetic_boxes_match_masks(tmp_path):
    """The COCO boxes of a scene are the bounding boxes of its objects' mask pixels."""
    from edgemnv2.data.synthetic import render_scene

    scene = render_scene(np.random.default_rng(3), 128, "segment")
    for o in scene.objects:
        x1, y1, x2, y2 = (int(v) for v in o.box)
        inside = scene.mask[y1:y2, x1:x2] == o.class_index + 1
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()


def test_synthetic_is_deterministic_by_seed(tmp_path):
    a = write_dataset(tmp_path / "a", "detect", {"train": 0, "val": 3, "calib": 0}, 96, seed=11)
    b = write_dataset(tmp_path / "b", "detect", {"train": 5, "val": 4, "calib": 1}, 96, seed=11)
    c = write_dataset(tmp_path / "c", "detect", {"train": 0, "val": 3, "calib": 0}, 96, seed=12)
    ja = json.loads((a / "val" / "annotations.json").read_text())
    jb = json.loads((b / "val" / "annotations.json").read_text())
    jc = json.loads((c / "val" / "annotations.json").read_text())
    first3 = [x for x in jb["annotations"] if x["image_id"] <= 3]
    assert [x["bbox"] for x in ja["annotations"]] == [x["bbox"] for x in first3]
    assert (a / "val/images/val_00001.jpg").read_bytes() == (b / "val/images/val_00001.jpg").read_bytes()
    assert [x["bbox"] for x in ja["annotations"]] != [x["bbox"] for x in jc["annotations"]]


def test_data_synth_cli(tmp_path, cli):
    r = cli(["data", "synth", "--task", "segment", "--out", tmp_path / "ds", "--count", "20", "--size", "64"])
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "ds/train/images").iterdir())) == 20
    assert len(list((tmp_path / "ds/val/masks").iterdir())) == 2
    assert (tmp_path / "ds/labels.txt").read_text().splitlines()[0] == "background"


# -- bad input: one line, non-zero exit, the file named -------------------------------------------------
def _one_line_error(r, *needles: str) -> None:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    text = " ".join(x.strip() for x in lines)
    assert text.startswith("error:"), r.stderr
    for n in needles:
        assert n in text, (n, r.stderr)


def test_folder_without_images(tmp_path, cli):
    (tmp_path / "empty" / "train" / "cats").mkdir(parents=True)
    (tmp_path / "empty" / "train" / "cats" / "notes.txt").write_text("no images here")
    r = cli(["train", "--task", "classify", "--data", tmp_path / "empty", "--out", tmp_path / "m.safetensors"])
    _one_line_error(r, "no images", "empty")
    assert not (tmp_path / "m.safetensors").exists()
    (tmp_path / "seg" / "images").mkdir(parents=True)
    (tmp_path / "seg" / "masks").mkdir()
    (tmp_path / "seg" / "labels.txt").write_text("background\nthing\n")
    with pytest.raises(EdgeError, match="no images"):
        open_dataset("segment", tmp_path / "seg")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_coco_box_out_of_bounds(synth, tmp_path, cli):
    ds = _copy(synth["detect"], tmp_path / "oob")
    ann = ds / "val" / "annotations.json"
    coco = json.loads(ann.read_text())
    coco["annotations"][0]["bbox"] = [80.0, 10.0, 40.0, 20.0]  # x2 = 120 > 96
    ann.write_text(json.dumps(coco))
    with pytest.raises(EdgeError, match=r"annotations\.json.*out of bounds.*val_00000\.jpg"):
        open_dataset("detect", ds, "val")
    r = cli(["eval", "--model", "missing-is-checked-first.onnx", "--task", "detect", "--data", ds], timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_coco_unknown_category(synth, tmp_path, cli):
    ds = _copy(synth["detect"], tmp_path / "cat")
    ann = ds / "train" / "annotations.json"
    coco = json.loads(ann.read_text())
    coco["annotations"][1]["category_id"] = 42
    ann.write_text(json.dumps(coco))
    r = cli(["train", "--task", "detect", "--data", ds, "--out", tmp_path / "d.safetensors", "--resolution", "96"])
    _one_line_error(r, "annotations.json", "unknown category id 42")
    assert not list(tmp_path.glob("d.*"))


def test_mask_class_beyond_labels(synth, tmp_path, cli):
    import cv2

    ds = _copy(synth["segment"], tmp_path / "cls")
    m = ds / "train" / "masks" / "train_00002.png"
    mask = cv2.imread(str(m), cv2.IMREAD_UNCHANGED)
    mask[0:4, 0:4] = 9
    mask[5:8, 5:8] = 255  # ignore is fine
    cv2.imwrite(str(m), mask)
    r = cli(["train", "--task", "segment", "--data", ds, "--out", tmp_path / "s.safetensors", "--resolution", "96"])
    _one_line_error(r, "train_00002.png", "class id 9", "5 labels")
    mask[0:4, 0:4] = 255
    cv2.imwrite(str(m), mask)
    ds2 = open_dataset("segment", ds, "train")
    assert ds2.load(2)[1].max() == 255


def test_mask_size_mismatch(synth, tmp_path):
    import cv2

    ds = _copy(synth["segment"], tmp_path / "size")
    m = ds / "val" / "masks" / "val_00001.png"
    cv2.imwrite(str(m), np.zeros((50, 60), np.uint8))
    d = open_dataset("segment", ds, "val")
    with pytest.raises(EdgeError, match=r"val_00001\.png is 60x50 but image val_00001\.jpg is 96x96"):
        d.load(1)


def test_rgb_mask_rejected(synth, tmp_path):
    import cv2

    ds = _copy(synth["segment"], tmp_path / "rgb")
    m = ds / "val" / "masks" / "val_00000.png"
    cv2.imwrite(str(m), np.zeros((96, 96, 3), np.uint8))
    with pytest.raises(EdgeError, match=r"val_00000\.png is a RGB image"):
        open_dataset("segment", ds, "val").load(0)


def test_voc_palette_mask_and_lean_reader(tmp_path):
    """VOC masks are palette PNGs: read as class indices (Pillow); the OpenCV fallback reads grayscale ones."""
    from PIL import Image

    from edgemnv2.data.readers import _read_mask_cv2, read_mask

    idx = np.zeros((8, 10), np.uint8)
    idx[2:5, 3:7] = 15
    idx[0, 0] = 255
    im = Image.fromarray(idx, mode="P")
    im.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)])
    im.save(tmp_path / "voc.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "voc.png"), idx)
    import cv2

    cv2.imwrite(str(tmp_path / "gray.png"), idx)
    np.testing.assert_array_equal(_read_mask_cv2(tmp_path / "gray.png"), idx)
    with pytest.raises(EdgeError, match="channels"):
        _read_mask_cv2(tmp_path / "voc.png")  # OpenCV expands the palette to colours: refused


def test_moving_scene_is_deterministic_and_moves():
    from edgemnv2.data.synthetic import MovingScene

    a, b = MovingScene(320, 240, seed=4), MovingScene(320, 240, seed=4)
    f0, f0b, f9 = a.render(0), b.render(0), a.render(9)
    assert f0.shape == (240, 320, 3) and f0.dtype == np.uint8
    np.testing.assert_array_equal(f0, f0b)
    assert np.abs(f0.astype(int) - f9.astype(int)).sum() > 0
