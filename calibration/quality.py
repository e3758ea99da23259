"""Quantized-vs-reference quality in task terms, and the ``--max-drop`` gate (shared by Pi and Jetson).

``compare(task, ref, test, images, targets)`` runs two activated ``Predictor`` objects (e.g. fp32
and int8 of the same model) on held-out images and reports, in points (0..100):

* classify: top-1 agreement; with class targets also top-1 accuracy of each and the delta;
* detect: with ground truth, COCO mAP of each and the delta; without, mAP@0.5 of the test
  model's detections scored against the reference model's detections (the reference scores 100);
* segment: with ground-truth masks, mIoU of each and the delta; without, mIoU of the test masks
  against the reference masks, plus pixel agreement.

``drop`` is the number the gate checks. With ground truth it is the metric's delta (reference minus
test). Without, it is 100 minus the agreement metric: for top-1 this bounds the accuracy delta from
above (accuracy can only differ on images where the two disagree), so the gate is strict rather than
blind. ``check_max_drop(report, max_drop)`` raises EdgeError when ``drop > max_drop``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import EdgeError
from ..metrics import DetGroundTruth, DetPrediction, coco_map, miou, top1_accuracy
from ..tasks.base import Task

__all__ = ["compare", "check_max_drop", "split_holdout", "labelled_eval_set", "class_index", "folder_class_targets"]


def class_index(name: Optional[str], labels: Sequence[str]) -> int:
    """A class-folder name -> the model's label index: by name (case-insensitive), else a numeric folder
    name within range, else -1 (unknown: left out of accuracy)."""
    if name is None:
        return -1
    index = {str(x).strip().lower(): i for i, x in enumerate(labels)}
    key = name.strip().lower()
    if key in index:
        return index[key]
    if key.isdigit() and int(key) < len(labels):
        return int(key)
    return -1


def folder_class_targets(class_names: Optional[Sequence[str]], targets: Optional[Sequence[int]],
                         labels: Sequence[str]) -> Optional[List[int]]:
    """ImageFolder targets (indices into ``class_names``) -> model label indices; None when none is known."""
    if not class_names or targets is None:
        return None
    mapped = [class_index(class_names[t], labels) if t is not None and t >= 0 else -1 for t in targets]
    return mapped if any(t >= 0 for t in mapped) else None


def split_holdout(n: int, every: int = 5) -> tuple:
    """Indices (calibration, held-out) for ``n`` images: every ``every``-th image is held out (>= 1 when n > 1)."""
    if n <= 1:
        return list(range(n)), []
    held = [i for i in range(n) if i % every == every - 1] or [n - 1]
    keep = [i for i in range(n) if i not in set(held)]
    return keep, held


def _pts(x: float) -> float:
    return round(100.0 * float(x), 3)


def _classify(ref: List[Any], test: List[Any], targets: Optional[Sequence[int]]) -> Dict[str, Any]:
    r = [x.top[0].index for x in ref]
    t = [x.top[0].index for x in test]
    agree = top1_accuracy(t, r)
    out: Dict[str, Any] = {"metric": "top1", "top1_agreement": _pts(agree)}
    known = [i for i, y in enumerate(targets or []) if y is not None and y >= 0]
    if targets is not None and known:
        y = [targets[i] for i in known]
        acc_r = top1_accuracy([r[i] for i in known], y)
        acc_t = top1_accuracy([t[i] for i in known], y)
        out.update(basis="labels", labelled_images=len(known), reference=_pts(acc_r), test=_pts(acc_t),
                   drop=round(_pts(acc_r) - _pts(acc_t), 3))
    else:
        out.update(basis="reference outputs (no labels): drop = 100 - top-1 agreement, an upper bound of the "
                   "accuracy drop", reference=100.0, test=_pts(agree), drop=round(100.0 - _pts(agree), 3))
    return out


def _num_classes(pred: Any, masks: Sequence[np.ndarray], ignore_index: int = 255) -> int:
    n = len(pred.labels) if pred.labels else 0
    top = max((int(m[m != ignore_index].max(initial=0)) for m in masks if m.size), default=0)
    return max(n, top + 1)


def _segment(ref: List[Any], test: List[Any], targets: Optional[Sequence[np.ndarray]], pred: Any) -> Dict[str, Any]:
    rm = [x.mask for x in ref]
    tm = [x.mask for x in test]
    n = _num_classes(pred, rm + tm + list(targets or []))
    agree = float(np.mean([np.mean(a == b) for a, b in zip(rm, tm)])) if rm else 0.0
    vs_ref = miou(tm, rm, n)
    out: Dict[str, Any] = {"metric": "mIoU", "pixel_agreement": _pts(agree), "miou_vs_reference": _pts(vs_ref)}
    if targets is not None:
        mr, mt = miou(rm, targets, n), miou(tm, targets, n)
        out.update(basis="labels", reference=_pts(mr), test=_pts(mt), drop=round(_pts(mr) - _pts(mt), 3))
    else:
        out.update(basis="reference outputs (no labels): drop = 100 - mIoU of test masks vs reference masks",
                   reference=100.0, test=_pts(vs_ref), drop=round(100.0 - _pts(vs_ref), 3))
    return out


def _dets(i: int, result: Any) -> DetPrediction:
    d = result.detections
    return DetPrediction(i, np.array([x.box for x in d], np.float64).reshape(-1, 4),
                         np.array([x.score for x in d], np.float64), np.array([x.index for x in d], np.int64))


def _detect(ref: List[Any], test: List[Any], targets: Optional[Sequence[Any]]) -> Dict[str, Any]:
    rp = [_dets(i, x) for i, x in enumerate(ref)]
    tp = [_dets(i, x) for i, x in enumerate(test)]
    sizes = [x.image_size for x in ref]
    out: Dict[str, Any] = {"metric": "mAP", "reference_detections": int(sum(len(p.scores) for p in rp)),
                           "test_detections": int(sum(len(p.scores) for p in tp))}
    if targets is not None:
        gts = [DetGroundTruth(i, h, w, np.asarray(g[0], np.float64).reshape(-1, 4), np.asarray(g[1], np.int64))
               for i, ((h, w), g) in enumerate(zip(sizes, targets))]
        mr, mt = coco_map(gts, rp)["map"], coco_map(gts, tp)["map"]
        out.update(basis="labels", reference=_pts(mr), test=_pts(mt), drop=round(_pts(mr) - _pts(mt), 3))
        return out
    gts = [DetGroundTruth(p.image_id, h, w, p.boxes, p.labels) for p, (h, w) in zip(rp, sizes)]
    if out["reference_detections"] == 0:
        agree = 1.0 if out["test_detections"] == 0 else 0.0
        out.update(note="the reference model detected nothing on these images")
    else:
        agree = coco_map(gts, tp)["map50"]
    out.update(metric="mAP@0.5", basis="reference outputs (no labels): drop = 100 - mAP@0.5 of test detections "
               "scored against reference detections", reference=100.0, test=_pts(agree),
               drop=round(100.0 - _pts(agree), 3))
    return out


def compare(task: Task | str, ref_predictor: Any, test_predictor: Any, images: Sequence[np.ndarray],
            targets: Optional[Sequence[Any]] = None) -> Dict[str, Any]:
    """Run both (activated) predictors on ``images`` (RGB uint8) and compare them in task terms.

    ``targets``: classify -> class index per image (-1/None = unknown); segment -> (H, W) class
    masks at image size; detect -> (boxes (N, 4) pixel xyxy, class indices (N,)) per image.
    """
    task = Task(task)
    if not images:
        raise EdgeError("no held-out images to compare the quantized model on", "add images to --calib")
    if task is Task.detect and targets is not None:
        # mAP against ground truth integrates over all scores: keep low-score boxes, as `edgemnv2 eval` does.
        from ..evaluate import EVAL_SCORE_THRESHOLD

        for p in (ref_predictor, test_predictor):
            p.detect_options = dataclasses.replace(p.detect_options, score_threshold=EVAL_SCORE_THRESHOLD)
    ref = [ref_predictor.predict(img) for img in images]
    test = [test_predictor.predict(img) for img in images]
    if task is Task.classify:
        out = _classify(ref, test, targets)
    elif task is Task.segment:
        out = _segment(ref, test, targets, test_predictor)
    else:
        out = _detect(ref, test, targets)
    out["images"] = len(images)
    out["task"] = task.value
    return out


def check_max_drop(report: Dict[str, Any], max_drop: float, what: str = "int8") -> None:
    """Raise EdgeError when ``report['drop']`` (points) exceeds ``max_drop``."""
    drop = float(report["drop"])
    if drop > max_drop:
        raise EdgeError(f"{what} loses {drop:.2f} points of {report['metric']} vs fp32 on {report['images']} held-out "
                        f"images ({report['test']:.2f} vs {report['reference']:.2f}; limit --max-drop {max_drop:g}); "
                        "no bundle was written",
                        "calibrate with more representative images (--calib, --calib-count), evaluate on labelled "
                        "images (class sub-folders), or raise --max-drop")


def labelled_eval_set(task: Task, labels: Sequence[str], path: Any, count: int = 200,
                      say: Any = None) -> tuple:
    """A labelled held-out set (ImageFolder / COCO JSON / images+masks) -> (images, targets, source).

    Read with ``edgemnv2.data.readers.open_dataset`` (its ``val/`` split when there is one), at most
    ``count`` images in the dataset's order. Classification targets are mapped onto ``labels`` by name.
    """
    from pathlib import Path

    from ..data.readers import open_dataset

    task = Task(getattr(task, "value", task))
    ds = open_dataset(task, Path(path), "val")
    n = min(len(ds), int(count))
    images: List[np.ndarray] = []
    targets: List[Any] = []
    names = list(getattr(ds, "labels", []) or [])
    for i in range(n):
        img, t = ds.load(i)
        images.append(img)
        if task is Task.classify:
            targets.append(class_index(names[t] if 0 <= t < len(names) else None, labels))
        elif task is Task.detect:
            targets.append((t.boxes, t.classes))
        else:
            targets.append(t)
    if say is not None:
        say(f"evaluation: {n} labelled images from {ds.root}")
    return images, targets, str(ds.root)
