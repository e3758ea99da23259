"""Metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from edgemnv2.metrics import ConfusionMatrix, DetGroundTruth, DetPrediction, coco_map, miou, top1_accuracy


@pytest.mark.device
def test_top1():
    assert top1_accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    assert top1_accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        top1_accuracy([1], [1, 2])


@pytest.mark.device
def test_miou_hand_computed():
    pred = np.array([[0, 1], [1, 1]])
    gt = np.array([[0, 1], [0, 1]])
    # class 0: TP 1, FP 0, FN 1 -> 1/2; class 1: TP 2, FP 1, FN 0 -> 2/3
    assert miou([pred], [gt], 2) == pytest.approx((0.5 + 2 / 3) / 2)


@pytest.mark.device
def test_miou_ignores_255_and_absent_classes():
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 1, 1, 3]), np.array([0, 1, 255, 255]))
    iou = cm.iou()
    assert iou[0] == 1.0 and iou[1] == 1.0 and np.isnan(iou[2])
    assert iou[3] == 0.0 or np.isnan(iou[3])  # predicted only on ignored pixels: not counted
    assert cm.pixel_accuracy() == 1.0


def _gt():
    return [DetGroundTruth(1, 100, 100, np.array([[10, 10, 50, 50], [60, 60, 90, 90]], float), np.array([1, 2])),
            DetGroundTruth(2, 100, 100, np.array([[0, 0, 30, 30]], float), np.array([1]))]


def test_coco_map_perfect_and_half():
    gts = _gt()
    perfect = [DetPrediction(g.image_id, g.boxes, np.full(len(g.labels), 0.9), g.labels) for g in gts]
    assert coco_map(gts, perfect) == {"map": 1.0, "map50": 1.0, "map75": 1.0}
    # class 2 never detected -> AP(2) = 0, class 1 perfect -> mAP 0.5
    only1 = [DetPrediction(g.image_id, g.boxes[g.labels == 1], np.full((g.labels == 1).sum(), 0.9),
                           g.labels[g.labels == 1]) for g in gts]
    assert coco_map(gts, only1)["map50"] == pytest.approx(0.5)


def test_coco_map_iou_between_thresholds():
    """A box with IoU 0.64 with its ground truth counts at IoU 0.5, not at 0.75."""
    gt = [DetGroundTruth(1, 100, 100, np.array([[0, 0, 40, 40]], float), np.array([1]))]
    pred = [DetPrediction(1, np.array([[0, 0, 32, 32]], float), np.array([0.8]), np.array([1]))]
    r = coco_map(gt, pred)
    assert r["map50"] == pytest.approx(1.0) and r["map75"] == pytest.approx(0.0)
    assert r["map"] == pytest.approx(0.3)  # IoU 0.64 passes the thresholds 0.50, 0.55, 0.60 of ten


def test_coco_map_no_predictions():
    assert coco_map(_gt(), [])["map"] == 0.0


def test_predictions_outside_the_class_range_are_misses():
    """A model class the dataset lacks (mapped to 254) is a miss for the true class, never a hit for the last."""
    cm = ConfusionMatrix(3)
    cm.update(np.array([254, 254, 1]), np.array([2, 2, 1]))
    iou = cm.iou()
    assert iou[1] == 1.0 and iou[2] == 0.0 and np.isnan(iou[0])
    assert cm.pixel_accuracy() == pytest.approx(1 / 3)
