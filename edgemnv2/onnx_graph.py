"""Which node computes each output of an ``.onnx`` file, read from its protobuf bytes (device side).

The device side must not import ``onnx`` and ONNX Runtime does not expose the graph's nodes, so this
reads the three fields it needs (graph.node op_type/input/output, graph.output names) with a
protobuf wire-format walker of a few lines. Field numbers: onnx/onnx.proto (ModelProto.graph = 7,
GraphProto.node = 1, GraphProto.output = 12; NodeProto input = 1, output = 2, op_type = 4).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

__all__ = ["OnnxNode", "OnnxGraph", "read_onnx_graph", "PASS_THROUGH"]

# Nodes that only move or re-encode values: look through them to the node that computed the output.
PASS_THROUGH = frozenset({"Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Cast",
                          "QuantizeLinear", "DequantizeLinear"})


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes, start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field; for varints start is the value."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield num, wire, value, pos
        elif wire == 2:
            n, pos = _varint(buf, pos)
            yield num, wire, pos, pos + n
            pos += n
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


@dataclass(frozen=True)
class OnnxNode:
    op_type: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]


@dataclass
class OnnxGraph:
    nodes: List[OnnxNode]
    outputs: List[str]

    def producer(self, name: str, look_through: bool = True) -> Optional[OnnxNode]:
        """The node that computes ``name`` (through reshapes, casts and Q/DQ when ``look_through``)."""
        by_output: Dict[str, OnnxNode] = {o: n for n in self.nodes for o in n.outputs}
        for _ in range(len(self.nodes)):
            node = by_output.get(name)
            if node is None or not look_through or node.op_type not in PASS_THROUGH or not node.inputs:
                return node
            name = node.inputs[0]
        return None


def _node(buf: bytes, start: int, end: int) -> OnnxNode:
    ins: List[str] = []
    outs: List[str] = []
    op = ""
    for num, wire, a, b in _fields(buf, start, end):
        if wire != 2:
            continue
        text = buf[a:b].decode("utf-8", "replace")
        if num == 1:
            ins.append(text)
        elif num == 2:
            outs.append(text)
        elif num == 4:
            op = text
    return OnnxNode(op, tuple(ins), tuple(outs))


def read_onnx_graph(path: str | os.PathLike) -> OnnxGraph:
    """Parse the main graph's nodes and output names; raises ValueError on a file that is not ONNX."""
    with open(path, "rb") as f:
        buf = f.read()
    nodes: List[OnnxNode] = []
    outputs: List[str] = []
    try:
        graph = next(((a, b) for num, wire, a, b in _fields(buf) if num == 7 and wire == 2), None)
        if graph is None:
            raise ValueError("no graph")
        for num, wire, a, b in _fields(buf, *graph):
            if num == 1 and wire == 2:
                nodes.append(_node(buf, a, b))
            elif num == 12 and wire == 2:
                name = next((buf[x:y].decode("utf-8", "replace") for n, w, x, y in _fields(buf, a, b)
                             if n == 1 and w == 2), "")
                outputs.append(name)
    except (IndexError, ValueError) as e:
        raise ValueError(f"{os.path.basename(str(path))} is not a readable ONNX model ({e})") from None
    return OnnxGraph(nodes, outputs)
