"""Accuracy of any bundle or bare model on a dataset: top-1, COCO mAP, mIoU.

Inference goes through :class:`edgemnv2.predictor.Predictor` (the same preprocessing and task logic
as ``predict`` and ``camera``), so the numbers describe exactly what the deployed model does; the
metrics themselves come from :mod:`edgemnv2.metrics` (faster-coco-eval for mAP).
"""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .errors import EdgeError
from .tasks.base import Task

__all__ = ["evaluate", "label_mapping", "EVAL_SCORE_THRESHOLD"]

EVAL_SCORE_THRESHOLD = 0.01  # mAP integrates over the whole precision/recall curve: keep low-score boxes


def label_mapping(model_labels: Optional[Sequence[str]], data_labels: Sequence[str], background: bool) -> List[int]:
    """Model class index -> dataset class index (by name when the model's labels cover the dataset's).

    Falls back to identity by index (then the class counts must agree). -1 marks model classes that
    the dataset does not have.
    """
    if model_labels:
        named = {n: i for i, n in enumerate(data_labels)}
        wanted = data_labels[1:] if background else data_labels
        if all(n in model_labels for n in wanted):
            return [named.get(n, -1) for n in model_labels]
        if len(model_labels) != len(data_labels):
            raise EdgeError(f"the model has {len(model_labels)} classes {list(model_labels)[:6]}... but the dataset "
                            f"has {len(data_labels)} {list(data_labels)[:6]}...",
                            "evaluate on a dataset with the model's classes")
    return list(range(len(data_labels))) if not model_labels else list(range(len(model_labels)))


def evaluate(predictor: Any, dataset: Any, limit: Optional[int] = None, progress: bool = True) -> Dict[str, Any]:
    """Run ``predictor`` (activated) over ``dataset`` (a reader from edgemnv2.data); return metrics."""
    from .metrics import ConfusionMatrix, DetGroundTruth, DetPrediction, coco_map, top1_accuracy

    task = predictor.task
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise EdgeError(f"dataset {dataset.root} has no images to evaluate", "check --data and --split")
    data_labels = list(dataset.labels)
    mapping = label_mapping(predictor.labels, data_labels, task is not Task.classify)
    indices: Sequence[int] = range(n)
    if progress:
        from .ui import track

        indices = track(range(n), f"evaluating {n} images")
    t0 = time.perf_counter()
    infer_ms: List[float] = []
    out: Dict[str, Any] = {"task": task.value, "images": n}

    def predictions() -> Iterator[Tuple[Any, Any]]:
        """(ground truth, result) per image, timing each prediction."""
        for i in indices:
            rgb, truth = dataset.load(i)
            t = time.perf_counter()
            res = predictor.predict(rgb)
            infer_ms.append((time.perf_counter() - t) * 1e3)
            yield truth, res

    if task is Task.classify:
        preds, targets = [], []
        for target, res in predictions():
            k = res.top[0].index if res.top else -1
            preds.append(mapping[k] if 0 <= k < len(mapping) else -1)
            targets.append(target)
        out["metrics"] = {"top1": top1_accuracy(preds, targets)}
    elif task is Task.detect:
        gts, dets = [], []
        for s, res in predictions():
            gts.append(DetGroundTruth(s.image_id, s.height, s.width, s.boxes, s.category_ids))
            keep = [d for d in res.detections if 0 <= d.index < len(mapping) and mapping[d.index] > 0]
            dets.append(DetPrediction(
                s.image_id, np.asarray([d.box for d in keep], np.float32).reshape(-1, 4),
                np.asarray([d.score for d in keep], np.float32),
                np.asarray([dataset.category_ids[mapping[d.index] - 1] for d in keep], np.int64)))
        out["metrics"] = coco_map(gts, dets, categories=dataset.category_ids)
    else:
        cm = ConfusionMatrix(len(data_labels))
        lut = np.asarray([m if m >= 0 else 254 for m in mapping] + [254] * (256 - len(mapping)), np.uint8)
        for mask, res in predictions():
            cm.update(lut[res.mask], mask)
        iou = cm.iou()
        out["metrics"] = {"miou": cm.miou(), "pixel_accuracy": cm.pixel_accuracy()}
        out["per_class_iou"] = {data_labels[c]: (None if np.isnan(v) else round(float(v), 4))
                                for c, v in enumerate(iou)}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["predict_ms_mean"] = round(float(np.mean(infer_ms)), 3) if infer_ms else None
    return out
