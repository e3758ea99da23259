"""The runner protocol shared by every runtime (ONNX Runtime, TFLite/LiteRT, TensorRT).

A runner is a context manager (``activate``/``deactivate``) with ``input_specs()``,
``output_specs()`` and ``infer(feeds) -> {name: array}`` returning raw tensors (quantized where the
model's outputs are). ``last_inference_ms`` holds the time of the last ``infer`` call.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeError

__all__ = ["TensorSpec", "Runner", "check_feeds"]


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: Tuple[int, ...]
    dtype: str  # numpy dtype name
    quant: Optional[Tuple[float, int]] = None  # (scale, zero_point) for per-tensor quantized tensors

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.quant is not None:
            d["quantization"] = {"scale": self.quant[0], "zero_point": self.quant[1]}
        return d


class Runner:
    """Base class: subclasses implement ``_load``, ``_unload``, ``_infer`` and fill the specs."""

    runtime = "base"

    def __init__(self, path: str | os.PathLike, threads: Optional[int] = None) -> None:
        self.path = Path(path)
        self.threads = threads
        self.active = False
        self.last_inference_ms = float("nan")
        self._inputs: List[TensorSpec] = []
        self._outputs: List[TensorSpec] = []

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> Runner:
        if not self.active:
            self._load()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self._unload()
            self.active = False

    def __enter__(self) -> Runner:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    # -- metadata ---------------------------------------------------------------------------
    def input_specs(self) -> List[TensorSpec]:
        return list(self._inputs)

    def output_specs(self) -> List[TensorSpec]:
        return list(self._outputs)

    def describe(self) -> Dict[str, Any]:
        """Runtime name and version, threads, delegate or device: recorded in reports."""
        return {"runtime": self.runtime, "threads": self.threads}

    # -- inference ------------------------------------------------------------------------------
    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if not self.active:
            raise RuntimeError("runner is not active: use it as a context manager or call activate()")
        check_feeds(feeds, self._inputs)
        t0 = time.perf_counter()
        out = self._infer(feeds)
        self.last_inference_ms = (time.perf_counter() - t0) * 1e3
        return out

    def _load(self) -> None:
        raise NotImplementedError

    def _unload(self) -> None:
        pass

    def _infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        raise NotImplementedError


def check_feeds(feeds: Dict[str, np.ndarray], specs: List[TensorSpec]) -> None:
    """Names, shapes and dtypes of ``feeds`` must match the model's inputs exactly."""
    names = {s.name for s in specs}
    for s in specs:
        if s.name not in feeds:
            raise EdgeError(f"missing input '{s.name}' (model inputs: {sorted(names)})")
        a = feeds[s.name]
        if len(a.shape) != len(s.shape) or any(d != -1 and d != n for d, n in zip(s.shape, a.shape)):
            raise EdgeError(f"input '{s.name}' has shape {tuple(a.shape)}, the model expects {tuple(s.shape)}")
        if str(a.dtype) != s.dtype:
            raise EdgeError(f"input '{s.name}' has dtype {a.dtype}, the model expects {s.dtype}")
    for k in feeds:
        if k not in names:
            raise EdgeError(f"unknown input '{k}' (model inputs: {sorted(names)})")
