"""``edgemnv2 eval``: accuracy of a bundle or a bare model on a dataset (top-1, COCO mAP, mIoU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..tasks.base import Task


def eval_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset folder (ImageFolder, COCO JSON or images/ + masks/; "
                              "see docs/training.md). With splits inside, --split picks one."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", "-b", help="Bundle directory from edgemnv2 build."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="A bare model file (.onnx, .tflite, .engine)."),
    task: Optional[Task] = typer.Option(None, "--task", help="Task of a bare --model (a bundle knows its own)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file for a bare --model (matched to the "
                                          "dataset's classes by name; without it, by index)."),
    split: str = typer.Option("val", "--split", help="Split sub-folder to evaluate when --data has splits."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N images."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the metrics on stdout."),
    score_threshold: float = typer.Option(0.01, "--score-threshold", help="detect: keep boxes above this score "
                                          "(low, since mAP integrates over all scores)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Runtime threads (default: the runtime's)."),
) -> None:
    """Measure top-1 (classify), COCO mAP (detect) or mIoU (segment) of a bundle or a bare model."""
    from ..data import open_dataset
    from ..errors import EdgeError
    from ..evaluate import evaluate
    from ..predictor import DetectOptions, Predictor

    if (bundle is None) == (model is None):
        raise EdgeError("pass exactly one of --bundle DIR or --model FILE")
    dopts = DetectOptions(score_threshold=score_threshold, iou_threshold=0.45, max_detections=100)
    if bundle is not None:
        if task is not None or labels is not None:
            raise EdgeError("--task and --labels are for a bare --model; a bundle records its own")
        predictor = Predictor.from_bundle(bundle, threads=threads, top_k=1, detect_options=dopts)
    else:
        if task is None:
            raise EdgeError("--task is required with --model", "pass --task classify, detect or segment")
        predictor = Predictor.from_model(model, task, labels, threads=threads, top_k=1, detect_options=dopts)
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
