"""The rules that turn a model file's graph into a ``ModelIO`` (device side: no onnx, no tensorflow).

TFLite: the op producing each output, the output quantisation, Model Metadata (normalisation,
image size, labels). ONNX: the node producing each output. ``resolve_outputs`` completes the view
from the runner's tensor specs (shape rules) for anything the file did not settle.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from .errors import EdgeError
from .model_io import SSD_OUTPUTS, InputContract, IOOverrides, Layout, ModelIO, OutputInfo, OutputKind, Rule
from .tasks.base import Task
from .tasks.preprocess import Normalization

__all__ = ["tflite_io", "onnx_io", "resolve_outputs", "softmax_quantization", "SSD_OP"]

SSD_OP = "TFLite_Detection_PostProcess"
_PROB_OPS = {"SOFTMAX", "LOGISTIC", "Softmax", "Sigmoid"}
_ARGMAX_OPS = {"ARG_MAX", "ArgMax"}


def softmax_quantization(dtype: str, quant: Optional[Tuple[float, int]]) -> bool:
    """TFLite's fixed softmax/logistic output quantisation: scale 1/256, zero point 0 (uint8) or -128 (int8)."""
    if quant is None or abs(quant[0] - 1.0 / 256) > 1e-9:
        return False
    return (dtype == "uint8" and quant[1] == 0) or (dtype == "int8" and quant[1] == -128)


def _by_op(task: Task, name: str, op: Optional[str], ndim: int, layout: Optional[Layout] = None
           ) -> Optional[OutputInfo]:
    """Semantics of one output from the op that computes it (``layout``: of segmentation class scores)."""
    if op is None:
        return None
    if task is Task.classify:
        kind = OutputKind.probabilities if op in _PROB_OPS else OutputKind.logits
        return OutputInfo(name, kind, Rule.graph_op, op)
    if task is Task.segment:
        if op in _ARGMAX_OPS:
            return OutputInfo(name, OutputKind.class_map, Rule.graph_op, op)
        return OutputInfo(name, OutputKind.class_scores, Rule.graph_op, op, layout) if ndim == 4 else None
    if op in _PROB_OPS:
        return OutputInfo(name, OutputKind.scores, Rule.graph_op, op)
    return None


def tflite_io(path: Path, task: Task) -> ModelIO:
    from .tflite_file import read_tflite

    try:
        g = read_tflite(path)
    except (OSError, ValueError):
        return ModelIO(task, source="runner")  # the runner says what is wrong with the file
    outs: List[OutputInfo] = []
    for t in g.outputs:
        info = g.tensors[t]
        op, at = g.source(t)
        if op is not None and op.name == SSD_OP and task is Task.detect and at in op.outputs[:4]:
            kind = SSD_OUTPUTS[op.outputs.index(at)]
            outs.append(OutputInfo(info.name, kind, Rule.graph_op, SSD_OP))
            continue
        found = _by_op(task, info.name, op.name if op else None, len(info.shape), Layout.NHWC)
        if found is None and task is Task.classify and softmax_quantization(info.dtype, info.quant):
            found = OutputInfo(info.name, OutputKind.probabilities, Rule.quantization,
                               f"{info.dtype} scale 1/256 zero point {info.quant[1] if info.quant else 0}")
        if found is not None:
            outs.append(found)
    io = ModelIO(task, InputContract(Layout.NHWC), tuple(outs), source="tflite graph")
    return _with_metadata(io, g) if g.metadata is not None else io


def _with_metadata(io: ModelIO, g: Any) -> ModelIO:
    """Input normalisation, image size and labels from TFLite Model Metadata."""
    from dataclasses import replace

    meta = g.metadata
    inp = io.input
    if meta.mean and meta.std and len(meta.mean) in (1, 3) and len(meta.std) in (1, 3) and min(meta.std) > 0:
        mean = tuple(float(v) for v in (meta.mean * 3)[:3])
        std = tuple(float(v) for v in (meta.std * 3)[:3])
        spec = g.tensors[g.inputs[0]] if g.inputs else None
        if spec is not None and spec.dtype in ("uint8", "int8") and spec.quant is not None \
                and _folded(mean, std, spec.dtype, spec.quant):
            # The input quantisation already is the normalisation: feed pixels as they are (TFLite convention).
            inp = replace(inp, normalization=Normalization.raw(), norm_rule="metadata (folded into the input "
                                                                            "quantisation: raw pixels)")
        else:
            inp = replace(inp, normalization=Normalization(mean, std), norm_rule="metadata")  # type: ignore[arg-type]
    if meta.image_size is not None:
        inp = replace(inp, size=meta.image_size)
    labels = next(iter(meta.output_labels.values()), None)
    return replace(io, input=inp, labels=labels, source="tflite graph + metadata")


def _folded(mean: Sequence[float], std: Sequence[float], dtype: str, quant: Tuple[float, int]) -> bool:
    """True when real = (q - zp) * scale equals (pixel - mean) / std for q = pixel (within 1%)."""
    scale, zp = quant
    zp_pixels = zp + (128 if dtype == "int8" else 0)
    return all(abs(scale * s - 1) < 0.01 and abs(zp_pixels - m) <= 1.0 for m, s in zip(mean, std))


def onnx_io(path: Path, task: Task) -> ModelIO:
    from .onnx_graph import read_onnx_graph

    try:
        g = read_onnx_graph(path)
    except (OSError, ValueError):
        return ModelIO(task, source="runner")  # the runner says what is wrong with the file
    outs = []
    for name in g.outputs:
        node = g.producer(name)
        found = _by_op(task, name, node.op_type if node else None, 4 if task is Task.segment else 2)
        if found is not None:
            outs.append(found)
    return ModelIO(task, InputContract(), tuple(outs), source="onnx graph")


def resolve_outputs(io: ModelIO, specs: Sequence[Any], file_name: str) -> ModelIO:
    """Complete ``io.outputs`` for the runner's output ``specs`` (name, shape, dtype, quant); check the task fits."""
    known = {o.name: o for o in io.outputs if any(s.name == o.name for s in specs)}
    missing = [o.name for o in io.outputs if o.rule is Rule.user and o.name not in known]
    if missing:
        raise EdgeError(f"{file_name} has no output named '{missing[0]}' (outputs: {[s.name for s in specs]})",
                        "check --outputs")
    shapes = [tuple(s.shape) for s in specs]
    if io.task is Task.detect:
        return io.with_outputs(_detect_outputs(known, specs, file_name))
    if len(specs) != 1:
        what = "a classifier outputs one (1, classes) tensor" if io.task is Task.classify else \
            "a segmenter outputs one (1, [C,] H, W) tensor"
        raise EdgeError(f"{file_name} outputs {shapes}, {what}", "check --task")
    s = specs[0]
    if s.name in known:
        return io.with_outputs([known[s.name]])
    if len(io.outputs) == 1 and io.outputs[0].rule is Rule.manifest:  # one output, recorded under another name
        return io.with_outputs([replace(io.outputs[0], name=s.name)])
    if io.task is Task.classify:
        if len(s.shape) != 2:
            raise EdgeError(f"{file_name} outputs {shapes}, a classifier outputs one (1, classes) tensor",
                            "check --task")
        if softmax_quantization(s.dtype, s.quant):
            return io.with_outputs([OutputInfo(s.name, OutputKind.probabilities, Rule.quantization,
                                               f"{s.dtype} scale 1/256 zero point {s.quant[1]}")])
        return io.with_outputs([OutputInfo(s.name, OutputKind.unknown, Rule.value)])
    if len(s.shape) not in (3, 4):
        raise EdgeError(f"{file_name} outputs {shapes}, a segmenter outputs one (1, [C,] H, W) tensor", "check --task")
    integer = np.issubdtype(np.dtype(s.dtype), np.integer) and s.quant is None
    kind = OutputKind.class_map if integer or len(s.shape) == 3 else OutputKind.class_scores
    return io.with_outputs([OutputInfo(s.name, kind, Rule.shape, f"{s.dtype} {list(s.shape)}")])


def _detect_outputs(known: dict, specs: Sequence[Any], file_name: str) -> List[OutputInfo]:
    kinds = {o.kind for o in known.values()}
    if kinds & set(SSD_OUTPUTS):
        if len(specs) != 4 or len(known) != 4:
            raise EdgeError(f"{file_name}: {SSD_OP} outputs {len(known)} of 4 tensors as model outputs",
                            "export all four (boxes, classes, scores, count)")
        return list(known.values())
    if len(specs) == 4 and not known:
        raise EdgeError(f"{file_name} has 4 outputs but no {SSD_OP} op producing them",
                        "an SSD detector with in-model NMS has that op; else pass --outputs boxes=NAME,scores=NAME")
    if len(specs) != 2 and len(known) < 2:
        raise EdgeError(f"{file_name} has {len(specs)} output(s) {[tuple(s.shape) for s in specs]}, a detection "
                        "model has 2 (boxes, scores) or 4 (SSD with in-model NMS)",
                        "check --task, or name them: --outputs boxes=NAME,scores=NAME")
    roles = (OutputKind.boxes, OutputKind.scores, OutputKind.score_logits)
    out = {o.kind: o for o in known.values() if o.kind in roles}
    rest = [s for s in specs if s.name not in known]
    if OutputKind.boxes not in out:
        by_name = [s for s in rest if s.name == "boxes"] or [s for s in rest if s.shape and s.shape[-1] == 4]
        if not by_name:
            raise EdgeError(f"{file_name}: no output looks like boxes (last dimension 4)",
                            "name it: --outputs boxes=NAME,scores=NAME")
        out[OutputKind.boxes] = OutputInfo(by_name[0].name, OutputKind.boxes, Rule.shape, "last dimension 4")
        rest = [s for s in rest if s.name != by_name[0].name]
    if OutputKind.scores not in out and OutputKind.score_logits not in out:
        if not rest:
            raise EdgeError(f"{file_name}: no output left for the class scores", "check --outputs")
        out[OutputKind.scores] = OutputInfo(rest[0].name, OutputKind.unknown, Rule.value)
    return list(out.values())


def io_from_file(path: str | os.PathLike, task: Task | str, overrides: Optional[IOOverrides] = None) -> ModelIO:
    """What a bare model file says about itself (TFLite graph + metadata, ONNX graph), then ``overrides``."""
    task = Task(task)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        io = tflite_io(p, task)
    elif suffix == ".onnx":
        io = onnx_io(p, task)
    else:
        io = ModelIO(task, source="runner")
    return io.apply(overrides or IOOverrides())
