"""CPU time of one 720p camera frame through a DeepLab segmentation bundle, per stage (issue 14 item 5).

Stages as the camera app runs them (apps/pipeline.py): decode (JPEG -> BGR, what a MJPEG camera or
a video file costs), preprocess (resize to the model + quantize), inference, postprocess (logits
-> class map), render (``TaskResult.draw``: palette overlay blended into the frame) and encode
(JPEG, what the MJPEG / file sinks do). CPU time is ``time.process_time`` (all threads of the
process), so it is the share of the machine each stage takes, whatever else runs on it; the
figure of merit is the non-inference share of the frame's CPU time (goal < 25%).

Usage: python benchmarks/segment_frame.py BUNDLE [BUNDLE ...] [--image 720p.jpg] [--frames 30] [--threads 2]
(several bundles run frame by frame in turn, so they see the same machine load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORAL = Path(os.environ.get("EDGEMNV2_CORAL_DIR", REPO.parent / "shared" / "data" / "coral"))
STAGES = ("decode", "preprocess", "inference", "postprocess", "render", "encode")


def _frame(pred: Any, jpg: bytes) -> Tuple[List[float], Any]:
    """One frame through the stages; CPU seconds at each stage boundary, and the decoded frame."""
    import cv2

    t = [time.process_time()]
    frame = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    t.append(time.process_time())
    feeds = pred.preprocess_bgr(frame)
    t.append(time.process_time())
    raw = pred.infer(feeds)
    t.append(time.process_time())
    result = pred.postprocess(raw, frame.shape[:2])
    t.append(time.process_time())
    image = result.draw(frame)
    t.append(time.process_time())
    cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    t.append(time.process_time())
    return t, frame


def _print(name: str, cpu: Dict[str, List[float]], frame: Any, args: argparse.Namespace) -> None:
    med = {s: statistics.median(v) for s, v in cpu.items()}
    total = sum(med.values())
    h, w = frame.shape[:2]
    print(f"# {name}: {w}x{h} frame, {args.frames} frames, {args.threads} inference thread(s); "
          "median CPU ms per stage (process_time, all threads)")
    for s in STAGES:
        print(f"{s:<12} {med[s]:7.1f} ms  {100 * med[s] / total:5.1f}%")
    other = total - med["inference"]
    print(f"non-inference {other:6.1f} ms of {total:.1f} ms = {100 * other / total:.1f}% of the frame's CPU time "
          f"(goal < 25%: {'met' if other / total < 0.25 else 'NOT met'})")


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path, nargs="+", help="one or more bundles, run frame by frame in turn")
    ap.add_argument("--image", type=Path, default=CORAL / "cat_720p.jpg")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--opencv-threads", type=int, default=1,
                    help="OpenCV's thread count (1: as the camera app runs, apps/pipeline.py)")
    args = ap.parse_args(argv)
    import cv2

    from edgemnv2.predictor import Predictor

    cv2.setNumThreads(args.opencv_threads)
    jpg = args.image.read_bytes()
    cpu = {b: {s: [] for s in STAGES} for b in args.bundle}
    preds = [Predictor.from_bundle(b, threads=args.threads).activate() for b in args.bundle]
    try:
        for i in range(args.frames + 3):  # 3 warm-up frames
            for b, pred in zip(args.bundle, preds):
                t, frame = _frame(pred, jpg)
                if i >= 3:
                    for s, a, z in zip(STAGES, t, t[1:]):
                        cpu[b][s].append((z - a) * 1e3)
    finally:
        for pred in preds:
            pred.runner.deactivate()
    for b in args.bundle:
        _print(b.name, cpu[b], frame, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
