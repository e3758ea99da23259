"""Standard TFLite Model Metadata on our .tflite files: task, input normalisation, labels (host side).

So that other tools (TFLite Task Library, MediaPipe, pycoral) and our own bare ``--model`` read the
file correctly. No maintained writer installs beside tensorflow-cpu 2.21 / numpy 2 / Python 3.11:
``tflite-support`` 0.4.4 pins protobuf < 4 (TensorFlow needs newer) and is built for numpy 1, and
MediaPipe 1.2.3's ``metadata_writers`` import a native module its wheel does not ship
(``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version``). So the metadata flatbuffer
(metadata_schema.fbs, identifier ``M001``) is written here with the ``flatbuffers`` builder, the
model re-packed with TensorFlow's generated TFLite schema (object API), and the label files zipped
onto the end of the model, the layout tflite-support's MetadataPopulator writes. The reader is
``edgemnv2.tflite_file``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...fileio import atomic_write_bytes
from ...model_source import ModelSource
from ...tasks.base import Task

__all__ = ["write_metadata", "metadata_buffer", "MIN_PARSER_VERSION"]

MIN_PARSER_VERSION = "1.0.0"
_AXIS_LABELS, _VALUE_LABELS = 2, 3  # AssociatedFileType
_FEATURE, _IMAGE, _BOUNDING_BOX = 1, 2, 3  # ContentProperties union
_NORMALIZATION = 1  # ProcessUnitOptions union


class _Writer:
    """Builds metadata_schema.fbs tables bottom-up with the flatbuffers builder."""

    def __init__(self) -> None:
        import flatbuffers

        self.b = flatbuffers.Builder(1024)

    def table(self, fields: Sequence[Tuple[int, str, Any]]) -> int:
        """fields: (slot, kind, value); kind "off" (an offset), "i8"/"u8" (a byte scalar)."""
        b = self.b
        b.StartObject(max((s for s, _, _ in fields), default=-1) + 1)
        for slot, kind, value in fields:
            if value is None:
                continue
            if kind == "off":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "i8":
                b.PrependInt8Slot(slot, value, 0)
            else:
                b.PrependUint8Slot(slot, value, 0)
        return b.EndObject()

    def offsets(self, items: Sequence[int]) -> int:
        self.b.StartVector(4, len(items), 4)
        for x in reversed(items):
            self.b.PrependUOffsetTRelative(x)
        return self.b.EndVector()

    def numbers(self, values: Sequence[float], kind: str = "f") -> int:
        self.b.StartVector(4, len(values), 4)
        for v in reversed(values):
            (self.b.PrependFloat32 if kind == "f" else self.b.PrependUint32)(v)
        return self.b.EndVector()

    def string(self, text: Optional[str]) -> Optional[int]:
        return self.b.CreateString(text) if text else None

    def tensor(self, name: str, description: str, content: Tuple[int, int], labels: Optional[Tuple[str, int]] = None,
               units: Optional[int] = None, stats: Optional[int] = None) -> int:
        files = None
        if labels is not None:
            f = self.table([(0, "off", self.string(labels[0])), (1, "off", self.string("labels, one per line")),
                            (2, "i8", labels[1])])
            files = self.offsets([f])
        kind, props = content
        c = self.table([(0, "u8", kind), (1, "off", props)])
        return self.table([(0, "off", self.string(name)), (1, "off", self.string(description)), (3, "off", c),
                           (4, "off", units), (5, "off", stats), (6, "off", files)])


def _input(w: _Writer, mean: Sequence[float], std: Sequence[float]) -> int:
    """Our Pi graphs take RGB pixels 0..255: float (mean 0, std 1) or int8 ``pixel - mean`` at scale 1/std."""
    image = w.table([(0, "i8", 1)])  # ImageProperties: color_space RGB
    norm = w.table([(0, "off", w.numbers([float(v) for v in mean])), (1, "off", w.numbers([float(v) for v in std]))])
    unit = w.table([(0, "u8", _NORMALIZATION), (1, "off", norm)])
    stats = w.table([(0, "off", w.numbers([255.0])), (1, "off", w.numbers([0.0]))])
    return w.tensor("image", "RGB pixels 0..255, resized bilinear; the rest of the normalisation is inside the graph",
                    (_IMAGE, image), units=w.offsets([unit]), stats=stats)


def _output(w: _Writer, task: Task, role: str) -> int:
    feature = (_FEATURE, w.table([]))
    if task is Task.classify:
        return w.tensor("logits", "class scores before softmax", feature, ("labels.txt", _AXIS_LABELS))
    if task is Task.segment:
        return w.tensor("segmentation_logits", "per-pixel class scores (1, H, W, classes) before argmax", feature,
                        ("labels.txt", _AXIS_LABELS))
    if role in ("boxes", "location"):
        ssd = role == "location"
        bbox = w.table([(0, "off", w.numbers([1, 0, 3, 2] if ssd else [0, 1, 2, 3], "u")), (1, "i8", 1),
                        (2, "i8", 0)])  # BOUNDARIES, RATIO
        what = "ymin, xmin, ymax, xmax" if ssd else "x1, y1, x2, y2 per anchor"
        return w.tensor("location" if ssd else "boxes", f"boxes {what}, normalised 0..1", (_BOUNDING_BOX, bbox))
    if role == "classes":
        return w.tensor("category", "class index (background excluded)", feature,
                        ("labels_without_background.txt", _VALUE_LABELS))
    if role == "scores" and task is Task.detect:
        return w.tensor("score", "class probabilities per anchor (background first)", feature,
                        ("labels.txt", _AXIS_LABELS))
    if role == "ssd_scores":
        return w.tensor("score", "detection score", feature)
    return w.tensor("number of detections", "valid rows of location/category/score", feature)


def metadata_buffer(task: Task, roles: Sequence[str], description: str, mean: Sequence[float] = (0.0,) * 3,
                    std: Sequence[float] = (1.0,) * 3) -> bytes:
    """The ModelMetadata flatbuffer for outputs with these roles, in the model's output order; ``mean`` and
    ``std``: the input normalisation the file expects (the manifest's)."""
    w = _Writer()
    inputs = w.offsets([_input(w, mean, std)])
    outputs = w.offsets([_output(w, task, r) for r in roles])
    sub = w.table([(2, "off", inputs), (3, "off", outputs)])
    root = w.table([(0, "off", w.string(f"edgemnv2 {task.value}")), (1, "off", w.string(description)),
                    (3, "off", w.offsets([sub])), (4, "off", w.string("edgemnv2")),
                    (7, "off", w.string(MIN_PARSER_VERSION))])
    w.b.Finish(root, file_identifier=b"M001")
    return bytes(w.b.Output())


def _roles(task: Task, path: Path, outputs: List[Dict[str, Any]]) -> List[str]:
    """Each model output's role, in the file's output order (from the manifest's runtime names)."""
    from ...tflite_file import read_tflite

    g = read_tflite(path)
    by_name = {o.get("runtime_name", o["name"]): o["name"] for o in outputs}
    ssd = {"boxes": "location", "classes": "classes", "scores": "ssd_scores", "count": "count"}
    in_model = len(outputs) == 4
    return [ssd[by_name[g.tensors[t].name]] if in_model else by_name[g.tensors[t].name] for t in g.outputs]


def write_metadata(path: Path, src: ModelSource, io_: Dict[str, Any]) -> None:
    """Add TFLite Model Metadata and the label files to the .tflite at ``path`` (rewritten atomically)."""
    import flatbuffers
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    roles = _roles(src.task, path, io_["outputs"])
    desc = (f"edgemnv2 {src.task.value} model: MobileNetV2 {src.width_mult:g} at {src.resolution}x{src.resolution}, "
            f"{src.num_classes} classes (labels.txt, background first for detect/segment)")
    meta = metadata_buffer(src.task, roles, desc, io_["input"]["mean"], io_["input"]["std"])
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    buf = schema.BufferT()
    buf.data = np.frombuffer(meta, np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (b"TFLITE_METADATA", "TFLITE_METADATA")] + [
        entry]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    out = io.BytesIO(bytes(b.Output()))
    with zipfile.ZipFile(out, "a") as z:  # appended after the flatbuffer, as tflite-support does
        z.writestr("labels.txt", "".join(f"{x}\n" for x in src.labels))
        if "location" in roles:
            z.writestr("labels_without_background.txt", "".join(f"{x}\n" for x in src.labels[1:]))
    atomic_write_bytes(path, out.getvalue())
