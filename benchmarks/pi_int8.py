"""Pi int8 speed check: our int8 MobileNetV2 1.0@224 vs Google Coral's official int8 model, and vs our fp32.

Our models are built by edgemnv2's Pi builder from a trained float MobileNetV2 made in memory by
dequantizing Coral's weights (tests/support/coral_float.py; nothing is saved into the repository),
calibrated on crops of photos already on the machine (or ``--calib DIR``). All models run in ONE
process, on the same runtime with the same thread count, interleaved round-robin (one inference
of each per round, after a warm-up), on the same preprocessed photo. Prints median latencies and
the ratios the Pi target aims for:

    ours int8 / Google int8   goal <= 1.0
    ours int8 / ours fp32     goal <= 0.7

Usage: python benchmarks/pi_int8.py [--threads 2] [--rounds 200] [--runtime ai_edge_litert]
       [--work DIR] [--calib DIR]
(``--runtime tflite_runtime`` needs .venv-tflite214/bin/python to run the script; building needs
TensorFlow, so build once with the main venv and pass the same ``--work`` DIR.)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORAL = Path(os.environ.get("EDGEMNV2_CORAL_DIR", REPO.parent / "shared" / "data" / "coral"))


def build_ours(work: Path, calib: Path | None, count: int) -> Dict[str, Path]:
    """Our fp32 and int8 Pi bundles of the Coral-dequantized MobileNetV2 1.0@224 (built once per --work)."""
    out = {"ours int8": work / "ours-int8", "ours fp32": work / "ours-fp32"}
    if all((p / "manifest.json").is_file() for p in out.values()):
        return out
    from edgemnv2.labels import read_labels
    from edgemnv2.model_source import BuildOptions, ModelSource
    from edgemnv2.targets.pi.build import build_pi_bundle
    from edgemnv2.tasks.base import Task
    from tests.support.coral_float import CORAL_NORMALIZATION, coral_float_classifier
    from tests.support.photos import write_photo_folder

    if calib is None:
        calib = write_photo_folder(work / "calib", count, seed=0, coral_dir=CORAL)
    src = ModelSource(coral_float_classifier(CORAL), Task.classify, 1.0, 224, 1001,
                      read_labels(CORAL / "imagenet_labels.txt"), CORAL_NORMALIZATION, "weights")
    for prec, key in (("int8", "ours int8"), ("fp32", "ours fp32")):
        t0 = time.perf_counter()
        build_pi_bundle(BuildOptions(task=Task.classify, out=out[key], target="pi", precision=prec, calib=calib,
                                     calib_count=count, max_drop=100.0), source=src)
        print(f"built {key} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return out


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--runtime", default=None, help="ai_edge_litert | tflite_runtime | tensorflow (default: first)")
    ap.add_argument("--work", type=Path, default=None, help="where our bundles are built / reused")
    ap.add_argument("--calib", type=Path, default=None, help="calibration images (default: photo crops)")
    ap.add_argument("--calib-count", type=int, default=100)
    args = ap.parse_args(argv)
    if not (CORAL / "mobilenet_v2_1.0_224_quant.tflite").is_file():
        print(f"Coral models not found in {CORAL}", file=sys.stderr)
        return 2

    from edgemnv2.imageio import read_rgb
    from edgemnv2.predictor import Predictor
    from edgemnv2.profiling import latency_stats

    work = args.work or Path(tempfile.mkdtemp(prefix="edgemnv2-bench-pi-"))
    work.mkdir(parents=True, exist_ok=True)
    bundles = build_ours(work, args.calib, args.calib_count)
    rkw = {"runtime": args.runtime} if args.runtime else {}
    preds = {
        "google int8": Predictor.from_model(CORAL / "mobilenet_v2_1.0_224_quant.tflite", "classify",
                                            CORAL / "imagenet_labels.txt", threads=args.threads, runner_kw=rkw),
        "ours int8": Predictor.from_bundle(bundles["ours int8"], threads=args.threads, runner_kw=rkw),
        "ours fp32": Predictor.from_bundle(bundles["ours fp32"], threads=args.threads, runner_kw=rkw),
    }
    image = read_rgb(CORAL / "cat.bmp")
    samples: Dict[str, List[float]] = {k: [] for k in preds}
    for p in preds.values():
        p.activate()
    try:
        feeds = {k: p.preprocess(image) for k, p in preds.items()}
        tops = {k: p.postprocess(p.infer(feeds[k]), image.shape[:2]).top[0] for k, p in preds.items()}
        for _ in range(args.warmup):
            for k, p in preds.items():
                p.infer(feeds[k])
        for _ in range(args.rounds):  # interleaved: one inference of each model per round
            for k, p in preds.items():
                p.infer(feeds[k])
                samples[k].append(p.runner.last_inference_ms)
        desc = preds["ours int8"].runner.describe()
        ops = {k: p.runner.op_counts().get("DELEGATE", 0) for k, p in preds.items()}
    finally:
        for p in preds.values():
            p.deactivate()

    stats = {k: latency_stats(v) for k, v in samples.items()}
    print(f"# Pi int8 benchmark: MobileNetV2 1.0@224, {desc['runtime']} {desc['version']}, {args.threads} thread(s), "
          f"XNNPACK, {args.rounds} interleaved rounds after {args.warmup} warm-up; {platform.machine()}, "
          f"{platform.processor() or platform.platform()}")
    print(f"{'model':<12} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}  {'XNNPACK partitions':>18}  cat.bmp top-1")
    for k, s in stats.items():
        print(f"{k:<12} {s['p50']:8.2f} {s['p90']:8.2f} {s['mean']:8.2f}  {ops[k]:>18}  {tops[k].label} "
              f"({tops[k].score:.2f})")
    r1 = stats["ours int8"]["p50"] / stats["google int8"]["p50"]
    r2 = stats["ours int8"]["p50"] / stats["ours fp32"]["p50"]
    print(f"ours int8 / google int8 = {r1:.2f}x  (goal <= 1.0x: {'met' if r1 <= 1.0 else 'NOT met'})")
    print(f"ours int8 / ours fp32   = {r2:.2f}x  (goal <= 0.7x: {'met' if r2 <= 0.7 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
