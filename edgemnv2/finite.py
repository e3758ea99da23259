"""Numbers must be finite: NaN/Inf in model outputs fail checks with one line saying where.

Device side: numpy only (weights are checked in ``edgemnv2.models.weights``, host side).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Tuple

import numpy as np

from .errors import EdgeError

__all__ = ["nonfinite", "check_finite_outputs", "max_abs_diff", "json_safe"]

HINT = ("the weights or the model file hold NaN/Inf, or its arithmetic overflows: check the checkpoint "
        "(edgemnv2 refuses NaN/Inf weights at load) or rebuild at a higher precision")


def nonfinite(arrays: Mapping[str, Any]) -> Optional[Tuple[str, int, int]]:
    """(name, bad count, size) of the first floating array holding NaN/Inf, or None."""
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind in "fc":
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            if bad:
                return str(name), bad, int(a.size)
    return None


def check_finite_outputs(outputs: Mapping[str, Any], what: str) -> None:
    """EdgeError naming the output of ``what`` (e.g. "fp32 TFLite model") that holds NaN/Inf."""
    found = nonfinite(outputs)
    if found is not None:
        name, bad, size = found
        raise EdgeError(f"{what}: output '{name}' holds NaN/Inf ({bad} of {size} values)", HINT)


def max_abs_diff(got: Any, ref: Any, what: str, name: str = "output") -> float:
    """max |got - ref| as a float, refusing non-finite values on either side (NaN would compare as 0)."""
    check_finite_outputs({name: got}, what)
    check_finite_outputs({name: ref}, f"{what} (reference)")
    diff = np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))
    return float(diff.max()) if diff.size else 0.0


def json_safe(value: Any) -> Tuple[Any, int]:
    """``value`` with every non-finite float replaced by None (JSON has no NaN), and how many were replaced."""
    if isinstance(value, float):
        return (value, 0) if math.isfinite(value) else (None, 1)
    if isinstance(value, dict):
        items = [(k, *json_safe(v)) for k, v in value.items()]
        return {k: v for k, v, _ in items}, sum(n for _, _, n in items)
    if isinstance(value, (list, tuple)):
        items = [json_safe(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0
