"""Per-layer truth of a TensorRT engine: each layer's time and the precision it runs in (device side).

NOT VERIFIED ON HARDWARE: written from NVIDIA's API docs and tested against the stand-ins only.

* Times: a ``trt.IProfiler`` subclass on an execution context; TensorRT calls ``report_layer_time(name,
  ms)`` once per layer for each ``executeV2`` / ``enqueueV3`` (IProfiler, TensorRT 8.6 C++ API docs;
  Python: call ``trt.IProfiler.__init__`` in ``__init__``, TensorRT 8.2.5 Python API docs).
* Precisions: ``engine.create_engine_inspector().get_engine_information(LayerInformationFormat.JSON)``
  (TensorRT 8.2+). Only an engine built with ``ProfilingVerbosity.DETAILED`` (``engine.build_engine``
  sets it) lists each layer's outputs with their ``"Format/Datatype"`` (e.g. "Row major linear FP32",
  "Channel major FP16 format ...", "... vectorized row major Int8 format"); the default lists names only.
  A layer's precision here is its output data type: a Q/DQ conv that really runs in int8 writes int8.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Optional

__all__ = ["make_profiler", "engine_layers", "layer_precision", "layer_report"]

_PRECISIONS = (("int8", r"\bint8\b"), ("fp8", r"\bfp8\b"), ("bf16", r"\bbf16\b"), ("fp16", r"\b(fp16|half)\b"),
               ("fp32", r"\b(fp32|float)\b"), ("int32", r"\bint32\b"), ("int64", r"\bint64\b"), ("bool", r"\bbool\b"))


def make_profiler(trt: Any) -> Any:
    """An ``IProfiler`` that collects every reported time per layer name."""

    class _Profiler(trt.IProfiler):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)  # required by the pybind11 trampoline
            self.times: Dict[str, List[float]] = {}

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.times.setdefault(str(layer_name), []).append(float(ms))

    return _Profiler()


def layer_precision(layer: Dict[str, Any]) -> Optional[str]:
    """The precision of one DETAILED inspector layer, from its first output's "Format/Datatype"."""
    for out in layer.get("Outputs") or []:
        text = str(out.get("Format/Datatype", "")) if isinstance(out, dict) else ""
        for name, pattern in _PRECISIONS:
            if re.search(pattern, text, re.IGNORECASE):
                return name
    return None


def engine_layers(trt: Any, engine: Any) -> List[Dict[str, Any]]:
    """Name, type and precision of each engine layer (precision None when the engine has no DETAILED info)."""
    text = engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)
    out = []
    for layer in json.loads(text).get("Layers") or []:
        if isinstance(layer, str):  # built with LAYER_NAMES_ONLY: names, nothing else
            out.append({"name": layer, "type": None, "precision": None})
        else:
            out.append({"name": str(layer.get("Name")), "type": layer.get("LayerType"),
                        "precision": layer_precision(layer)})
    return out


def layer_report(trt: Any, engine: Any, run_profiled: Callable[[Any], None], runs: int) -> Dict[str, Any]:
    """Per-layer median time over ``runs`` profiled executions and the engine's layer precisions.

    ``run_profiled(profiler)`` runs the engine ``runs`` times with ``profiler`` attached (the runner does it
    on a second execution context so that the timed one is never profiled).
    """
    import numpy as np

    profiler = make_profiler(trt)
    run_profiled(profiler)
    layers = engine_layers(trt, engine)
    known = {x["name"] for x in layers}
    for extra in profiler.times:  # a layer the profiler timed that the inspector did not list
        if extra not in known:
            layers.append({"name": extra, "type": None, "precision": None})
    counts: Dict[str, int] = {}
    for x in layers:
        t = profiler.times.get(x["name"])
        x["median_ms"] = round(float(np.median(t)), 5) if t else None
        key = x["precision"] or "unknown"
        counts[key] = counts.get(key, 0) + 1
    total = sum(x["median_ms"] or 0.0 for x in layers)
    return {"source": "TensorRT IProfiler + engine inspector (JSON)", "verified_on_hardware": False, "runs": runs,
            "layer_count": len(layers), "precision_counts": counts, "sum_of_layer_medians_ms": round(total, 5),
            "layers": layers}
