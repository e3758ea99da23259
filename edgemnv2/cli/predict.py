"""``edgemnv2 predict``: run a bundle or a bare model file on images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..tasks.base import Task


def predict(
    images: List[Path] = typer.Argument(..., help="Image files (JPEG, PNG, BMP, ...)."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", "-b", help="Bundle directory from edgemnv2 build."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="A bare model file (.onnx, .tflite, .engine)."),
    task: Optional[Task] = typer.Option(None, "--task", help="Task of a bare --model (a bundle knows its own)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file for a bare --model."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image per line on stdout."),
    mask_out: Optional[Path] = typer.Option(None, "--mask-out", help="segment: write <image stem>.png class masks "
                                            "(uint8 class index per pixel, input image size) here."),
    top_k: int = typer.Option(5, "--top-k", help="classify: how many classes to report."),
    score_threshold: Optional[float] = typer.Option(None, "--score-threshold", help="detect: minimum score "
                                                   "(default: the bundle's recorded threshold, else 0.3)."),
    iou_threshold: Optional[float] = typer.Option(None, "--iou-threshold", help="detect: NMS IoU threshold "
                                                 "(default: the bundle's, else 0.45)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Runtime threads (default: the runtime's)."),
) -> None:
    """Predict on images with a bundle (--bundle DIR) or a bare model (--model FILE --task T).

    Bare quantized models (uint8/int8 input, e.g. Coral's .tflite) are fed raw pixels; bare float
    models ImageNet-normalised RGB. Exits 1 if any image could not be read (the others are still done).
    """
    from ..errors import EdgeError
    from ..fileio import atomic_write_bytes, ensure_writable_dir
    from ..imageio import read_rgb
    from ..predictor import Predictor
    from ..ui import err_console

    if (bundle is None) == (model is None):
        raise EdgeError("pass exactly one of --bundle DIR or --model FILE")
    dopts = {"score_threshold": score_threshold, "iou_threshold": iou_threshold}
    if bundle is not None:
        if task is not None or labels is not None:
            raise EdgeError("--task and --labels are for a bare --model; a bundle records its own")
        predictor = Predictor.from_bundle(bundle, threads=threads, top_k=top_k, **dopts)
    else:
        if task is None:
            raise EdgeError("--task is required with --model", "pass --task classify, detect or segment")
        predictor = Predictor.from_model(model, task, labels, threads=threads, top_k=top_k, **dopts)
    if mask_out is not None:
        if predictor.task is not Task.segment:
            raise EdgeError("--mask-out is for segmentation models")
        ensure_writable_dir(mask_out, "mask output directory")
        mask_out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with predictor:
        for path in images:
            try:
                rgb = read_rgb(path)
            except EdgeError as e:
                err_console().print(f"[bold red]error:[/bold red] {e}", soft_wrap=True, highlight=False)
                failed += 1
                continue
            result = predictor.predict(rgb)
            if mask_out is not None and result.mask is not None:
                import cv2

                ok, png = cv2.imencode(".png", result.mask)
                atomic_write_bytes(mask_out / f"{path.stem}.png", png.tobytes())
            if as_json:
                typer.echo(json.dumps(result.to_json(str(path))))
            else:
                _print_human(path, result)
    if failed:
        raise typer.Exit(1)


def _print_human(path: Path, result) -> None:  # noqa: ANN001
    lines = [f"{path}:"]
    if result.task is Task.classify:
        lines += [f"  {c.score:6.3f}  {c.label} ({c.index})" for c in result.top]
    elif result.task is Task.detect:
        lines += [f"  {d.score:6.3f}  {d.label:<20} [{', '.join(f'{v:.0f}' for v in d.box)}]" for d in
                  result.detections] or ["  (no detections)"]
    else:
        counts = result.to_json()["classes"]
        total = max(sum(counts.values()), 1)
        lines += [f"  {100.0 * n / total:5.1f}%  {label}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
