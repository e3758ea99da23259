"""Per-stage latency statistics of a camera run in bounded memory, for runs of days.

Each series (``inference``, ``frame_age``, ...) keeps exact ``count``, ``mean``, ``std`` (Welford),
``min`` and ``max``, plus a uniform random sample of at most ``RESERVOIR_SIZE`` values (Vitter's
algorithm R) from which ``p50/p90/p99`` are computed. While a run has no more frames than the
reservoir holds, every number equals ``edgemnv2.profiling.latency_stats`` of all samples; past that
the percentiles are those of a uniform sample of the whole run. Memory per series is fixed
(``RESERVOIR_SIZE`` float64), allocated and written on the first value so that resident memory does
not creep up while the reservoir fills.

Why not HdrHistogram: the ``hdrhistogram`` package ships a C extension (``pyhdrh``) with x86-64
wheels only, so a Pi or Jetson would need a compiler to install it; a reservoir is numpy only.
"""

from __future__ import annotations

import math
import random
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..profiling import latency_stats

__all__ = ["RESERVOIR_SIZE", "Series", "BoundedStageTimes"]

RESERVOIR_SIZE = 1024  # full after ~34 s at 30 FPS; a p99 from 1024 values has ~10 above it


class Series:
    """One timed quantity: exact moments and extremes, percentiles from a fixed-size reservoir."""

    def __init__(self, size: int = RESERVOIR_SIZE, seed: int = 0) -> None:
        self.size = int(size)
        self.count = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._buf: Optional[np.ndarray] = None
        self._rng = random.Random(seed)

    def add(self, v: float) -> None:
        v = float(v)
        if v != v:  # NaN: not a measurement (latency_stats drops them too)
            return
        self.count += 1
        d = v - self._mean
        self._mean += d / self.count
        self._m2 += d * (v - self._mean)
        self._min = min(self._min, v)
        self._max = max(self._max, v)
        if self._buf is None:
            self._buf = np.full(self.size, np.nan)  # touched now: no later growth of resident memory
        if self.count <= self.size:
            self._buf[self.count - 1] = v
        else:
            j = self._rng.randrange(self.count)
            if j < self.size:
                self._buf[j] = v

    def samples(self) -> List[float]:
        """The reservoir: every value while ``count <= size``, else a uniform sample of ``size`` of them."""
        if self._buf is None:
            return []
        return self._buf[:min(self.count, self.size)].tolist()

    def stats(self) -> Dict[str, Optional[float]]:
        """A ``latency_stats`` block (same keys); exact except percentiles once the reservoir is full."""
        st = latency_stats(self.samples())
        if self.count > self.size:
            st.update(count=self.count, mean=self._mean, std=math.sqrt(self._m2 / self.count),
                      min=self._min, max=self._max)
        return st


class BoundedStageTimes:
    """Named ``Series``: ``add(name, ms)``; ``summary()`` gives one ``latency_stats`` block per name."""

    def __init__(self, size: int = RESERVOIR_SIZE) -> None:
        self.size = int(size)
        self.series: Dict[str, Series] = {}

    def add(self, name: str, ms: float) -> None:
        s = self.series.get(name)
        if s is None:
            s = self.series[name] = Series(self.size, seed=len(self.series))
        s.add(ms)

    def stats(self, name: str) -> Dict[str, Optional[float]]:
        s = self.series.get(name)
        return s.stats() if s is not None else latency_stats([])

    def summary(self, names: Optional[Iterable[str]] = None) -> Dict[str, Dict[str, Optional[float]]]:
        keys = list(self.series) if names is None else [k for k in names if k in self.series]
        return {k: self.series[k].stats() for k in keys}

    def samples(self) -> Dict[str, List[float]]:
        return {k: s.samples() for k, s in self.series.items()}
