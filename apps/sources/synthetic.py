"""``synthetic://``: the synthetic dataset's shapes moving over a background (demos, tests, soak runs)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ...data.synthetic import MovingScene
from .base import Source, qint, query

__all__ = ["SyntheticSource", "SyntheticScene"]

# background), so the built-in default models find what they were trained on in demos.
SyntheticScene = MovingScene


class SyntheticSource(Source):
    """``synthetic://?width=640&height=480&fps=30&frames=0&seed=0``: live at ``fps`` > 0, file-like at 0.

    Frames come from ``edgemnv2.data.synthetic.MovingScene``: the synthetic dataset's shapes moving.
    """

    kind = "synthetic"

    def __init__(self, spec: str, fps_override: Optional[float] = None) -> None:
        q = query(spec)
        fps = float(q.get("fps", 30)) if fps_override is None else fps_override
        super().__init__(spec, live=fps > 0, reconnect_timeout=0, fps=fps)
        self.pace = fps > 0
        self.frames = qint(q, "frames", 0, spec)
        self.scene = SyntheticScene(qint(q, "width", 640, spec), qint(q, "height", 480, spec),
                                    qint(q, "seed", 0, spec))
        self._n = 0

    def _open(self) -> None:
        pass

    def _grab(self) -> Optional[np.ndarray]:
        if self.frames and self._n >= self.frames:
            return None
        img = self.scene.render(self._n)
        self._n += 1
        return img
