"""Does telemetry sampling disturb the latency it measures? Model-only p50/mean with and without the sampler.

The bench samples psutil, thermal zones, cpufreq (and tegrastats / vcgencmd where present) in a
background thread. Goal: with the default 0.5 s interval, p50 and mean latency within 2 % of a run
without sampling. Rounds alternate off / on so load changes on the machine hit both; printed ratios
are medians over rounds (on / off; 1.00 = no effect). A 0.05 s interval is measured too, to show the cost
grows with the sampling rate.

    python benchmarks/bench_telemetry_overhead.py                         # Coral MobileNetV2 (TFLite)
    python benchmarks/bench_telemetry_overhead.py --bundle DIR --runs 300 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORAL = REPO.parent / "shared" / "data" / "coral"


def _predictor(args: argparse.Namespace) -> Any:
    from edgemnv2.predictor import Predictor

    if args.bundle:
        return Predictor.from_bundle(args.bundle, threads=args.threads)
    return Predictor.from_model(CORAL / "mobilenet_v2_1.0_224_quant.tflite", "classify", threads=args.threads)


def _loop(p: Any, feeds: Dict[str, np.ndarray], runs: int, interval: Optional[float]) -> List[float]:
    from edgemnv2.bench.telemetry import TelemetrySampler

    sampler = TelemetrySampler(interval) if interval else None
    if sampler is not None:
        sampler.start()
    try:
        out = []
        for _ in range(runs):
            t = time.perf_counter()
            p.infer(feeds)
            out.append((time.perf_counter() - t) * 1e3)
        return out
    finally:
        if sampler is not None:
            sampler.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    from edgemnv2.bench.measure import synthetic_image

    with _predictor(args) as p:
        feeds = p.preprocess(synthetic_image())
        _loop(p, feeds, 20, None)  # warm-up
        ratios: Dict[str, Dict[str, List[float]]] = {"0.5 s": {"p50": [], "mean": []},
                                                     "0.05 s": {"p50": [], "mean": []}}
        for r in range(args.rounds):
            off = np.asarray(_loop(p, feeds, args.runs, None))
            for name, interval in (("0.5 s", 0.5), ("0.05 s", 0.05)):
                on = np.asarray(_loop(p, feeds, args.runs, interval))
                ratios[name]["p50"].append(float(np.median(on) / np.median(off)))
                ratios[name]["mean"].append(float(on.mean() / off.mean()))
            print(f"round {r + 1}: off p50 {np.median(off):.3f} ms, mean {off.mean():.3f} ms")
    for name, d in ratios.items():
        p50, mean = statistics.median(d["p50"]), statistics.median(d["mean"])
        verdict = "" if name != "0.5 s" else ("  (goal <= 1.02: met)" if max(p50, mean) <= 1.02 else
                                               "  (goal <= 1.02: NOT met)")
        print(f"sampling every {name}: p50 ratio {p50:.3f}, mean ratio {mean:.3f}{verdict}")


if __name__ == "__main__":
    main()
