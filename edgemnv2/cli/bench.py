"""``edgemnv2 bench``: measure bundles on this device and write report.json / report.md / report.html."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .options import LabelsOpt, ModelOpt, TaskOpt


def bench(
    bundles: Optional[List[Path]] = typer.Option(None, "--bundle", "-b", help="Bundle directory (repeat for several; "
                                                 "they are measured one after another and compared)."),
    model: ModelOpt = None,
    task: TaskOpt = None,
    labels: LabelsOpt = None,
    report: Path = typer.Option(..., "--report", "-o", help="Directory for report.json, report.md and report.html "
                                "(created; existing report files in it are replaced)."),
    runs: int = typer.Option(100, "--runs", "-n", help="Timed runs per model, after warm-up."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed warm-up runs per model."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Runtime threads (default: the runtime's)."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Sustained mode: run each model this many "
                                             "seconds (instead of --runs) and report latency, temperature and clocks "
                                             "per time window, to expose thermal throttling."),
    interval: float = typer.Option(0.5, "--interval", help="Telemetry sampling interval in seconds."),
    image: Optional[Path] = typer.Option(None, "--image", help="Input image for the runs (default: a synthetic "
                                         "640x480 RGB image)."),
    pipeline: bool = typer.Option(False, "--pipeline", help="Also run the full pipeline (capture, preprocess, "
                                  "inference, postprocess) on --source and report per-stage times, frame age, drops."),
    source: Optional[str] = typer.Option(None, "--source", help="Pipeline source: video file, image folder, camera "
                                         "index, csi://N, rtsp://..."),
    frames: int = typer.Option(200, "--frames", help="Pipeline: frames to process."),
    eval_data: Optional[Path] = typer.Option(None, "--eval", help="Dataset for accuracy (ImageFolder for classify, "
                                             "COCO JSON for detect, VOC-style masks for segment); its val/ split "
                                             "when it has one, like build --eval and edgemnv2 eval."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Evaluate at most this many images."),
) -> None:
    """Benchmark bundles (or a bare model) on this device: latency distribution, throughput, cold start,
    memory, CPU, device telemetry (temperatures, clocks, Jetson power rails, Pi throttling), for TFLite
    which ops XNNPACK ran (a warning when int8 runs un-delegated) and, with --eval, accuracy. Writes
    report.json (schema in docs/report.md), report.md and report.html."""
    from rich.markup import escape

    from ..bench.measure import BenchConfig
    from ..bench.report import PLOTS_HINT
    from ..bench.run import BenchRequest, model_refs, run_bench
    from ..errors import EdgeError
    from ..ui import say, warn

    cfg = BenchConfig(runs=runs, warmup=warmup, threads=threads, duration_s=duration, interval_s=interval)
    cfg.validate()
    refs = model_refs(bundles or [], model, task.value if task else None, labels)
    if pipeline and not source:
        raise EdgeError("--pipeline needs --source", "pass a video file, image folder or camera, e.g. --source 0")
    if source and not pipeline:
        raise EdgeError("--source is for --pipeline", "add --pipeline to run the full pipeline on it")
    req = BenchRequest(refs, cfg, report, image, source if pipeline else None, frames, eval_data, eval_limit)
    command = ["edgemnv2", "bench", *sys.argv[2:]] if len(sys.argv) > 1 else ["edgemnv2", "bench"]
    paths = run_bench(req, command, say=lambda m: say(escape(m)), warn=lambda m: warn(escape(m)))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        warn(escape(f"matplotlib is not installed: report.html has tables but no plots ({PLOTS_HINT})"))
    say(escape(f"wrote {paths['json']}, {paths['md'].name}, {paths['html'].name}"))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
