"""Task logic in numpy, one module per task, shared by every runtime (device side: numpy + OpenCV only).

* ``preprocess``: image -> model input (the one function used at run time and for calibration);
* ``classify``: top-k; ``detect``: anchors, NMS, boxes in pixels; ``segment``: argmax, resize, palette;
* ``Task`` enum and ``postprocess`` dispatch live in ``edgemnv2.tasks.base``.
"""

from .base import Task

__all__ = ["Task"]
