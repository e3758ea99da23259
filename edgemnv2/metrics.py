"""Task metrics: top-1 accuracy, COCO mAP (faster-coco-eval, not hand-written), mIoU.

Device side apart from ``coco_map``, which imports faster-coco-eval (or pycocotools) lazily.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import MissingDependency

__all__ = ["top1_accuracy", "ConfusionMatrix", "miou", "DetGroundTruth", "DetPrediction", "coco_map"]


def top1_accuracy(predicted: Sequence[int], targets: Sequence[int]) -> float:
    """Fraction of ``predicted`` equal to ``targets`` (both class indices); 0 for empty input."""
    p = np.asarray(predicted)
    t = np.asarray(targets)
    if p.shape != t.shape:
        raise ValueError(f"predicted and targets differ in length: {p.shape} vs {t.shape}")
    return float((p == t).mean()) if p.size else 0.0


class ConfusionMatrix:
    """Accumulates a (C, C) confusion matrix of ground truth (rows) vs prediction (columns)."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), np.int64)
        # Pixels of ground-truth class k predicted as a class outside 0..C-1 (e.g. a model class the
        # dataset does not have): misses for class k, false positives for no class.
        self.other = np.zeros(num_classes, np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        gt = np.asarray(gt).reshape(-1).astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction and ground truth differ in size: {pred.shape} vs {gt.shape}")
        keep = (gt != self.ignore_index) & (gt >= 0) & (gt < self.num_classes)
        gt, pred = gt[keep], pred[keep]
        inside = (pred >= 0) & (pred < self.num_classes)
        self.other += np.bincount(gt[~inside], minlength=self.num_classes)
        self.matrix += np.bincount(gt[inside] * self.num_classes + pred[inside],
                                   minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for classes absent from both ground truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1) + self.other - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def miou(self) -> float:
        iou = self.iou()
        return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else 0.0

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum() + self.other.sum()
        return float(np.trace(self.matrix) / total) if total else 0.0


def miou(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], num_classes: int, ignore_index: int = 255) -> float:
    """Mean IoU over classes present in ground truth or prediction, accumulated over all images."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    for p, g in zip(preds, gts):
        cm.update(p, g)
    return cm.miou()


@dataclass
class DetGroundTruth:
    image_id: int
    height: int
    width: int
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 in pixels
    labels: np.ndarray  # (N,) category ids
    iscrowd: Optional[np.ndarray] = None


@dataclass
class DetPrediction:
    image_id: int
    boxes: np.ndarray  # (M, 4) x1, y1, x2, y2 in pixels
    scores: np.ndarray
    labels: np.ndarray
    extra: Dict[str, object] = field(default_factory=dict)


def _xywh(b: np.ndarray) -> List[float]:
    return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]


def coco_map(gts: Sequence[DetGroundTruth], preds: Sequence[DetPrediction],
             categories: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """COCO box mAP with faster-coco-eval (pycocotools as fallback): {"map", "map50", "map75"} in 0..1."""
    try:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    except ImportError:
        try:
            from pycocotools.coco import COCO  # type: ignore[no-redef]
            from pycocotools.cocoeval import COCOeval  # type: ignore[no-redef]
        except ImportError:
            raise MissingDependency("faster-coco-eval", "report", "COCO mAP") from None
    cats = sorted(set(categories) if categories is not None else
                  {int(c) for g in gts for c in g.labels} | {int(c) for p in preds for c in p.labels})
    images, anns = [], []
    for g in gts:
        images.append({"id": int(g.image_id), "height": int(g.height), "width": int(g.width)})
        crowd = g.iscrowd if g.iscrowd is not None else np.zeros(len(g.labels), int)
        for b, c, cr in zip(np.asarray(g.boxes).reshape(-1, 4), g.labels, crowd):
            xywh = _xywh(b)
            anns.append({"id": len(anns) + 1, "image_id": int(g.image_id), "category_id": int(c), "bbox": xywh,
                         "area": xywh[2] * xywh[3], "iscrowd": int(cr)})
    if not anns:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    dets = []
    for p in preds:
        for b, s, c in zip(np.asarray(p.boxes).reshape(-1, 4), p.scores, p.labels):
            dets.append({"image_id": int(p.image_id), "category_id": int(c), "bbox": _xywh(b), "score": float(s)})
    if not dets:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c, "name": str(c)} for c in cats]}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    return {"map": max(float(s[0]), 0.0), "map50": max(float(s[1]), 0.0), "map75": max(float(s[2]), 0.0)}
