"""int8 weight scales that keep weights which are already integers on a grid exactly where they are.

A model imported from an int8 file (Google's MobileNetV2 and DeepLab are uint8, one scale per
tensor) has float weights that are ``step * k`` with integer ``k``. The converters' symmetric
int8 scale ``max|w| / 127`` puts them on a different grid, so every weight is rounded a second
time: on the default ImageNet classifier that alone moves top-1 agreement with Google's int8 model
from 98% (float) to 94% (float activations, re-rounded weights), before any activation rounding.

Per channel, ``choose_scales`` takes whichever symmetric int8 scale reproduces the float weights
with the smaller error: ``max|w| / 127`` (what TFLite's converter and onnxruntime would pick), or
the tensor's own step when every ``|k| <= 127``. Weights of a float-trained model are not on a
coarse grid, so they keep the usual scale. Both the Pi (TFLite) and Jetson (Q/DQ) int8 flows use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["GridScales", "choose_scales", "quantize"]

QMAX = 127  # symmetric int8 weights: TFLite's int8 kernels and TensorRT take [-127, 127]


@dataclass(frozen=True)
class GridScales:
    scales: np.ndarray  # float32, one per channel (or one for the tensor when ``axis`` is None)
    on_grid: int  # channels whose scale is the weights' own step

    @property
    def channels(self) -> int:
        return int(self.scales.size)


def _channels(w: np.ndarray, axis: Optional[int]) -> np.ndarray:
    w = np.asarray(w, np.float64)
    return w.reshape(1, -1) if axis is None else np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)


def tensor_step(w: np.ndarray) -> Optional[float]:
    """The step of the grid ``w`` lies on, if the smallest non-zero ``|w|`` is one step; else None.

    The step is the median of ``w / k`` over the non-zero weights: each has the relative error of its
    storage (2^-11 for fp16, the same for every ``k``), so the median is as good as the best of them.
    None when the weights are not on it (any weight more than 0.1 step off its grid point) or when it
    needs more than 255 steps.
    """
    flat = np.asarray(w, np.float64).ravel()
    nz = np.abs(flat[flat != 0])
    if nz.size == 0:
        return None
    k = np.round(flat / nz.min())
    if np.abs(k).max() > 2 * QMAX + 1:
        return None
    step = float(np.median(flat[k != 0] / k[k != 0]))
    if np.abs(flat / step - k).max() > 0.1:
        return None
    return step


def choose_scales(w: np.ndarray, axis: Optional[int]) -> GridScales:
    """Per channel along ``axis`` (None: one scale for the tensor), the int8 scale with the smaller error."""
    chans = _channels(w, axis)
    step = tensor_step(w)
    scales = np.empty(len(chans), np.float64)
    on_grid = 0
    for i, v in enumerate(chans):
        peak = float(np.abs(v).max())
        usual = peak / QMAX if peak > 0 else (step or 1.0)
        scales[i] = usual
        if step is None or peak / step > QMAX + 0.5:
            continue
        err_usual = np.square(np.round(v / usual) * usual - v).mean()
        err_grid = np.square(np.round(v / step) * step - v).mean()
        if err_grid < err_usual:
            scales[i], on_grid = step, on_grid + 1
    return GridScales(scales.astype(np.float32), on_grid)


def quantize(w: np.ndarray, scales: np.ndarray, axis: Optional[int]) -> np.ndarray:
    """int8 weights ``round(w / scale)`` per channel, clipped to [-127, 127]."""
    w = np.asarray(w, np.float64)
    s = np.asarray(scales, np.float64)
    if axis is not None:
        shape = [1] * w.ndim
        shape[axis] = -1
        s = s.reshape(shape)
    return np.clip(np.round(w / s), -QMAX, QMAX).astype(np.int8)
