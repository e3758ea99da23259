"""Optional per-model steps of ``edgemnv2 bench`` (pipeline, accuracy), run with the active predictor
after the timed loop; each returns the fields it adds to the model's result.

* ``--pipeline --source SRC``: the camera loop of :mod:`edgemnv2.apps.pipeline` (capture, preprocess,
  inference, postprocess, no sinks) for ``--frames`` frames; its ``PipelineStats.to_dict()`` goes to
  ``result["pipeline"]`` (per-stage blocks, frame age, interval and drop counts use the same latency
  schema as the model-only numbers).
* ``--eval DATA``: :func:`edgemnv2.evaluate.evaluate` over the dataset reader for the model's task
  (ImageFolder, COCO JSON, VOC-style masks) -> ``result["accuracy"]`` with the headline metric
  (top1, COCO mAP@[.5:.95], mIoU) and all the metrics the evaluation returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..errors import EdgeError

__all__ = ["Step", "pipeline_step", "eval_step", "eval_precheck", "combine_steps", "EVAL_SPLIT", "HEADLINE_METRIC"]

Step = Callable[[Any], Dict[str, Any]]
HEADLINE_METRIC = {"classify": "top1", "detect": "map", "segment": "miou"}
EVAL_SPLIT = "val"  # like build --eval and edgemnv2 eval: DIR/val when it exists, else DIR itself


def pipeline_step(source: str, frames: int) -> Step:
    """Check the pipeline is importable now (fail before measuring) and return the step."""
    if frames < 1:
        raise EdgeError(f"--frames is {frames}", "pass 1 or more frames for the pipeline run")
    try:
        from ..apps.pipeline import run_pipeline
    except ImportError as e:
        raise EdgeError(f"--pipeline needs the camera pipeline (edgemnv2.apps.pipeline): {e}",
                        "install OpenCV (pip install opencv-python-headless) or update edgemnv2") from None

    def step(predictor: Any) -> Dict[str, Any]:
        stats = run_pipeline(predictor, source, sinks=(), max_frames=frames, hud=False, warmup=1)
        stats.raise_for_error()
        d = stats.to_dict(samples=True)
        d["stages_ms"] = d.get("stages", {})
        return {"pipeline": d}

    return step


def eval_step(data: Path, limit: Optional[int]) -> Step:
    """Check the data path and readers now; the dataset is opened per model (its task decides the reader)."""
    if not Path(data).exists():
        raise EdgeError(f"--eval dataset {data} does not exist", "pass an ImageFolder, COCO or VOC-mask directory")
    if limit is not None and limit < 1:
        raise EdgeError(f"--eval-limit is {limit}", "pass 1 or more images")
    try:
        from ..data import open_dataset
        from ..evaluate import evaluate
    except ImportError as e:
        raise EdgeError(f"--eval needs the dataset readers and metrics: {e}",
                        "pip install 'edgemnv2[report]'") from None

    def step(predictor: Any) -> Dict[str, Any]:
        ds = open_dataset(predictor.task, data, EVAL_SPLIT)
        out = evaluate(predictor, ds, limit=limit, progress=False)
        metrics = out.get("metrics") or {}
        name = HEADLINE_METRIC[predictor.task.value]
        return {"accuracy": {"metric": name, "value": metrics.get(name), "metrics": metrics,
                             "dataset": str(getattr(ds, "root", data)),
                             "images": int(out.get("images", 0)), "seconds": out.get("seconds"),
                             **({"per_class_iou": out["per_class_iou"]} if "per_class_iou" in out else {})}}

    return step


def eval_precheck(data: Path, task: str, labels: Optional[List[str]], name: str) -> None:
    """Open the dataset for ``task`` and match its classes with the model's now, before anything is measured."""
    from ..data import open_dataset
    from ..evaluate import label_mapping

    try:
        ds = open_dataset(task, data, EVAL_SPLIT)
        label_mapping(labels, list(ds.labels), task != "classify")
    except EdgeError as e:
        raise EdgeError(f"--eval {data} for {name} ({task}): {e.message}", e.hint) from None


def combine_steps(steps: List[Step]) -> Optional[Step]:
    """One step running ``steps`` in order (their fields merged), or None when there are none."""
    if not steps:
        return None

    def run(predictor: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for step in steps:
            out.update(step(predictor))
        return out

    return run
