"""The emulated Pi lane's comparison rules and cache entries (scripts/pi_emulated.py; the lane itself runs
in CI as `python scripts/pi_emulated.py --smoke`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import pi_emu_checks as checks  # noqa: E402
import pi_emu_setup as setup  # noqa: E402

from edgemnv2.errors import EdgeError  # noqa: E402


def _det(label: str, index: int, score: float, box: list) -> dict:
    return {"label": label, "index": index, "score": score, "box": box}


def test_detections_match_by_class_and_iou_and_allow_only_borderline_extras() -> None:
    x86 = [{"image": "a", "task": "detect", "detections": [_det("circle", 1, 0.8, [0, 0, 10, 10])]}]
    arm = [{"image": "a", "task": "detect", "detections": [_det("circle", 1, 0.79, [0, 0, 10, 11]),
                                                         _det("star", 4, 0.32, [5, 5, 9, 9])]}]
    detail = checks.compare_results(x86, arm)
    assert "1 borderline" in detail and "box 1 px" in detail
    arm[0]["detections"][1]["score"] = 0.6  # a confident detection only one side sees
    with pytest.raises(checks.CheckFailed, match="star .* only on aarch64"):
        checks.compare_results(x86, arm)
    arm[0]["detections"] = [_det("circle", 1, 0.8, [20, 20, 30, 30])]  # same class, elsewhere
    with pytest.raises(checks.CheckFailed, match="circle"):
        checks.compare_results(x86, arm)


def test_coco_bbox_is_read_as_x_y_w_h() -> None:
    """The tflite214 lane's failure on the video clip (frame 2): the same circle, IoU 0.83 as x, y, w, h,
    was read as x1, y1, x2, y2 (IoU 0.40) because w > x and h > y, and reported "found only on x86"."""
    x86 = [{"image": "f2", "task": "detect", "detections": [
        {"label": "circle", "index": 1, "score": 0.816, "bbox": [146.82, 24.47, 135.53, 100.71]},
        {"label": "circle", "index": 1, "score": 0.516, "bbox": [102.9, 63.06, 131.77, 98.82]}]}]
    arm = [{"image": "f2", "task": "detect", "detections": [
        {"label": "circle", "index": 1, "score": 0.730, "bbox": [146.82, 24.47, 135.53, 102.59]},
        {"label": "circle", "index": 1, "score": 0.547, "bbox": [96.63, 55.53, 145.57, 108.23]}]}]
    assert "same decisions" in checks.compare_results(x86, arm)
    arm[0]["detections"][1]["bbox"] = [300, 200, 20, 20]  # elsewhere: not the same object
    with pytest.raises(checks.CheckFailed, match="found only on"):
        checks.compare_results(x86, arm)


def test_top1_flip_fails_unless_x86_ranked_them_within_the_margin() -> None:
    def top(first: int, scores: dict) -> list:
        order = sorted(scores, key=lambda i: (i != first, -scores[i]))
        return [{"index": i, "label": str(i), "score": scores[i]} for i in order]

    x86 = [{"top": top(3, {3: 0.50, 2: 0.45})}]
    assert "borderline" in checks.compare_results(x86, [{"top": top(2, {2: 0.5, 3: 0.45})}])
    x86 = [{"top": top(3, {3: 0.9, 2: 0.05})}]
    with pytest.raises(checks.CheckFailed, match="top-1"):
        checks.compare_results(x86, [{"top": top(2, {2: 0.5, 3: 0.45})}])
    assert checks.compare_results(x86, x86) == "1 results identical"


def test_cache_entry_is_stamped_and_reused_and_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    calls = []

    def build(tmp: Path) -> dict:
        calls.append(tmp)
        (tmp / "payload").write_text("x")
        return {"v": 1}

    entry = setup.ensure_entry(tmp_path, "thing", build, lambda m: None)
    assert (entry / "payload").read_text() == "x" and (entry / ".stamp").is_file()
    assert entry.stat().st_mode & 0o777 == 0o755  # a cache made by root is readable by the users it serves
    assert setup.ensure_entry(tmp_path, "thing", build, lambda m: None) == entry and len(calls) == 1

    def broken(tmp: Path) -> dict:
        (tmp / "half").write_text("x")
        raise EdgeError("download failed")

    with pytest.raises(EdgeError):
        setup.ensure_entry(tmp_path, "other", broken, lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]
    (tmp_path / "foreign").mkdir()  # not ours (no stamp): refused, not deleted
    with pytest.raises(EdgeError, match="not a complete"):
        setup.ensure_entry(tmp_path, "foreign", build, lambda m: None)
    assert (tmp_path / "foreign").is_dir()
