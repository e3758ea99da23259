"""``edgemnv2 build``: make a bundle for a target (cpu reference, Raspberry Pi, Jetson)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..tasks.base import Task


class Target(str, Enum):
    cpu = "cpu"
    pi = "pi"
    jetson = "jetson"


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


DEFAULT_PRECISION = {Target.cpu: Precision.fp32, Target.pi: Precision.fp32, Target.jetson: Precision.fp16}


def build(
    target: Target = typer.Option(Target.cpu, "--target", "-t", help="Where the bundle will run."),
    task: Optional[Task] = typer.Option(None, "--task", help="classify, detect or segment (not with --bundle)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Bundle directory to write (replaced atomically)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Checkpoint: .safetensors or a PyTorch state "
                                           "dict (torchvision mobilenet_v2 layout loads), or an .onnx file taken "
                                           "as-is (cpu, jetson). Default: the built-in model, else random init "
                                           "(said loudly)."),
    width_mult: Optional[float] = typer.Option(None, "--width-mult", help="Width multiplier 0.35-1.4."),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="Square input size, a multiple of 32."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classes (background included for "
                                              "detect/segment). Default: from --labels or the task's default."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file, one per line."),
    precision: Optional[Precision] = typer.Option(None, "--precision", "-p",
                                                  help="fp32 (cpu, pi), fp16 (pi, jetson) or int8 (pi, jetson). "
                                                  "Default: fp32 for cpu/pi, fp16 for jetson."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Folder of calibration images (int8)."),
    calib_count: int = typer.Option(200, "--calib-count", help="Calibration images to use (int8)."),
    eval_data: Optional[Path] = typer.Option(None, "--eval", help="int8: a labelled dataset (ImageFolder / COCO "
                                             "JSON / images+masks; its val/ split if present) to measure the "
                                             "fp32 -> int8 drop on. Without it the drop is measured as "
                                             "disagreement with fp32 on held-out --calib images (an upper bound)."),
    eval_count: int = typer.Option(200, "--eval-count", help="int8: images of --eval to use."),
    max_drop: float = typer.Option(1.0, "--max-drop", help="int8: fail when quality drops more than this many "
                                   "points vs fp32 (top-1 / mAP / mIoU, in %)."),
    dla_core: Optional[int] = typer.Option(None, "--dla-core", help="Jetson: build for this DLA core."),
    workspace: int = typer.Option(1024, "--workspace", help="Jetson: TensorRT builder workspace in MB."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Jetson: finish the engine of a bundle built on a "
                                          "host without TensorRT (run this on the Jetson)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads for checks run during the build."),
    seed: int = typer.Option(0, "--seed", help="Seed for calibration sampling."),
) -> None:
    """Build a bundle: model file(s) + manifest.json + labels.txt, checked against PyTorch.

    Examples:
      edgemnv2 build --target cpu --task classify --out bundles/cls
      edgemnv2 build --target pi --task detect --precision int8 --calib images/ --out bundles/det-pi
      edgemnv2 build --target jetson --task segment --precision int8 --calib images/ --out bundles/seg-jetson
    """
    from ..errors import EdgeError
    from ..model_source import BuildOptions
    from ..ui import say

    if bundle is not None:
        if target is not Target.jetson:
            raise EdgeError("--bundle finishes Jetson bundles only", "add --target jetson")
        from ..targets.jetson.engine import finish_jetson_bundle

        finish_jetson_bundle(bundle, workspace_mb=workspace, dla_core=dla_core, progress=say)
        return
    if task is None:
        raise EdgeError("--task is required", "pass --task classify, detect or segment")
    if out is None:
        raise EdgeError("--out is required", "pass --out DIR for the bundle")
    prec = (precision or DEFAULT_PRECISION[target]).value
    onnx_path = None
    if weights is not None and weights.suffix.lower() == ".onnx":
        if target is Target.pi:
            raise EdgeError("--target pi converts from PyTorch weights, not from an ONNX file",
                            "pass the .safetensors/.pt checkpoint the ONNX was exported from")
        onnx_path, weights = weights, None
    opts = BuildOptions(onnx=onnx_path, task=task, out=out, target=target.value, weights=weights, width_mult=width_mult,
                        resolution=resolution, num_classes=num_classes, labels=labels, precision=prec, calib=calib,
                        calib_count=calib_count, max_drop=max_drop, dla_core=dla_core, workspace_mb=workspace,
                        threads=threads, seed=seed,
                        extra={"eval": eval_data, "eval_count": eval_count} if eval_data is not None else {})
    if target is Target.cpu:
        from ..targets.cpu.build import build_cpu_bundle as builder
    elif target is Target.pi:
        from ..targets.pi.build import build_pi_bundle as builder  # type: ignore[no-redef]
    else:
        from ..targets.jetson.export import build_jetson_bundle as builder  # type: ignore[no-redef]
    manifest = builder(opts, progress=say)
    _summary(out, manifest)


def _summary(out: Path, manifest: dict) -> None:
    from ..ui import err_console

    parity = (manifest.get("reports") or {}).get("parity")
    line = f"[green]built[/green] {out} ({manifest['target']}, {manifest['task']}, {manifest['precision']}"
    if parity:
        line += f", max |Δ| vs PyTorch {parity['max_abs_diff']:.2e}"
    err_console().print(line + ")")


def register(app: typer.Typer) -> None:
    app.command("build")(build)
