"""``edgemnv2 bench``: measure bundles on this device and write report.json / report.md / report.html."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from ..tasks.base import Task


def bench(
    bundles: Optional[List[Path]] = typer.Option(None, "--bundle", "-b", help="Bundle directory (repeat for several; "
                                                 "they are measured one after another and compared)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="A bare model file (.onnx, .tflite, .engine)."),
    task: Optional[Task] = typer.Option(None, "--task", help="Task of a bare --model."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file for a bare --model."),
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
                                             "COCO JSON for detect, VOC-style masks for segment)."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Evaluate at most this many images."),
) -> None:
    """Benchmark bundles (or a bare model) on this device: latency distribution, throughput, cold start,
    memory, CPU, device telemetry (temperatures, clocks, Jetson power rails, Pi throttling) and, with
    --eval, accuracy. Writes report.json (schema in docs/report.md), report.md and report.html."""
    from rich.markup import escape

    from ..bench.environment import collect_environment
    from ..bench.measure import BenchConfig, ModelRef, bench_model, describe_ref, synthetic_image
    from ..bench.report import PLOTS_HINT, check_report_dir, new_report, write_report
    from ..bench.telemetry import device_state
    from ..errors import EdgeError
    from ..ui import say as _say
    from ..ui import warn

    def say(msg: str) -> None:
        _say(escape(msg))

    cfg = BenchConfig(runs=runs, warmup=warmup, threads=threads, duration_s=duration, interval_s=interval)
    cfg.validate()
    refs: List[ModelRef] = [ModelRef(bundle=b) for b in bundles or []]
    if model is not None:
        refs.append(ModelRef(model=model, task=task.value if task else None, labels=labels))
    elif task is not None or labels is not None:
        raise EdgeError("--task and --labels are for a bare --model; a bundle records its own")
    if not refs:
        raise EdgeError("nothing to benchmark", "pass --bundle DIR (repeatable) or --model FILE --task T")
    if pipeline and not source:
        raise EdgeError("--pipeline needs --source", "pass a video file, image folder or camera, e.g. --source 0")
    if source and not pipeline:
        raise EdgeError("--source is for --pipeline", "add --pipeline to run the full pipeline on it")
    check_report_dir(report)
    infos = [describe_ref(ref) for ref in refs]  # fail on a bad bundle or a missing runtime before measuring
    extra = _extras(pipeline, source, frames, eval_data, eval_limit)
    if eval_data is not None:
        from ..bench.extras import eval_precheck
        from ..bundle import load_bundle
        from ..labels import read_labels

        for ref, info in zip(refs, infos):
            names = load_bundle(ref.bundle).labels if ref.bundle is not None else \
                (read_labels(ref.labels) if ref.labels else None)
            eval_precheck(eval_data, info["task"], names, ref.name)
    if image is not None:
        from ..imageio import read_rgb

        img = read_rgb(image)
        image_desc = str(image)
    else:
        img = synthetic_image()
        image_desc = "synthetic 640x480 RGB"
    state = device_state()
    env = collect_environment(state)
    results: List[Dict[str, Any]] = []
    for ref in refs:
        r = bench_model(ref, cfg, img, say=say, extra=extra)
        r["environment"] = env["id"]
        results.append(r)
        lat = r["latency_ms"]
        say(f"{r['name']}: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, {r['throughput']['model_ips']:.1f} "
            f"inferences/s (model only), cold start {r['cold_start_ms']['total_ms']:.0f} ms")
    env["device_state_end"] = device_state()
    config = {"runs": runs if duration is None else None, "warmup": warmup, "threads": threads, "duration_s": duration,
              "interval_s": interval, "image": image_desc, "pipeline": source if pipeline else None,
              "frames": frames if pipeline else None, "eval": str(eval_data) if eval_data else None,
              "eval_limit": eval_limit}
    notes = []
    if (state.get("throttled") or {}).get("now"):
        notes.append(f"the Pi reported throttling before the run: {', '.join(state['throttled']['now'])}")
    doc = new_report("bench", ["edgemnv2", "bench", *sys.argv[2:]] if len(sys.argv) > 1 else ["edgemnv2", "bench"],
                     config, [env], results, notes)
    paths = write_report(doc, report)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        warn(escape(f"matplotlib is not installed: report.html has tables but no plots ({PLOTS_HINT})"))
    say(f"wrote {paths['json']}, {paths['md'].name}, {paths['html'].name}")


def _extras(pipeline: bool, source: Optional[str], frames: int, eval_data: Optional[Path],
            eval_limit: Optional[int]):  # noqa: ANN202
    """The optional per-model steps run with the active predictor (pipeline, accuracy)."""
    steps = []
    if pipeline:
        from ..bench.extras import pipeline_step

        steps.append(pipeline_step(source, frames))  # type: ignore[arg-type]
    if eval_data is not None:
        from ..bench.extras import eval_step

        steps.append(eval_step(eval_data, eval_limit))
    if not steps:
        return None

    def run(predictor: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for step in steps:
            out.update(step(predictor))
        return out

    return run


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
