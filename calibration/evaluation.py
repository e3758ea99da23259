"""int8 quality evaluation: the quantized model against its fp32 reference, in task terms (Pi and Jetson).

``compare(task, ref, test, images, targets)`` runs two activated ``Predictor`` objects (fp32 and
int8 of one model) on the same images and returns a ``Comparison``: a report in points (0..100)
and the gated quantity as a function of a resample of the images (``calibration/gate.py`` puts an
interval around it).

* with ground truth (``targets``; labelled ``--eval`` data or class sub-folders in ``--calib``):
  the metric of each model (top-1 accuracy, COCO mAP, mIoU) and ``drop`` = reference - test;
* without: how far int8 agrees with fp32 (``agreement``): top-1 agreement; mAP@0.5 of the int8
  detections scored against the fp32 detections; mIoU of the int8 masks against the fp32 masks.
  This is agreement, not accuracy: it is judged against ``--min-agreement``, not ``--max-drop``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgeError
from ..finite import check_finite_outputs
from ..metrics import ConfusionMatrix, DetGroundTruth, DetPrediction, coco_map
from ..tasks.base import Task

__all__ = ["Comparison", "compare", "split_holdout", "labelled_eval_set", "class_index", "folder_class_targets"]

UNLABELLED = "fp32 outputs (no labels): agreement, not accuracy"


@dataclass
class Comparison:
    """fp32 vs int8 on ``units`` images: the report, and the gated quantity on any resample of them."""

    report: Dict[str, Any]
    gated: str  # "drop" (with labels) or "agreement" (without)
    units: int  # images the gated quantity is measured on
    measure: Callable[[np.ndarray], float]  # image indices (with repeats) -> the gated quantity, in points
    successes: Optional[int] = None  # agreeing images, when the quantity is a share of images (exact interval)
    discordant: Optional[Tuple[int, int]] = None  # (fp32 right only, int8 right only): a paired top-1 drop
    resamples: int = 2000  # bootstrap resamples the measure affords (coco_map is slow: fewer)

    @property
    def value(self) -> float:
        return float(self.report[self.gated])

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


def _classify(ref: List[Any], test: List[Any], targets: Optional[Sequence[int]]) -> Comparison:
    r = np.array([x.top[0].index for x in ref])
    t = np.array([x.top[0].index for x in test])
    agree = (r == t).astype(np.float64)
    out: Dict[str, Any] = {"metric": "top1", "top1_agreement": _pts(agree.mean())}
    known = np.array([i for i, y in enumerate(targets or []) if y is not None and y >= 0], np.int64)
    if known.size:
        y = np.array([targets[i] for i in known])  # type: ignore[index]
        diff = (r[known] == y).astype(np.float64) - (t[known] == y)  # per image: +1 fp32 right only, -1 int8 only
        out.update(basis="labels", labelled_images=int(known.size), reference=_pts(np.mean(r[known] == y)),
                   test=_pts(np.mean(t[known] == y)), drop=_pts(diff.mean()))
        return Comparison(out, "drop", int(known.size), lambda idx: 100.0 * float(diff[idx].mean()),
                          discordant=(int((diff > 0).sum()), int((diff < 0).sum())))
    out.update(basis=UNLABELLED, agreement=out["top1_agreement"])
    return Comparison(out, "agreement", len(r), lambda idx: 100.0 * float(agree[idx].mean()),
                      successes=int(agree.sum()))


def _confusions(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-image confusion matrices (N, C, C) and out-of-range counts (N, C): mIoU of any resample by summing."""
    mats, others = [], []
    for p, g in zip(preds, gts):
        cm = ConfusionMatrix(n)
        cm.update(p, g)
        mats.append(cm.matrix)
        others.append(cm.other)
    return np.stack(mats), np.stack(others)


def _miou_of(mats: np.ndarray, others: np.ndarray, n: int) -> Callable[[np.ndarray], float]:
    def miou(idx: np.ndarray) -> float:
        cm = ConfusionMatrix(n)
        cm.matrix, cm.other = mats[idx].sum(0), others[idx].sum(0)
        return 100.0 * cm.miou()

    return miou


def _num_classes(pred: Any, masks: Sequence[np.ndarray], ignore_index: int = 255) -> int:
    n = len(pred.labels) if pred.labels else 0
    top = max((int(m[m != ignore_index].max(initial=0)) for m in masks if m.size), default=0)
    return max(n, top + 1)


def _segment(ref: List[Any], test: List[Any], targets: Optional[Sequence[np.ndarray]], pred: Any) -> Comparison:
    rm = [x.mask for x in ref]
    tm = [x.mask for x in test]
    n = _num_classes(pred, rm + tm + list(targets or []))
    every = np.arange(len(rm))
    vs_ref = _miou_of(*_confusions(tm, rm, n), n)
    pixels = np.mean([np.mean(a == b) for a, b in zip(rm, tm)])
    out: Dict[str, Any] = {"metric": "mIoU", "pixel_agreement": _pts(pixels),
                           "miou_vs_reference": round(vs_ref(every), 3)}
    if targets is not None:
        m_ref, m_test = _miou_of(*_confusions(rm, targets, n), n), _miou_of(*_confusions(tm, targets, n), n)
        out.update(basis="labels", reference=round(m_ref(every), 3), test=round(m_test(every), 3))
        out["drop"] = round(out["reference"] - out["test"], 3)
        return Comparison(out, "drop", len(rm), lambda idx: m_ref(idx) - m_test(idx))
    out.update(basis=UNLABELLED, agreement=out["miou_vs_reference"])
    return Comparison(out, "agreement", len(rm), vs_ref)


def _dets(i: int, result: Any) -> DetPrediction:
    d = result.detections
    return DetPrediction(i, np.array([x.box for x in d], np.float64).reshape(-1, 4),
                         np.array([x.score for x in d], np.float64), np.array([x.index for x in d], np.int64))


def _map_of(gts: Sequence[DetGroundTruth], preds: Sequence[DetPrediction], key: str) -> Callable[[np.ndarray], float]:
    """COCO ``key`` (map / map50) on a resample of the images; a repeated image counts as a new image."""
    def value(idx: np.ndarray) -> float:
        g = [dataclasses.replace(gts[i], image_id=j) for j, i in enumerate(idx)]
        p = [dataclasses.replace(preds[i], image_id=j) for j, i in enumerate(idx)]
        if not any(len(x.labels) for x in g):  # nothing to find: agreement is "found nothing either"
            return 100.0 if not any(len(x.scores) for x in p) else 0.0
        return 100.0 * coco_map(g, p)[key]

    return value


def _detect(ref: List[Any], test: List[Any], targets: Optional[Sequence[Any]]) -> Comparison:
    rp = [_dets(i, x) for i, x in enumerate(ref)]
    tp = [_dets(i, x) for i, x in enumerate(test)]
    sizes = [x.image_size for x in ref]
    every = np.arange(len(rp))
    out: Dict[str, Any] = {"metric": "mAP", "reference_detections": int(sum(len(p.scores) for p in rp)),
                           "test_detections": int(sum(len(p.scores) for p in tp))}
    if targets is not None:
        gts = [DetGroundTruth(i, h, w, np.asarray(g[0], np.float64).reshape(-1, 4), np.asarray(g[1], np.int64))
               for i, ((h, w), g) in enumerate(zip(sizes, targets))]
        m_ref, m_test = _map_of(gts, rp, "map"), _map_of(gts, tp, "map")
        out.update(basis="labels", reference=round(m_ref(every), 3), test=round(m_test(every), 3))
        out["drop"] = round(out["reference"] - out["test"], 3)
        return Comparison(out, "drop", len(rp), lambda idx: m_ref(idx) - m_test(idx), resamples=300)
    as_truth = [DetGroundTruth(p.image_id, h, w, p.boxes, p.labels) for p, (h, w) in zip(rp, sizes)]
    agree = _map_of(as_truth, tp, "map50")
    if out["reference_detections"] == 0:
        out.update(note="the fp32 model detected nothing on these images")
    out.update(metric="mAP@0.5", basis=UNLABELLED + " (int8 detections scored against fp32 detections)",
               agreement=round(agree(every), 3))
    return Comparison(out, "agreement", len(rp), agree, resamples=300)


def _checked_predict(predictor: Any, image: np.ndarray, what: str) -> Any:
    """predict, refusing NaN/Inf raw outputs (at task level they would vanish below a threshold)."""
    raw = predictor.infer(predictor.preprocess(image))
    check_finite_outputs(raw, what)
    return predictor.postprocess(raw, image.shape[:2])


def compare(task: Task | str, ref_predictor: Any, test_predictor: Any, images: Sequence[np.ndarray],
            targets: Optional[Sequence[Any]] = None) -> Comparison:
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
    ref = [_checked_predict(ref_predictor, img, "reference model") for img in images]
    test = [_checked_predict(test_predictor, img, "quantized model") for img in images]
    if task is Task.classify:
        out = _classify(ref, test, targets)
    elif task is Task.segment:
        out = _segment(ref, test, targets, test_predictor)
    else:
        out = _detect(ref, test, targets)
    out.report.update(images=len(images), task=task.value)
    return out

def labelled_eval_set(task: Task, labels: Sequence[str], path: Any, count: int,
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
    if task is Task.classify and targets and all(t < 0 for t in targets):
        from ..errors import EdgeError

        raise EdgeError(f"none of the classes in {ds.root} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
                        " is one of the model's labels, so --eval cannot measure accuracy",
                        "name the class folders as the model's labels, or pass the matching --weights/--labels")
    if say is not None:
        say(f"evaluation: {n} labelled images from {ds.root}")
    return images, targets, str(ds.root)
