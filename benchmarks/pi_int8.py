"""Pi int8 speed check: our int8 MobileNetV2 1.0@224 vs Google Coral's int8 model, and vs our fp32.

"Ours" are Pi bundles built by edgemnv2's Pi builder from the default classifier (Google's
MobileNetV2 1.0@224 imported, ``--weights imagenet``), int8 calibrated on crops of photos already
on the machine (or ``--calib DIR``). All models run in ONE process, on the same runtime with the
same thread count, interleaved round-robin (one inference of each per round, after a warm-up), on
the same photo; ``--repeats`` blocks of ``--rounds`` rounds give one ratio each (the machine may be
shared: the median ratio and its range are printed, never absolute times as a claim). Also prints
each model's op inventory and XNNPACK delegation (``targets/pi/delegation.py``) and the CPU's int8
features, which decide the targets (issue 14):

    ours int8 / Coral int8   <= 0.5 with AVX-512 VNNI, <= 0.7 without (Google's best published int8
                             MobileNetV2 ran at 0.49x / 0.70x of Coral's model on such machines)
    ours int8 / ours fp32    <= 0.6
    ours int8 ops            only CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN / AVERAGE_POOL_2D,
                             FULLY_CONNECTED (+ optional SOFTMAX / RESHAPE)

Usage: python benchmarks/pi_int8.py [--threads 2] [--rounds 100] [--repeats 5] [--runtime ai_edge_litert]
       [--work DIR] [--calib DIR]
(``--runtime tflite_runtime`` needs .venv-tflite214/bin/python to run the script; building needs
TensorFlow, so build once with the main venv and pass the same ``--work`` DIR.)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORAL = Path(os.environ.get("EDGEMNV2_CORAL_DIR", REPO.parent / "shared" / "data" / "coral"))
LEAN_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX",
            "RESHAPE"}


def build_ours(work: Path, calib: Path | None, count: int) -> Dict[str, Path]:
    """Our fp32 and int8 Pi bundles of the default MobileNetV2 1.0@224 classifier (built once per --work)."""
    out = {"ours int8": work / "ours-int8", "ours fp32": work / "ours-fp32"}
    if all((p / "manifest.json").is_file() for p in out.values()):
        return out
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle
    from tests.support.photos import write_photo_folder

    if calib is None:
        calib = write_photo_folder(work / "calib", count, seed=0, coral_dir=CORAL)
    for prec, key in (("int8", "ours int8"), ("fp32", "ours fp32")):
        t0 = time.perf_counter()
        build_pi_bundle(BuildOptions(task="classify", out=out[key], target="pi", precision=prec,
                                     weights=Path("imagenet"), calib=calib if prec == "int8" else None,
                                     calib_count=count))
        print(f"built {key} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return out


def cpu_int8_features() -> str:
    """The x86 int8 dot-product features from /proc/cpuinfo (or the machine name elsewhere)."""
    try:
        flags = next(line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith(("flags", "Features")))
    except (OSError, StopIteration):
        return f"unknown ({platform.machine()})"
    wanted = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
    return " ".join(f for f in wanted if f in flags) or "none of " + "/".join(wanted)


def inventory(runner: Any) -> Dict[str, int]:
    """The model's own operators (delegate nodes left out)."""
    counts: Dict[str, int] = {}
    for op, n in runner.op_counts().items():
        if op != "DELEGATE":
            counts[op] = n
    return counts


def _run(preds: Dict[str, Any], feeds: Dict[str, Any], rounds: int) -> Dict[str, float]:
    """One interleaved block: median ms per model."""
    samples: Dict[str, List[float]] = {k: [] for k in preds}
    for _ in range(rounds):
        for k, p in preds.items():
            p.infer(feeds[k])
            samples[k].append(p.runner.last_inference_ms)
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--runtime", default=None, help="ai_edge_litert | tflite_runtime | tensorflow (default: first)")
    ap.add_argument("--work", type=Path, default=None, help="where our bundles are built / reused")
    ap.add_argument("--calib", type=Path, default=None, help="calibration images (default: photo crops)")
    ap.add_argument("--calib-count", type=int, default=100)
    args = ap.parse_args(argv)
    coral = CORAL / "mobilenet_v2_1.0_224_quant.tflite"
    if not coral.is_file():
        print(f"Coral model not found in {CORAL}", file=sys.stderr)
        return 2

    from edgemnv2.imageio import read_rgb
    from edgemnv2.predictor import Predictor

    work = args.work or Path(tempfile.mkdtemp(prefix="edgemnv2-bench-pi-"))
    work.mkdir(parents=True, exist_ok=True)
    bundles = build_ours(work, args.calib, args.calib_count)
    rkw = {"runtime": args.runtime} if args.runtime else {}
    preds = {
        "coral int8": Predictor.from_model(coral, "classify", CORAL / "imagenet_labels.txt", threads=args.threads,
                                           runner_kw=rkw),
        "ours int8": Predictor.from_bundle(bundles["ours int8"], threads=args.threads, runner_kw=rkw),
        "ours fp32": Predictor.from_bundle(bundles["ours fp32"], threads=args.threads, runner_kw=rkw),
    }
    image = read_rgb(CORAL / "cat.bmp")
    for p in preds.values():
        p.activate()
    try:
        feeds = {k: p.preprocess(image) for k, p in preds.items()}
        tops = {k: p.postprocess(p.infer(feeds[k]), image.shape[:2]).top[0] for k, p in preds.items()}
        _run(preds, feeds, args.warmup)
        blocks = [_run(preds, feeds, args.rounds) for _ in range(args.repeats)]
        desc = preds["ours int8"].runner.describe()
        invs = {k: inventory(p.runner) for k, p in preds.items()}
        delegs = {k: p.runner.delegation() for k, p in preds.items()}
    finally:
        for p in preds.values():
            p.deactivate()
    report(args, desc, blocks, invs, delegs, tops)
    return 0


def report(args: argparse.Namespace, desc: Dict[str, Any], blocks: List[Dict[str, float]],
           invs: Dict[str, Dict[str, int]], delegs: Dict[str, Any], tops: Dict[str, Any]) -> None:
    feats = cpu_int8_features()
    vnni = "avx512_vnni" in feats or "avx_vnni" in feats
    print(f"# Pi int8 benchmark: MobileNetV2 1.0@224, {desc['runtime']} {desc['version']}, {args.threads} "
          f"thread(s), XNNPACK, {args.repeats} x {args.rounds} interleaved rounds after {args.warmup} warm-up")
    print(f"# CPU: {platform.machine()}, int8 features: {feats}")
    for k, inv in invs.items():
        d = delegs[k]
        on = f"{d.delegated_ops}/{d.ops} ops on XNNPACK ({d.partitions} partition(s))" if d else "delegation unknown"
        extra = sorted(set(inv) - LEAN_OPS)
        print(f"{k:<11} top-1 {tops[k].label} ({tops[k].score:.2f}); {on}; ops {sum(inv.values())}: "
              + ", ".join(f"{op} {n}" for op, n in sorted(inv.items()))
              + (f"  [beyond the lean set: {', '.join(extra)}]" if extra else ""))
    goals = (("ours int8", "coral int8", 0.5 if vnni else 0.7, " (VNNI)" if vnni else " (no VNNI)"),
             ("ours int8", "ours fp32", 0.6, ""))
    for num, den, goal, why in goals:
        ratios = [b[num] / b[den] for b in blocks]
        med = statistics.median(ratios)
        print(f"{num} / {den:<10} = {med:.2f}x median of {len(ratios)} blocks (range {min(ratios):.2f}-"
              f"{max(ratios):.2f}); goal <= {goal}{why}: {'met' if med <= goal else 'NOT met'}")
    lean = not (set(invs["ours int8"]) - LEAN_OPS)
    print(f"ours int8 op inventory lean: {'yes' if lean else 'NO'}")


if __name__ == "__main__":
    sys.exit(main())
