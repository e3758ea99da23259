"""Shared task vocabulary and tensor helpers (numpy only)."""

from __future__ import annotations

from enum import Enum
from typing import Optional, Tuple

import numpy as np

__all__ = ["Task", "dequantize", "softmax", "looks_like_probabilities"]


class Task(str, Enum):
    classify = "classify"
    detect = "detect"
    segment = "segment"


def dequantize(x: np.ndarray, quant: Optional[Tuple[float, int]]) -> np.ndarray:
    """Integer tensor -> float32 real values with (scale, zero_point); float tensors pass through."""
    if quant is None or not np.issubdtype(x.dtype, np.integer) or quant[0] == 0:
        return x.astype(np.float32, copy=False)
    scale, zero = quant
    return (x.astype(np.float32) - np.float32(zero)) * np.float32(scale)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def looks_like_probabilities(x: np.ndarray, axis: int = -1, tol: float = 0.1) -> bool:
    """True when ``x`` is already a softmax output (non-negative, rows sum to ~1).

    ``tol`` is loose because a uint8 softmax (scale 1/256) loses the mass of its many tiny classes:
    Coral's 1001-class MobileNetV2 sums to ~0.97 on cat.bmp.
    """
    if x.size == 0 or x.min() < -1e-6 or x.max() > 1 + 1e-6:
        return False
    return bool(np.all(np.abs(x.sum(axis=axis) - 1.0) < tol))
