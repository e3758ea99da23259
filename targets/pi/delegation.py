"""Which operators of a .tflite model the XNNPACK delegate really runs (device side, numpy-free).

The interpreters (LiteRT, tflite-runtime, tensorflow.lite) list every node of the model through
``_get_ops_details()``; when a delegate takes a part of the graph, a ``DELEGATE`` node is appended
whose inputs and outputs are the boundary tensors of that part. The original nodes it replaced are
exactly those needed to compute its outputs that are not needed to compute its inputs, so the
operators left to the runtime's own kernels are known per op, without timing anything.

tflite-runtime 2.14 on x86-64 hands no int8 node to XNNPACK (measured: int8 10-18x slower than on
LiteRT); :func:`int8_delegation_note` says so for ``edgemnv2 doctor``.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

__all__ = ["Delegation", "analyse_delegation", "int8_delegation_note", "TFLITE214_INT8"]

# the op kinds that do a model's work: when they run outside XNNPACK the model is many times slower
_WORK_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
_QUANT_DTYPES = {"int8", "uint8"}
TFLITE214_INT8 = "tflite-runtime 2.14 on x86-64 does not delegate int8 to XNNPACK; use ai-edge-litert"


@dataclass
class Delegation:
    """What the delegate ran: operator counts on and off it (see docs/report.md, ``runtime.delegation``)."""

    delegate: str
    ops: int
    delegated_ops: int
    partitions: int
    not_delegated: Dict[str, int] = field(default_factory=dict)
    quantized_not_delegated: int = 0
    warning: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"delegate": self.delegate, "ops": self.ops, "delegated_ops": self.delegated_ops,
                             "partitions": self.partitions, "not_delegated": dict(self.not_delegated),
                             "quantized_not_delegated": self.quantized_not_delegated}
        if self.warning:
            d["warning"] = self.warning
        return d


def _tensors(ids: Iterable[int]) -> List[int]:
    return [int(t) for t in ids if int(t) >= 0]  # -1 marks an omitted optional input


def _ancestors(tensors: Iterable[int], producer: Dict[int, int], nodes: Dict[int, Dict[str, Any]]) -> Set[int]:
    """Original nodes needed to compute ``tensors``."""
    seen: Set[int] = set()
    stack = [producer[t] for t in tensors if t in producer]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack += [producer[t] for t in _tensors(nodes[n]["inputs"]) if t in producer]
    return seen


def _covered(ops: List[Dict[str, Any]]) -> Tuple[Dict[int, Dict[str, Any]], Set[int], int]:
    """(original nodes by index, indices of those a delegate replaced, number of delegate nodes)."""
    nodes = {int(o["index"]): o for o in ops if o["op_name"] != "DELEGATE"}
    delegates = [o for o in ops if o["op_name"] == "DELEGATE"]
    producer = {t: i for i, o in nodes.items() for t in _tensors(o["outputs"])}
    covered: Set[int] = set()
    for d in delegates:
        covered |= _ancestors(_tensors(d["outputs"]), producer, nodes) - \
            _ancestors(_tensors(d["inputs"]), producer, nodes)
    return nodes, covered, len(delegates)


def analyse_delegation(ops: List[Dict[str, Any]], tensor_dtypes: Dict[int, str], runtime: str, version: str,
                       delegate: str = "xnnpack") -> Delegation:
    """Delegation from an interpreter's ``_get_ops_details()`` and ``{tensor index: dtype name}``."""
    nodes, covered, partitions = _covered(ops)
    left: Dict[str, int] = {}
    quantized = work_quantized = 0
    for i, o in sorted(nodes.items()):
        if i in covered:
            continue
        left[o["op_name"]] = left.get(o["op_name"], 0) + 1
        if any(tensor_dtypes.get(t) in _QUANT_DTYPES for t in _tensors(o["inputs"])):
            quantized += 1
            work_quantized += o["op_name"] in _WORK_OPS
    d = Delegation(delegate, len(nodes), len(covered), partitions, left, quantized)
    if work_quantized:
        if runtime == "tflite_runtime" and platform.machine().lower() in ("x86_64", "amd64"):
            d.warning = f"int8 runs un-delegated: {TFLITE214_INT8}"
        else:
            d.warning = (f"{work_quantized} int8 convolution/FC ops run outside {delegate} on {runtime} {version} "
                         "(slow reference kernels); try ai-edge-litert")
    return d


def int8_delegation_note() -> Optional[str]:
    """For ``edgemnv2 doctor``: a warning when the TFLite runtime Pi bundles would use here (the first of
    LiteRT, tflite-runtime, or EDGEMNV2_TFLITE_RUNTIME's choice) is tflite-runtime on x86-64; else None."""
    def has(mod: str) -> bool:
        try:
            return importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            return False

    chosen = os.environ.get("EDGEMNV2_TFLITE_RUNTIME") or next(
        (m for m in ("ai_edge_litert", "tflite_runtime") if has(m)), None)
    if chosen != "tflite_runtime" or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return f"{TFLITE214_INT8} (int8 bundles run many times slower than fp32 here)"
