"""Camera-loop throughput vs bare runner throughput, same model, same threads, measured in one run.

The camera loop (``edgemnv2.apps.pipeline.run_pipeline``: capture thread -> BGR->RGB + preprocess +
inference thread -> postprocess + overlay + HUD) should be inference-bound: its frames per second
should be close to what the bare runner does calling ``infer`` on a ready input in a tight loop.
Goal: ratio >= 0.95. Rounds alternate bare / camera so load changes on the machine hit both.
"inference idle" near 0 with "frame interval" close to "inference" means the loop is inference-bound;
a ratio below 1 is then the other stages' CPU time competing with inference for the cores.

    python benchmarks/camera_throughput.py                       # Coral MobileNetV2 classifier (TFLite)
    python benchmarks/camera_throughput.py --bundle DIR --threads 4 --frames 300
    python benchmarks/camera_throughput.py --streams 1,2,4      # several sources through one runner

With ``--streams``, each count N runs N copies of the video as N sources (``MultiSource``, round-robin
through the one runner, ``--frames`` frames in total); the ratio is the loop's total FPS over the bare
runner's FPS measured in the same round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
CORAL = REPO.parent / "shared" / "data" / "coral"


def _predictor(args: argparse.Namespace) -> Any:
    from edgemnv2.predictor import Predictor

    if args.bundle:
        return Predictor.from_bundle(args.bundle, threads=args.threads)
    model = args.model or CORAL / "mobilenet_v2_1.0_224_quant.tflite"
    labels = args.labels or (CORAL / "imagenet_labels.txt" if args.model is None else None)
    if not Path(model).is_file():
        sys.exit(f"error: {model} not found (pass --model FILE --task T or --bundle DIR)")
    return Predictor.from_model(model, args.task, labels, threads=args.threads)


def bare_fps(predictor: Any, frame_bgr: Any, n: int) -> float:
    """The runner alone: ``infer`` on one preprocessed input, ``n`` times back to back.

    Run in a worker thread, as the camera loop's inference is, so both get the same scheduling.
    """
    import threading

    import cv2

    feeds = predictor.preprocess(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
    out: List[float] = []

    def work() -> None:
        for _ in range(3):
            predictor.infer(feeds)
        t0 = time.perf_counter()
        for _ in range(n):
            predictor.infer(feeds)
        out.append(n / (time.perf_counter() - t0))

    t = threading.Thread(target=work, name="bare-inference")
    t.start()
    t.join()
    return out[0]


def camera_fps(predictor: Any, source: str, n: int, render: bool, streams: int = 1) -> Dict[str, Any]:
    """The whole camera loop on ``n`` frames (results drawn with the HUD unless ``render`` is False);
    ``streams`` > 1: that many copies of ``source`` as one ``MultiSource``, ``n`` frames in total."""
    from edgemnv2.apps.pipeline import run_pipeline
    from edgemnv2.apps.sinks import NullSink
    from edgemnv2.apps.sources import MultiSource, open_source

    src: Any = source if streams == 1 else MultiSource([open_source(source) for _ in range(streams)])
    stats = run_pipeline(predictor, src, [NullSink(render=render)], max_frames=n, warmup=3)
    stages = {k: round(v["p50"], 3) for k, v in stats.stage_summary().items() if v["p50"] is not None}
    d = stats.to_dict(samples=False)
    return {"fps": stats.fps, "processed": stats.frames_processed, "p50_ms": stages,
            "inference_mean_ms": d["stages"]["inference"]["mean"], "interval_mean_ms": d["interval_ms"]["mean"],
            "inference_wait_mean_ms": d["inference_wait_ms"]["mean"] or 0.0,
            "inference_blocked_mean_ms": d["inference_blocked_ms"]["mean"] or 0.0}


def _print_round(i: int, r: Dict[str, Any]) -> None:
    p50 = " ".join(f"{k[:5]} {v:.2f}" for k, v in r["camera_p50_ms"].items())
    print(f"round {i + 1}, {r['streams']} stream(s): bare {r['bare_fps']:6.1f} FPS  camera {r['camera_fps']:6.1f} FPS  "
          f"ratio {r['ratio']:.3f} | camera mean ms: inference {r['inference_mean_ms']:.2f}, frame interval "
          f"{r['interval_mean_ms']:.2f}, inference idle {r['inference_wait_mean_ms']:.2f} + blocked "
          f"{r['inference_blocked_mean_ms']:.2f} | p50 ms: {p50}")


def _summarise(rounds: List[Dict[str, Any]], n: int) -> Dict[str, float]:
    """Median per-round ratio, medians of both FPS and the inference-bound fraction for one stream count."""
    ratio = statistics.median(r["ratio"] for r in rounds)
    bare_med = statistics.median(r["bare_fps"] for r in rounds)
    cam_med = statistics.median(r["camera_fps"] for r in rounds)
    bound = statistics.median(r["inference_mean_ms"] / r["interval_mean_ms"] for r in rounds)
    verdict = "meets" if ratio >= 0.95 else "BELOW"
    print(f"{n} stream(s), median: bare {bare_med:.1f} FPS, camera loop {cam_med:.1f} FPS in total; median per-round "
          f"camera/bare = {ratio:.3f} ({verdict} the 0.95 goal); ratio of medians {cam_med / bare_med:.3f}; mean "
          f"inference / mean frame interval = {bound:.3f} (1.0 = purely inference-bound)")
    return {"median_ratio": ratio, "bare_fps": bare_med, "camera_fps": cam_med, "inference_bound": bound}


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, help="bundle directory")
    ap.add_argument("--model", type=Path, help="bare model file (default: Coral mobilenet_v2_1.0_224_quant.tflite)")
    ap.add_argument("--task", default="classify", choices=["classify", "detect", "segment"])
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--threads", type=int, default=1, help="runtime threads for both measurements")
    ap.add_argument("--frames", type=int, default=100, help="frames per measurement")
    ap.add_argument("--rounds", type=int, default=7, help="alternating bare/camera rounds (median ratio reported)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--no-render", action="store_true", help="skip drawing results + HUD in the camera loop")
    ap.add_argument("--source", choices=["video", "synthetic"], default="video",
                    help="video: an MJPG file of the synthetic scene, decoded by OpenCV in C like a camera's frames "
                    "(default); synthetic: frames drawn in Python by the synthetic:// source (adds GIL contention)")
    ap.add_argument("--streams", default="1", help="comma-separated stream counts, e.g. 1,2,4 (default 1)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    from edgemnv2.apps.sources import SyntheticScene

    scene = SyntheticScene(args.width, args.height)
    frame = scene.render(0)
    source = f"synthetic://?fps=0&width={args.width}&height={args.height}&frames={args.frames + 50}"
    if args.source == "video":
        import tempfile

        import cv2

        source = str(Path(tempfile.mkdtemp(prefix="edgemnv2-bench-")) / "scene.avi")
        writer = cv2.VideoWriter(source, cv2.VideoWriter_fourcc(*"MJPG"), 30, (args.width, args.height))
        for i in range(args.frames + 50):  # enough for each stream of a multi-stream run too
            writer.write(scene.render(i))
        writer.release()
    counts = [int(x) for x in args.streams.split(",")]
    rounds: List[Dict[str, Any]] = []
    with _predictor(args) as predictor:
        desc = predictor.runner.describe()
        print(f"model {predictor.runner.path.name} ({desc.get('runtime')}, threads={args.threads}), "
              f"{args.frames} frames of {args.width}x{args.height} synthetic scene ({args.source}), "
              f"{args.rounds} rounds, streams {counts}, render={'off' if args.no_render else 'on'}")
        for i in range(args.rounds):
            bare = bare_fps(predictor, frame, args.frames)
            for n in counts:
                cam = camera_fps(predictor, source, args.frames, render=not args.no_render, streams=n)
                rounds.append({"streams": n, "bare_fps": bare, "camera_fps": cam["fps"], "ratio": cam["fps"] / bare,
                               "camera_p50_ms": cam["p50_ms"], "inference_mean_ms": cam["inference_mean_ms"],
                               "interval_mean_ms": cam["interval_mean_ms"],
                               "inference_wait_mean_ms": cam["inference_wait_mean_ms"],
                               "inference_blocked_mean_ms": cam["inference_blocked_mean_ms"]})
                _print_round(i, rounds[-1])
    summary = {n: _summarise([r for r in rounds if r["streams"] == n], n) for n in counts}
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "frames": args.frames, "rounds": rounds,
                                         "streams": summary, "runtime": desc}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
