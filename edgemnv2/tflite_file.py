"""What a ``.tflite`` file says about itself, read from its bytes (device side: standard library only).

The graph (tensors, which operator produces each output) and the TFLite Model Metadata (input
normalisation, image size, label files zipped onto the model) are flatbuffers. LiteRT ships generated
readers for the model schema but not for the metadata schema, tflite-runtime ships neither, and
``tflite-support`` (the metadata reader) pins protobuf 3 and numpy 1: so this module reads the few
fields it needs with a small flatbuffer table reader that works beside any of the three runtimes.
The interpreter's ``_get_ops_details()`` is no substitute: once XNNPACK takes a node it reports
``DELEGATE`` instead of the op (a float SOFTMAX, for instance).
Field numbers: tensorflow/lite/schema/schema.fbs and tensorflow_lite_support metadata_schema.fbs.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

__all__ = ["TfliteGraph", "TensorInfo", "OpInfo", "FileMetadata", "read_tflite", "METADATA_NAME",
           "BUILTIN_OPS", "PASS_THROUGH"]

METADATA_NAME = "TFLITE_METADATA"
# BuiltinOperator codes this package reasons about (schema.fbs); others are reported as BUILTIN_<code>.
BUILTIN_OPS = {0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
               9: "FULLY_CONNECTED", 14: "LOGISTIC", 18: "MUL", 22: "RESHAPE", 23: "RESIZE_BILINEAR",
               25: "SOFTMAX", 32: "CUSTOM", 39: "TRANSPOSE", 40: "MEAN", 43: "SQUEEZE", 50: "LOG_SOFTMAX",
               56: "ARG_MAX", 97: "RESIZE_NEAREST_NEIGHBOR", 114: "QUANTIZE"}
# Ops that only move or re-encode values: look through them to the op that computed the output.
PASS_THROUGH = frozenset({"RESHAPE", "SQUEEZE", "DEQUANTIZE", "QUANTIZE", "TRANSPOSE"})
_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
          10: "float64"}


class _Table:
    """A flatbuffer table at ``pos`` in ``buf``: scalar, string, vector and sub-table fields by slot."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vt, self.vt_len = vt, struct.unpack_from("<H", buf, vt)[0]

    def _off(self, slot: int) -> int:
        o = 4 + 2 * slot
        return struct.unpack_from("<H", self.buf, self.vt + o)[0] if o < self.vt_len else 0

    def scalar(self, slot: int, fmt: str, default: float | int = 0) -> float | int:
        o = self._off(slot)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0] if o else default

    def _ref(self, slot: int) -> Optional[int]:
        o = self._off(slot)
        if not o:
            return None
        p = self.pos + o
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, slot: int) -> Optional[_Table]:
        p = self._ref(slot)
        return _Table(self.buf, p) if p is not None else None

    def string(self, slot: int) -> Optional[str]:
        p = self._ref(slot)
        if p is None:
            return None
        n = struct.unpack_from("<I", self.buf, p)[0]
        return self.buf[p + 4:p + 4 + n].decode("utf-8", "replace")

    def _vector(self, slot: int) -> Tuple[int, int]:
        p = self._ref(slot)
        return (0, 0) if p is None else (struct.unpack_from("<I", self.buf, p)[0], p + 4)

    def scalars(self, slot: int, fmt: str) -> List:
        n, start = self._vector(slot)
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, start)) if n else []

    def tables(self, slot: int) -> List[_Table]:
        n, start = self._vector(slot)
        return [_Table(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
                for i in range(n)]

    def bytes_(self, slot: int) -> bytes:
        n, start = self._vector(slot)
        return self.buf[start:start + n]


def _root(buf: bytes, offset: int = 0) -> _Table:
    return _Table(buf, offset + struct.unpack_from("<I", buf, offset)[0])


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: Tuple[int, ...]  # -1 where the shape signature says "any size"
    dtype: str
    quant: Optional[Tuple[float, int]]  # per-tensor (scale, zero point)


@dataclass(frozen=True)
class OpInfo:
    name: str  # builtin op name, or the custom op's code (e.g. TFLite_Detection_PostProcess)
    inputs: Tuple[int, ...]
    outputs: Tuple[int, ...]


@dataclass
class FileMetadata:
    """The parts of TFLite Model Metadata that decide how to feed and read a model."""

    mean: Optional[List[float]] = None  # input NormalizationOptions, in the input's pixel units
    std: Optional[List[float]] = None
    image_size: Optional[Tuple[int, int]] = None  # (height, width), ImageProperties.default_size
    output_labels: Dict[int, List[str]] = field(default_factory=dict)  # output position -> labels
    output_names: List[str] = field(default_factory=list)  # TensorMetadata names, in output order
    name: str = ""


@dataclass
class TfliteGraph:
    """Subgraph 0 of a .tflite file: tensors, operators, the graph inputs/outputs, and its metadata."""

    tensors: List[TensorInfo]
    ops: List[OpInfo]
    inputs: List[int]
    outputs: List[int]
    metadata: Optional[FileMetadata]

    def producer(self, tensor: int, look_through: bool = True) -> Optional[OpInfo]:
        """The op that computes ``tensor`` (through reshapes and (de)quantisation when ``look_through``)."""
        return self.source(tensor, look_through)[0]

    def source(self, tensor: int, look_through: bool = True) -> Tuple[Optional[OpInfo], int]:
        """(producing op, the op's own output tensor that ``tensor`` is, possibly re-encoded)."""
        for _ in range(len(self.ops)):
            op = next((o for o in self.ops if tensor in o.outputs), None)
            if op is None or not look_through or op.name not in PASS_THROUGH or not op.inputs:
                return op, tensor
            tensor = op.inputs[0]
        return None, tensor


def _tensor(t: _Table) -> TensorInfo:
    shape = t.scalars(0, "i")
    signature = t.scalars(7, "i")
    if len(signature) == len(shape):
        shape = [s if s >= 0 else -1 for s in signature]
    q = t.table(4)
    quant = None
    if q is not None:
        scales, zeros = q.scalars(2, "f"), q.scalars(3, "q")
        if len(scales) == 1 and scales[0]:
            quant = (float(scales[0]), int(zeros[0]) if zeros else 0)
    return TensorInfo(t.string(3) or "", tuple(int(s) for s in shape), _TYPES.get(int(t.scalar(1, "b")), "unknown"),
                      quant)


def _op_names(model: _Table) -> List[str]:
    names = []
    for c in model.tables(1):
        code = max(int(c.scalar(0, "b")), int(c.scalar(3, "i")))  # deprecated_builtin_code, builtin_code
        names.append(c.string(1) or "CUSTOM" if code == 32 else BUILTIN_OPS.get(code, f"BUILTIN_{code}"))
    return names


def read_tflite(path: str | os.PathLike) -> TfliteGraph:
    """Parse ``path``; raises ValueError when it is not a TFLite flatbuffer."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError(f"{os.path.basename(str(path))} is not a TFLite model (no TFL3 identifier)")
    try:
        model = _root(buf)
        names = _op_names(model)
        sub = model.tables(2)[0]
        tensors = [_tensor(t) for t in sub.tables(0)]
        ops = [OpInfo(names[int(o.scalar(0, "I"))], tuple(o.scalars(1, "i")), tuple(o.scalars(2, "i")))
               for o in sub.tables(3)]
        meta = None
        for m in model.tables(6):
            if m.string(0) == METADATA_NAME:
                data = model.tables(4)[int(m.scalar(1, "I"))].bytes_(0)
                meta = _metadata(data, buf) if data else None
        return TfliteGraph(tensors, ops, sub.scalars(1, "i"), sub.scalars(2, "i"), meta)
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise ValueError(f"{os.path.basename(str(path))} is a damaged TFLite file ({e})") from None


def _metadata(data: bytes, model_bytes: bytes) -> FileMetadata:
    """ModelMetadata flatbuffer -> FileMetadata; label files come from the zip appended to the model."""
    root = _root(data)
    out = FileMetadata(name=root.string(0) or "")
    subs = root.tables(3)
    if not subs:
        return out
    sub = subs[0]
    inputs = sub.tables(2)
    if inputs:
        t = inputs[0]
        for unit in t.tables(4):  # process_units: the union type is slot 0, the table slot 1
            if int(unit.scalar(0, "B")) == 1:  # NormalizationOptions
                opts = unit.table(1)
                if opts is not None:
                    out.mean, out.std = opts.scalars(0, "f"), opts.scalars(1, "f")
        content = t.table(3)
        if content is not None and int(content.scalar(0, "B")) == 2:  # ImageProperties
            props = content.table(1)
            size = props.table(1) if props is not None else None
            if size is not None and size.scalar(0, "I") and size.scalar(1, "I"):
                out.image_size = (int(size.scalar(1, "I")), int(size.scalar(0, "I")))
    archive = _zip(model_bytes)
    for i, t in enumerate(sub.tables(3)):
        out.output_names.append(t.string(0) or "")
        for f in t.tables(6):
            if int(f.scalar(2, "b")) in (2, 3) and archive is not None:  # TENSOR_AXIS/VALUE_LABELS
                labels = _zip_text(archive, f.string(0) or "")
                if labels:
                    out.output_labels.setdefault(i, labels)
    return out


def _zip(model_bytes: bytes) -> Optional[zipfile.ZipFile]:
    try:
        return zipfile.ZipFile(io.BytesIO(model_bytes))
    except zipfile.BadZipFile:
        return None


def _zip_text(archive: zipfile.ZipFile, name: str) -> List[str]:
    try:
        text = archive.read(name).decode("utf-8")
    except (KeyError, UnicodeDecodeError, zipfile.BadZipFile):
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]
