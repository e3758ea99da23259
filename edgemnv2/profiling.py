"""Latency statistics shared by the camera apps' ``--profile`` JSON and the bench report.

One schema for both (documented in docs/report.md): a ``LatencyStats`` block is
``{"count", "mean", "std", "min", "p50", "p90", "p99", "max"}`` in milliseconds, computed with
numpy's linear-interpolation percentiles from the raw samples (which reports keep beside them).
"""

from __future__ import annotations

import time
from typing import Dict, Iterable, List, Optional

import numpy as np

__all__ = ["latency_stats", "StageTimes", "PERCENTILES"]

PERCENTILES = (50, 90, 99)


def latency_stats(samples_ms: Iterable[float]) -> Dict[str, Optional[float]]:
    a = np.asarray([s for s in samples_ms if s == s], dtype=np.float64)  # drop NaN
    if a.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "p50": None, "p90": None, "p99": None,
                "max": None}
    p = np.percentile(a, PERCENTILES)
    return {"count": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2]), "max": float(a.max())}


class StageTimes:
    """Per-stage millisecond samples: ``with times.stage("inference"): ...`` or ``add(name, ms)``."""

    def __init__(self) -> None:
        self.samples: Dict[str, List[float]] = {}

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(float(ms))

    def stage(self, name: str) -> _Timer:
        return _Timer(self, name)

    def summary(self) -> Dict[str, Dict[str, Optional[float]]]:
        return {k: latency_stats(v) for k, v in self.samples.items()}


class _Timer:
    def __init__(self, owner: StageTimes, name: str) -> None:
        self.owner, self.name = owner, name

    def __enter__(self) -> _Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.owner.add(self.name, (time.perf_counter() - self.t0) * 1e3)
