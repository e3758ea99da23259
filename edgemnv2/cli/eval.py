"""``edgemnv2 eval``: accuracy of a bundle or a bare model on a dataset (top-1, COCO mAP, mIoU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .options import BundleOpt, JsonOpt, LabelsOpt, ModelOpt, TaskOpt, ThreadsOpt, open_predictor


def eval_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset folder (ImageFolder, COCO JSON or images/ + masks/; "
                              "see docs/training.md). With splits inside, --split picks one."),
    bundle: BundleOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    labels: LabelsOpt = None,
    split: str = typer.Option("val", "--split", help="Split sub-folder to evaluate when --data has splits."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N images."),
    as_json: JsonOpt = False,
    score_threshold: float = typer.Option(0.01, "--score-threshold", help="detect: keep boxes above this score "
                                          "(low, since mAP integrates over all scores)."),
    threads: ThreadsOpt = None,
) -> None:
    """Measure top-1 (classify), COCO mAP (detect) or mIoU (segment) of a bundle or a bare model."""
    from ..data import open_dataset
    from ..errors import EdgeError
    from ..evaluate import evaluate
    from ..predictor import DetectOptions

    dopts = DetectOptions(score_threshold=score_threshold, iou_threshold=0.45, max_detections=100)
    predictor = open_predictor(bundle, model, task, labels, threads=threads, top_k=1, detect_options=dopts)
    if limit is not None and limit < 1:
        raise EdgeError("--limit must be >= 1")
    dataset = open_dataset(predictor.task, data, split)
    with predictor:
        result = evaluate(predictor, dataset, limit)
    result = {"model": str(bundle or model), "precision": predictor.manifest.get("precision"),
              "target": predictor.manifest.get("target"), "data": str(dataset.root), **result}
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.table import Table

    from ..ui import err_console

    table = Table(title=f"{result['task']} on {dataset.root} ({result['images']} images)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result["metrics"].items():
        table.add_row(k, f"{100 * v:.2f}%")
    for k, v in (result.get("per_class_iou") or {}).items():
        table.add_row(f"IoU {k}", "-" if v is None else f"{100 * v:.2f}%")
    from rich.console import Console

    Console().print(table)
    err_console().print(f"{result['seconds']} s, {result['predict_ms_mean']} ms per image (predict)")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
