"""Soak: run the camera loop for a while and report whether its memory keeps growing.

Runs ``edgemnv2.apps.pipeline.run_pipeline`` on a live ``synthetic://`` source at ``--fps`` (default
30) with the sinks a field device would use: JSON lines appended per frame, the overlay + HUD drawn,
the ``--profile`` JSON rewritten every 10 s (and, with ``--video``, an annotated video rolled into
60 s segments). Every ``--every`` seconds it samples this process's RSS and the pipeline's hand-off
depths (source slot, preprocess -> inference, inference -> render), then prints the least-squares
slope of RSS against time after the first ``--settle`` seconds (caches, allocator pools and the
statistics reservoirs fill during the first minute). Like ``edgemnv2 camera`` it first calls
``edgemnv2.apps.memory.map_large_buffers`` (``--no-mmap`` leaves glibc's default, to compare).

Goal (issue 11): < 0.15 MB/min after the first minute over a 4-minute run at 30 FPS.

    python benchmarks/soak.py --duration 240                 # builds a CPU detection bundle first
    python benchmarks/soak.py --duration 1800 --bundle DIR --json soak.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List

GOAL_MB_PER_MIN = 0.15


def rss_mb() -> float:
    """Resident set size of this process from /proc (Linux: Pi, Jetson and the build machine)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def slopes_per_min(samples: List[Dict[str, float]], settle_s: float) -> Dict[str, float]:
    """Slopes of RSS (MB) over time (minutes) after ``settle_s``: least squares, and Theil-Sen (the median
    of pairwise slopes), which frames in flight at a sampling instant (+1-4 MB spikes) do not swing."""
    import numpy as np

    pts = [(s["t_s"] / 60.0, s["rss_mb"]) for s in samples if s["t_s"] >= settle_s]
    if len(pts) < 3:
        return {"least_squares": float("nan"), "theil_sen": float("nan")}
    t, m = np.asarray(pts).T
    i, j = np.triu_indices(len(t), 1)
    return {"least_squares": round(float(np.polyfit(t, m, 1)[0]), 4),
            "theil_sen": round(float(np.median((m[j] - m[i]) / (t[j] - t[i]))), 4)}


def build_bundle(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "edgemnv2", "build", "--target", "cpu", "--task", "detect",
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def soak(args: argparse.Namespace, work: Path) -> Dict[str, Any]:
    import time

    from edgemnv2.apps.memory import map_large_buffers
    from edgemnv2.apps.pipeline import PipelineStats, run_pipeline
    from edgemnv2.apps.sinks import JsonLinesSink, NullSink, VideoSink
    from edgemnv2.apps.summary import ProfileWriter
    from edgemnv2.predictor import Predictor

    bundle = Path(args.bundle) if args.bundle else build_bundle(work / "detect-cpu")
    mapped = map_large_buffers() if not args.no_mmap else False  # as ``edgemnv2 camera`` does
    sinks: List[Any] = [JsonLinesSink(work / "soak.jsonl"), NullSink(render=True)]
    if args.video:
        sinks.append(VideoSink(work / "soak.avi", args.fps, segment_s=60, timed=True))
    profile = ProfileWriter(work / "profile.json", {"command": "soak"})
    samples: List[Dict[str, float]] = []
    t0 = time.perf_counter()
    last_profile = [t0]

    def on_progress(stats: PipelineStats) -> None:
        now = time.perf_counter()
        samples.append({"t_s": round(now - t0, 2), "rss_mb": round(rss_mb(), 3),
                        "frames": stats.frames_processed, "dropped": stats.frames_dropped, **stats.queues})
        if now - last_profile[0] >= 10.0:
            profile.progress(stats)
            last_profile[0] = now

    stop = threading.Event()
    timer = threading.Timer(args.duration, stop.set)
    timer.start()
    with Predictor.from_bundle(bundle, threads=args.threads) as p:
        stats = run_pipeline(p, f"synthetic://?fps={args.fps:g}&width=640&height=480", sinks, stop_event=stop,
                             on_progress=on_progress, progress_every_s=args.every)
    timer.cancel()
    profile.final(stats)
    slopes = slopes_per_min(samples, args.settle)
    depth = {k: max((int(s[k]) for s in samples), default=0) for k in ("source", "to_infer", "to_render")}
    return {"duration_s": args.duration, "large_buffers_mapped": mapped, "fps_asked": args.fps,
            "fps": round(stats.fps, 2),
            "frames": stats.frames_processed, "dropped": stats.frames_dropped,
            "rss_start_mb": samples[0]["rss_mb"] if samples else None,
            "rss_end_mb": samples[-1]["rss_mb"] if samples else None,
            "slope_mb_per_min_after_settle": slopes, "settle_s": args.settle,
            "max_queue_depth": depth, "profile_bytes": (work / "profile.json").stat().st_size,
            "json_lines": sum(1 for _ in open(work / "soak.jsonl", encoding="utf-8")), "samples": samples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=240.0, help="seconds to run (default 240)")
    ap.add_argument("--fps", type=float, default=30.0, help="synthetic camera rate (default 30)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between RSS samples (default 2)")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds excluded from the slope (default 60)")
    ap.add_argument("--bundle", help="bundle to run (default: build a CPU detection bundle)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--video", action="store_true", help="also write a video in 60 s segments")
    ap.add_argument("--json", help="write the result (with every sample) here")
    ap.add_argument("--no-mmap", action="store_true", help="leave glibc's dynamic mmap threshold on (to compare)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgemnv2-soak-") as tmp:
        r = soak(args, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")
    slope = r["slope_mb_per_min_after_settle"]["least_squares"]
    robust = r["slope_mb_per_min_after_settle"]["theil_sen"]
    print(f"{r['frames']} frames in {args.duration:g} s ({r['fps']} FPS, {r['dropped']} dropped); RSS "
          f"{r['rss_start_mb']} -> {r['rss_end_mb']} MB; slope after {args.settle:g} s: {slope:+.4f} MB/min "
          f"least squares, {robust:+.4f} Theil-Sen (goal < {GOAL_MB_PER_MIN}); max queue depth "
          f"{r['max_queue_depth']}; profile {r['profile_bytes']} bytes; {r['json_lines']} JSON lines")
    return 0 if slope == slope and slope < GOAL_MB_PER_MIN else 1


if __name__ == "__main__":
    sys.exit(main())
