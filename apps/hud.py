"""Heads-up display: measured FPS, per-stage milliseconds and frame age drawn onto the frame.

The FPS shown is the rate frames actually reach the sinks over the last second (not one
inference's reciprocal), so it matches what the user sees. Stage times are exponential moving
averages of the pipeline's own per-stage timers.
"""

from __future__ import annotations

import collections
import time
from typing import Deque, Dict, List, Optional

import numpy as np

__all__ = ["Hud", "HUD_STAGES"]

HUD_STAGES = ("capture", "preprocess", "inference", "postprocess", "render")


class Hud:
    """Keeps the last second of sink times and smoothed stage times; ``draw`` writes them bottom-left."""

    def __init__(self, window_s: float = 1.0, smoothing: float = 0.9) -> None:
        self.window_s = window_s
        self.smoothing = smoothing
        self._times: Deque[float] = collections.deque()
        self.stage_ms: Dict[str, float] = {}
        self.age_ms = float("nan")
        self.dropped = 0

    def update(self, stage_ms: Dict[str, float], age_ms: float, dropped: int = 0,
               now: Optional[float] = None) -> None:
        now = time.perf_counter() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        a = self.smoothing
        for k, v in stage_ms.items():
            if v != v:  # NaN
                continue
            old = self.stage_ms.get(k)
            self.stage_ms[k] = v if old is None else a * old + (1 - a) * v
        self.age_ms = age_ms if self.age_ms != self.age_ms else a * self.age_ms + (1 - a) * age_ms
        self.dropped = dropped

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def lines(self) -> List[str]:
        parts = [f"{k[:5]} {self.stage_ms[k]:.1f}" for k in HUD_STAGES if k in self.stage_ms]
        first = f"{self.fps:5.1f} FPS  age {self.age_ms:.0f} ms" + (f"  drop {self.dropped}" if self.dropped else "")
        return [first, "ms: " + "  ".join(parts)]

    def draw(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Draw the HUD onto ``frame_bgr`` in place (scaled to the frame height) and return it."""
        import cv2

        h, w = frame_bgr.shape[:2]
        scale = max(0.35, min(0.6, h / 900.0))
        font = cv2.FONT_HERSHEY_SIMPLEX
        lines = self.lines()
        sizes = [cv2.getTextSize(t, font, scale, 1) for t in lines]
        step = max(sz[0][1] + sz[1] for sz in sizes) + 6
        box_w = min(w, max(sz[0][0] for sz in sizes) + 12)
        top = max(0, h - step * len(lines) - 6)
        # a dark box behind plain text: readable on any scene and cheap (no outline pass)
        roi = frame_bgr[top:h, 0:box_w]
        roi[...] = (roi * 0.35).astype(roi.dtype)
        y = top + step - 2
        for text in lines:
            cv2.putText(frame_bgr, text, (6, y), font, scale, (80, 255, 80), 1, cv2.LINE_AA)
            y += step
        return frame_bgr
