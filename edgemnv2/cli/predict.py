"""``edgemnv2 predict``: run a bundle or a bare model file on images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..model_io import BoxFormat, BoxUnits
from ..tasks.base import Task
from .options import (
    BundleOpt,
    IouThresholdOpt,
    LabelsOpt,
    ModelOpt,
    ScoreThresholdOpt,
    TaskOpt,
    ThreadsOpt,
    TopKOpt,
    open_predictor,
)

_BARE = "Bare --model: "


def predict(
    images: List[Path] = typer.Argument(..., help="Image files (JPEG, PNG, BMP, ...)."),
    bundle: BundleOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    labels: LabelsOpt = None,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image per line on stdout "
                                 "(detect: COCO boxes, bbox = [x, y, width, height] in pixels)."),
    mask_out: Optional[Path] = typer.Option(None, "--mask-out", help="segment: write <image stem>.png class masks "
                                            "(uint8 class index per pixel, input image size) here."),
    top_k: TopKOpt = 5,
    score_threshold: ScoreThresholdOpt = None,
    iou_threshold: IouThresholdOpt = None,
    threads: ThreadsOpt = None,
    mean: Optional[str] = typer.Option(None, "--mean", help=_BARE + "input mean, 1 or 3 numbers in 0..255 pixel "
                                       "units (real = (pixel - mean) / std). Default: the file's metadata, "
                                       "raw pixels for integer inputs, else ImageNet's."),
    std: Optional[str] = typer.Option(None, "--std", help=_BARE + "input std, 1 or 3 numbers (see --mean)."),
    input_range: Optional[str] = typer.Option(None, "--input-range", help=_BARE + "LOW,HIGH the float input "
                                              "expects for pixels 0..255, e.g. -1,1 or 0,1 or 0,255."),
    resolution: Optional[str] = typer.Option(None, "--resolution", help=_BARE + "N or HxW for a model whose "
                                             "input size is dynamic (-1)."),
    outputs: Optional[str] = typer.Option(None, "--outputs", help=_BARE + "detector output names, "
                                          "boxes=NAME,scores=NAME (or logits=NAME for scores before softmax)."),
    box_format: Optional[BoxFormat] = typer.Option(None, "--box-format", help=_BARE + "detector box layout "
                                                   "(default xyxy)."),
    box_units: Optional[BoxUnits] = typer.Option(None, "--box-units", help=_BARE + "detector boxes normalised "
                                                 "0..1 (default) or in pixels of the model input."),
    background: Optional[bool] = typer.Option(None, "--background/--no-background", help=_BARE + "whether "
                                              "class 0 of a detector's scores is background (default yes)."),
) -> None:
    """Predict on images with a bundle (--bundle DIR) or a bare model (--model FILE --task T).

    A bare model is read for what it says about itself: TFLite Model Metadata (normalisation,
    labels), the op producing each output (softmax or logits, SSD post-processing), the ONNX graph.
    Without metadata, quantized inputs get raw pixels and float inputs ImageNet normalisation unless
    --mean/--std or --input-range say otherwise. --json says which rule decided ("semantics").
    Exits 1 if any image could not be read or gave NaN/Inf outputs (the others are still done;
    JSON writes such scores as null).
    """
    from rich.markup import escape

    from ..errors import EdgeError
    from ..fileio import atomic_write_bytes, ensure_writable_dir
    from ..finite import json_safe, nonfinite
    from ..imageio import read_rgb
    from ..model_io import overrides
    from ..ui import err_console, warn

    dopts = {"score_threshold": score_threshold, "iou_threshold": iou_threshold}
    bare = overrides(mean, std, input_range, resolution, outputs, box_format, box_units, background)
    predictor = open_predictor(bundle, model, task, labels, threads=threads, top_k=top_k, overrides=bare, **dopts)
    if mask_out is not None:
        if predictor.task is not Task.segment:
            raise EdgeError("--mask-out is for segmentation models")
        ensure_writable_dir(mask_out, "mask output directory")
        mask_out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with predictor:
        for note in predictor.notes:
            warn(escape(note))
        for path in images:
            try:
                rgb = read_rgb(path)
            except EdgeError as e:
                err_console().print(f"[bold red]error:[/bold red] {e}", soft_wrap=True, highlight=False)
                failed += 1
                continue
            raw = predictor.infer(predictor.preprocess(rgb))
            bad = nonfinite(raw)
            if bad is not None:  # NaN scores would print as "nan" and make --json invalid: null, said, exit 1
                warn(escape(f"{path}: output '{bad[0]}' holds NaN/Inf ({bad[1]} of {bad[2]} values); such scores "
                            "are written as null"))
                failed += 1
            result = predictor.postprocess(raw, rgb.shape[:2])
            if mask_out is not None and result.mask is not None:
                import cv2

                ok, png = cv2.imencode(".png", result.mask)
                atomic_write_bytes(mask_out / f"{path.stem}.png", png.tobytes())
            if as_json:
                typer.echo(json.dumps(json_safe(_record(result, path))[0], allow_nan=False))
            else:
                _print_human(path, result)
    if failed:
        raise typer.Exit(1)


def _record(result, path: Path) -> dict:  # noqa: ANN001
    """The JSON line of one image; detections carry COCO boxes, ``bbox`` = [x, y, width, height] in pixels,
    as the camera app's JSON lines do."""
    d = result.to_json(str(path), semantics=True)
    for det in d.get("detections", []):
        x1, y1, x2, y2 = det.pop("box")
        det["bbox"] = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
    return d


def _print_human(path: Path, result) -> None:  # noqa: ANN001
    lines = [f"{path}:"]
    if result.task is Task.classify:
        lines += [f"  {c.score:6.3f}  {c.label} ({c.index})" for c in result.top]
    elif result.task is Task.detect:
        lines += [f"  {d.score:6.3f}  {d.label:<20} x {d.box[0]:.0f}  y {d.box[1]:.0f}  w {d.box[2] - d.box[0]:.0f}  "
                  f"h {d.box[3] - d.box[1]:.0f}" for d in result.detections] or ["  (no detections)"]
    else:
        counts = result.to_json()["classes"]
        total = max(sum(counts.values()), 1)
        lines += [f"  {100.0 * n / total:5.1f}%  {label}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
