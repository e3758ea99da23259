"""``edgemnv2 build``: make a bundle for a target (cpu reference, Raspberry Pi, Jetson)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..build_options import TARGETS, BuildOptions, Precision, Target
from ..tasks.base import Task

_D = BuildOptions  # the defaults below are BuildOptions' own


def build(
    target: Target = typer.Option(_D.target, "--target", "-t", help="Where the bundle will run: " +
                                  "; ".join(s.help() for s in TARGETS.values()) + "."),
    task: Optional[Task] = typer.Option(None, "--task", help="classify, detect or segment (not with --bundle)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Bundle directory to write "
                                     "(replaced atomically; only an empty one or a bundle of ours is replaced)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Checkpoint: .safetensors or a PyTorch state "
                                           "dict (torchvision mobilenet_v2 layout loads); a MobileNetV2 / "
                                           "DeepLabv3 .tflite to import (float or int8; width, resolution, classes, "
                                           "normalisation and padding read from it, agreement checked); a "
                                           "built-in name: imagenet (classify), voc (segment), shapes (all tasks), "
                                           "torchvision[-v1] (downloaded once); or an .onnx file taken as-is "
                                           "(cpu, jetson). Default: imagenet / shapes / voc for classify / detect / "
                                           "segment."),
    check_images: Optional[Path] = typer.Option(None, "--check-images", help="--weights FILE.tflite: photos to "
                                                "check the import's agreement with the original on (default: "
                                                "--calib, else crops of scikit-image's sample photos)."),
    width_mult: Optional[float] = typer.Option(None, "--width-mult", help="Width multiplier 0.35-1.4."),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="Square input size (>= 32; a multiple "
                                             "of 32 for detect)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classes (background included for "
                                              "detect/segment). Default: from --labels or the task's default."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file, one per line."),
    precision: Optional[Precision] = typer.Option(None, "--precision", "-p",
                                                  help="Default: the target's (see --target)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Folder of calibration images (int8); every "
                                         "5th is held out to evaluate int8 unless --eval is given."),
    calib_count: int = typer.Option(_D.calib_count, "--calib-count", help="Calibration images to use (int8)."),
    eval_data: Optional[Path] = typer.Option(None, "--eval", help="int8: a labelled dataset (ImageFolder / COCO "
                                             "JSON / images+masks; its val/ split if present) to measure the "
                                             "fp32 -> int8 accuracy drop on, judged by --max-drop. Without it int8 "
                                             "is judged by its agreement with fp32 on held-out --calib images."),
    eval_count: int = typer.Option(_D.eval_count, "--eval-count", help="int8: images of --eval to use."),
    max_drop: float = typer.Option(_D.max_drop, "--max-drop", help="int8 with --eval: fail when the accuracy "
                                   "drop vs fp32 (top-1 / mAP / mIoU points) is above this with 95% confidence."),
    min_agreement: float = typer.Option(_D.min_agreement, "--min-agreement", help="int8 without --eval: fail when "
                                        "the agreement with fp32 (top-1 / mAP@0.5 / mIoU points) is below this "
                                        "with 95% confidence."),
    dla_core: Optional[int] = typer.Option(None, "--dla-core", help="Jetson: build for this DLA core."),
    workspace: int = typer.Option(_D.workspace_mb, "--workspace", help="Jetson: TensorRT builder workspace in MB."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Jetson: finish the engine of a bundle built on a "
                                          "host without TensorRT (run this on the Jetson)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads for checks run during the build."),
    seed: int = typer.Option(_D.seed, "--seed", help="Seed for calibration sampling and the gate's bootstrap."),
    in_model_nms: bool = typer.Option(False, "--in-model-nms", help="pi, detect: put the SSD box decoding and NMS "
                                      "inside the .tflite (TFLite_Detection_PostProcess; 4 outputs like Google's "
                                      "SSD detectors)."),
    in_model_argmax: bool = typer.Option(False, "--in-model-argmax", help="pi, segment: end the .tflite in "
                                         "ARG_MAX, a class map like Google's DeepLab files (less CPU per camera "
                                         "frame; no per-pixel scores)."),
) -> None:
    """Build a bundle: model file(s) + manifest.json + labels.txt, checked against PyTorch.

    Examples:
      edgemnv2 build --target cpu --task classify --out bundles/cls
      edgemnv2 build --target pi --task detect --precision int8 --calib images/ --out bundles/det-pi
      edgemnv2 build --target jetson --task segment --precision int8 --calib images/ --out bundles/seg-jetson
    """
    from ..build_options import build_bundle
    from ..errors import EdgeError
    from ..fileio import OutputKind, check_output_dir
    from ..ui import say, stdout_to_stderr

    if bundle is not None:
        if target is not Target.jetson:
            raise EdgeError("--bundle finishes Jetson bundles only", "add --target jetson")
        from ..targets.jetson.engine import finish_jetson_bundle

        with stdout_to_stderr():
            finish_jetson_bundle(bundle, workspace_mb=workspace, dla_core=dla_core, progress=say)
        return
    if task is None:
        raise EdgeError("--task is required", "pass --task classify, detect or segment")
    if out is None:
        raise EdgeError("--out is required", "pass --out DIR for the bundle")
    onnx_path = None
    if weights is not None and weights.suffix.lower() == ".onnx":
        onnx_path, weights = weights, None
    check_output_dir(out, OutputKind.bundle, {"--calib": calib, "--eval": eval_data, "--weights": onnx_path or weights,
                                              "--labels": labels})
    opts = BuildOptions(task=task, out=out, target=target, weights=weights, onnx=onnx_path, width_mult=width_mult,
                        resolution=resolution, num_classes=num_classes, labels=labels, precision=precision,
                        calib=calib, calib_count=calib_count, seed=seed, eval_data=eval_data, eval_count=eval_count,
                        max_drop=max_drop, min_agreement=min_agreement, dla_core=dla_core, workspace_mb=workspace,
                        check_images=check_images, threads=threads, in_model_nms=in_model_nms,
                        in_model_argmax=in_model_argmax)
    with stdout_to_stderr():  # converters' native logs must not reach stdout
        manifest = build_bundle(opts, progress=say)
    _summary(out, manifest)


def _summary(out: Path, manifest: dict) -> None:
    from ..ui import err_console

    reports, prec = manifest.get("reports") or {}, manifest["precision"]
    line = f"[green]built[/green] {out} ({manifest['target']}, {manifest['task']}, {prec}"
    checks = []  # the shipped model's own check first: fp16/int8 are not described by the fp32 parity
    if (reports.get("parity_fp16") or {}).get("max_abs_diff") is not None:
        checks.append(f"fp16 max |Δ| vs PyTorch {reports['parity_fp16']['max_abs_diff']:.2e}")
    if prec == "fp16" and (reports.get("fp16_onnx") or {}).get("max_abs_diff") is not None:
        checks.append(f"fp16 ONNX max |Δ| vs fp32 {reports['fp16_onnx']['max_abs_diff']:.2e}")
    acc = reports.get("accuracy") or {}
    gate = acc.get("gate") or {}
    if prec == "int8" and gate.get("value") is not None:
        what = "drop" if gate.get("judged") == "drop" else "agreement with fp32"
        checks.append(f"int8 {acc.get('metric', '')} {what} {gate['value']:.2f} points: {gate.get('verdict')}")
    if (reports.get("parity") or {}).get("max_abs_diff") is not None:
        label = "max |Δ| vs PyTorch" if prec == "fp32" else "fp32 max |Δ| vs PyTorch"
        checks.append(f"{label} {reports['parity']['max_abs_diff']:.2e}")
    err_console().print(line + "".join(f", {c}" for c in checks) + ")")


def register(app: typer.Typer) -> None:
    app.command("build")(build)
