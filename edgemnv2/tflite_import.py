"""Import a published MobileNetV2 .tflite (classifier or DeepLabv3 segmenter, float or int8) into PyTorch.

Everything is read from the file: the task (classifier output (1, C); segmenter output at
full resolution), the width (the channel counts), the resolution (the input shape), the class
count, the normalisation (the input's quantization, or the normalising MUL/ADD ops of a float
graph) and the padding mode (SAME convolutions = TensorFlow's; an explicit PAD + VALID
tells which). Each convolution is checked against the architecture ``edgemnv2.models.spec``
describes; the first that differs is named in a one-line error. Weights are dequantized per channel
(``edgemnv2.tflite_reader``), BatchNorm is already folded in them: our BatchNorm layers are set to
identity plus the folded bias, so the model still fine-tunes and exports like any other.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from .errors import EdgeError
from .models.spec import (
    WIDTHS,
    ArchOptions,
    Padding,
    backbone_blocks,
    last_channels,
    make_divisible,
    same_pads,
    stem_channels,
)
from .tasks.base import Task
from .tasks.preprocess import Normalization
from .tflite_reader import SAME, OpInfo, TFLiteGraph, read_tflite

__all__ = ["ImportedModel", "import_tflite", "Layer"]

_HINT = "only MobileNetV2 classifiers and DeepLabv3-MobileNetV2 segmenters (TF-slim / DeepLab / Keras layout) import"
_PASS_THROUGH = ("QUANTIZE", "DEQUANTIZE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RESHAPE", "TILE",
                 "BROADCAST_TO")
HEAD_CHANNELS = 256
_NOUN = {Task.classify: "classifier", Task.segment: "segmenter", Task.detect: "detector"}
ASSUMED_FLOAT_NORMALIZATION = Normalization((127.5, 127.5, 127.5), (127.5, 127.5, 127.5))


@dataclass
class Layer:
    """A convolution or fully connected layer of the file, in PyTorch layouts (float64)."""

    op: OpInfo
    kind: str  # conv | dw | fc
    weight: np.ndarray  # OIHW (dw: C,1,kh,kw) or (O, I)
    bias: np.ndarray
    stride: int
    dilation: int
    act: str
    in_shape: Tuple[int, ...]  # NHWC of the tensor before any explicit PAD
    padding: str  # SAME | VALID
    pads: Tuple[int, int, int, int] = (0, 0, 0, 0)  # explicit PAD before it: top, bottom, left, right
    output: int = -1  # tensor index after the activation
    joined: bool = False  # rejoined from our own split projection (its input order is already ours)

    @property
    def shape_key(self) -> Tuple[str, int, int, int, int, int, str]:
        o, i = self.weight.shape[0], self.weight.shape[1] if self.kind != "dw" else self.weight.shape[0]
        k = self.weight.shape[-1] if self.kind != "fc" else 1
        return self.kind, i, o, k, self.stride, self.dilation, self.act


@dataclass
class ImportedModel:
    model: Any  # torch.nn.Module, eval mode
    task: Task
    width_mult: float
    resolution: int
    num_classes: int
    normalization: Normalization
    arch: ArchOptions
    quantized: bool  # weights were stored quantized (int8/uint8): the agreement bar is lower
    input_dtype: str
    labels: Optional[List[str]] = None  # from the file's associated label file, if any
    notes: List[str] = field(default_factory=list)
    output_kind: str = "logits"  # what the file outputs: logits | probabilities | mask
    feed_normalized: bool = False  # the file's float input expects normalised values (not pixels)


def _describe(key: Tuple[str, int, int, int, int, int, str]) -> str:
    kind, i, o, k, s, d, act = key
    what = {"conv": f"{k}x{k} conv", "dw": f"{k}x{k} depthwise conv", "fc": "fully connected"}[kind]
    extra = (f" stride {s}" if s > 1 else "") + (f" dilation {d}" if d > 1 else "")
    return f"{what}{extra} {i}->{o} channels, activation {act}"


def _activation(graph: TFLiteGraph, op: OpInfo) -> Tuple[str, int]:
    """Fused activation, or a RELU/RELU6 op right after (an unfused converter): (name, output tensor)."""
    act, out = op.options.get("activation", "none"), op.outputs[0]
    if act == "none":
        users = graph.consumers(out)
        if len(users) == 1 and users[0].name in ("RELU", "RELU6"):
            return users[0].name.lower(), users[0].outputs[0]
    return act, out


def _layer(graph: TFLiteGraph, op: OpInfo) -> Layer:
    w = graph.constant(op.inputs[1])
    bias_t = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    src, pads = op.inputs[0], (0, 0, 0, 0)
    prev = graph.producer(src)
    if prev is not None and prev.name in ("PAD", "PADV2") and op.name != "FULLY_CONNECTED":
        p = graph.constant(prev.inputs[1]).astype(int)  # (4, 2): N, H, W, C
        pads, src = (p[1, 0], p[1, 1], p[2, 0], p[2, 1]), prev.inputs[0]
    if op.name == "DEPTHWISE_CONV_2D":
        kind, weight = "dw", np.transpose(w, (3, 0, 1, 2))  # (1, kh, kw, C) -> (C, 1, kh, kw)
    elif op.name == "CONV_2D":
        kind, weight = "conv", np.transpose(w, (0, 3, 1, 2))  # (O, kh, kw, I) -> OIHW
    else:
        kind, weight = "fc", w.reshape(w.shape[0], -1)
    bias = graph.constant(bias_t) if bias_t is not None else np.zeros(weight.shape[0])
    act, out = _activation(graph, op)
    return Layer(op, kind, weight, bias.reshape(-1), int(op.options.get("strideH", 1)),
                 int(op.options.get("dilationHFactor", 1)), act, graph.tensors[src].shape,
                 op.options.get("padding", "VALID"), tuple(int(v) for v in pads), out)


def _layers(graph: TFLiteGraph) -> List[Layer]:
    return [_layer(graph, op) for op in graph.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]


def _expected_backbone(width: float, output_stride: int, include_last: bool) -> List[Tuple]:
    keys: List[Tuple] = [("conv", 3, stem_channels(width), 3, 2, 1, "relu6")]
    for b in backbone_blocks(width, output_stride):
        if b.expand != 1:
            keys.append(("conv", b.in_ch, b.hidden, 1, 1, 1, "relu6"))
        keys.append(("dw", b.hidden, b.hidden, 3, b.stride, b.dilation, "relu6"))
        keys.append(("conv", b.hidden, b.out_ch, 1, 1, 1, "none"))
    if include_last:
        keys.append(("conv", make_divisible(320 * width), last_channels(width), 1, 1, 1, "relu6"))
    return keys


def _match_backbone(graph: TFLiteGraph, layers: List[Layer], task: Task) -> Tuple[float, int]:
    """Find the width whose backbone matches the file's first layers; returns (width, layers used)."""
    stem_out = layers[0].weight.shape[0] if layers else 0
    candidates = sorted({w for w in (*WIDTHS, stem_out / 32) if stem_channels(w) == stem_out}) or [1.0]
    best: Tuple[int, str] = (-1, "")
    for width in candidates:
        expected = _expected_backbone(width, 16 if task is Task.segment else 32, task is Task.classify)
        for i, exp in enumerate(expected):
            got = layers[i] if i < len(layers) else None
            if got is None or got.shape_key != exp:
                if i > best[0]:
                    seen = (f"layer {i + 1} ({got.op.name} '{graph.tensors[got.op.inputs[1]].name[:60]}') is "
                            f"{_describe(got.shape_key)}" if got else f"the file ends after {len(layers)} layers")
                    best = (i, f"{graph.path.name} is not a MobileNetV2 {_NOUN[task]} of our family: {seen}; "
                               f"width {width:g} expects {_describe(exp)} there")
                break
        else:
            return width, len(expected)
    raise EdgeError(best[1], _HINT)


def _padding_mode(graph: TFLiteGraph, layers: List[Layer]) -> Padding:
    """``tf`` if every strided conv pads like TensorFlow SAME, ``torch`` if symmetrically; else an error."""
    fits_tf, fits_torch, native_same = True, True, False
    for n, layer in enumerate(layers):
        k = layer.weight.shape[-1] if layer.kind != "fc" else 1
        if k == 1:
            continue
        size = layer.in_shape[1]
        tf_pads = same_pads(size, k, layer.stride, layer.dilation)
        sym = (k - 1) // 2 * layer.dilation
        got = (tf_pads if layer.padding == SAME else (0, 0))
        got = (got[0] + layer.pads[0], got[1] + layer.pads[1])
        native_same |= layer.padding == SAME
        fits_tf &= got == tf_pads
        fits_torch &= got == (sym, sym)
        if not (fits_tf or fits_torch):
            raise EdgeError(f"{graph.path.name}: layer {n + 1} ({layer.op.name}) pads {got} on a {size}-pixel "
                            f"input, neither TensorFlow SAME {tf_pads} nor symmetric ({sym}, {sym})", _HINT)
    return Padding.tf if fits_tf and (native_same or not fits_torch) else Padding.torch


def _trace_back(graph: TFLiteGraph, tensor: int) -> Optional[OpInfo]:
    """The op that made ``tensor``, looking through resizes, (de)quantization, reshapes and activations."""
    op = graph.producer(tensor)
    while op is not None and op.name in (*_PASS_THROUGH, "RELU", "RELU6"):
        op = graph.producer(op.inputs[0])
    return op


def _input_normalization(graph: TFLiteGraph, stem: Layer) -> Tuple[Normalization, List[str]]:
    """Pixels -> the stem's real input: the input quantization composed with normalising MUL/ADD/SUB ops."""
    t = graph.tensors[graph.inputs[0]]
    scale, shift = 1.0, 0.0  # real = pixel * scale + shift, per channel after the ops below
    qp = t.quant_params()
    if qp is not None:
        zp = qp[1] + (128 if np.dtype(t.dtype) == np.int8 else 0)  # int8 inputs take pixel - 128
        scale, shift = qp[0], -zp * qp[0]
    a, b = np.full(3, scale), np.full(3, shift)
    chain, tensor, notes = [], stem.op.inputs[0], []
    op = graph.producer(tensor)
    while op is not None and op.name in ("MUL", "ADD", "SUB", "QUANTIZE", "DEQUANTIZE", "PAD", "PADV2"):
        chain.append(op)
        op = graph.producer(op.inputs[0])
    for op in reversed(chain):
        if op.name in ("MUL", "ADD", "SUB"):
            c = np.broadcast_to(graph.constant(op.inputs[1]).reshape(-1), (3,))
            a, b = (a * c, b * c) if op.name == "MUL" else (a, b + c if op.name == "ADD" else b - c)
    if qp is None and not chain:
        notes.append("the file's float input carries no normalisation: assuming Google's convention "
                     "(pixel - 127.5) / 127.5")
        return ASSUMED_FLOAT_NORMALIZATION, notes
    mean, std = -b / a, 1.0 / a
    return Normalization(tuple(float(v) for v in mean), tuple(float(v) for v in std)), notes  # type: ignore[arg-type]


def _task(graph: TFLiteGraph) -> Task:
    shape = graph.tensors[graph.outputs[0]].shape
    return Task.classify if int(np.prod(shape)) == shape[-1] else Task.segment


def _model_metadata(path: Path) -> Any:
    """The file's TFLite Model Metadata (``edgemnv2.tflite_file``), or None."""
    from .tflite_file import read_tflite as read_file_info

    try:
        return read_file_info(path).metadata
    except Exception:  # metadata is optional: a file without (or with unreadable) metadata still imports
        return None


def _embedded_labels(path: Path, num_classes: int) -> Optional[List[str]]:
    """Labels from a TFLite metadata associated file (a zip appended to the model), if one fits."""
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                lines = [s.strip() for s in z.read(name).decode("utf-8", "replace").splitlines() if s.strip()]
                if len(lines) == num_classes:
                    return lines
    except (zipfile.BadZipFile, OSError, KeyError):
        pass
    return None


def import_tflite(path: str | Path, expect_task: Optional[Task] = None) -> ImportedModel:
    """Read ``path`` and return the equivalent PyTorch model with everything the file says about it."""
    graph = read_tflite(path)
    if len(graph.inputs) != 1 or len(graph.tensors[graph.inputs[0]].shape) != 4 or \
            graph.tensors[graph.inputs[0]].shape[-1] != 3:
        raise EdgeError(f"{graph.path.name} does not take one RGB image (1, H, W, 3)", _HINT)
    _, h, w, _ = graph.tensors[graph.inputs[0]].shape
    if h != w:
        raise EdgeError(f"{graph.path.name} takes {w}x{h} images; only square inputs import", _HINT)
    task = _task(graph)
    if expect_task is not None and Task(expect_task) is not task:
        raise EdgeError(f"{graph.path.name} is a {task.value} model, not {Task(expect_task).value}",
                        f"pass --task {task.value}")
    layers = _layers(graph)
    width, used = _match_backbone(graph, layers, task)
    from .models.zoo import build_model

    padding = _padding_mode(graph, layers)
    if task is Task.classify:
        head = _classifier_head(graph, layers[used:])
        ncls, align = head.weight.shape[0], False
    else:
        heads = _segment_head(graph, layers[used - 1], layers[used:])
        ncls, align = heads[-1].weight.shape[0], _align_corners(graph)
    model = build_model(task, width, int(ncls), int(h), ArchOptions(padding, align))
    _load(model, task, layers[:used], [head] if task is Task.classify else heads)
    norm, notes = _input_normalization(graph, layers[0])
    meta = _model_metadata(graph.path)
    normalised_input = norm is ASSUMED_FLOAT_NORMALIZATION
    if normalised_input and meta is not None and meta.mean and meta.std and len(meta.mean) == len(meta.std):
        norm = Normalization(*(tuple(float(v) for v in np.broadcast_to(x, 3)) for x in (meta.mean, meta.std)))
        notes = ["input normalisation read from the file's TFLite Model Metadata"]
    labels = (meta.output_labels.get(0) if meta is not None else None) or _embedded_labels(graph.path, int(ncls))
    quantized = any(_integer_weights(graph, ly.op.inputs[1]) for ly in layers)
    last = graph.producer(graph.outputs[0])
    while last is not None and last.name in ("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE"):
        last = graph.producer(last.inputs[0])
    kind = {"SOFTMAX": "probabilities", "ARG_MAX": "mask"}.get(last.name if last else "", "logits")
    return ImportedModel(model.eval(), task, float(width), int(h), int(ncls), norm, ArchOptions(padding, align),
                         quantized, np.dtype(graph.tensors[graph.inputs[0]].dtype).name,
                         labels if labels and len(labels) == ncls else None, notes, kind, normalised_input)


def _integer_weights(graph: TFLiteGraph, tensor: int) -> bool:
    op = graph.producer(tensor)
    t = graph.tensors[op.inputs[0] if op is not None and op.name == "DEQUANTIZE" else tensor]
    return np.dtype(t.dtype).kind in "iu"


def _classifier_head(graph: TFLiteGraph, rest: List[Layer]) -> Layer:
    pointwise = bool(rest) and (rest[0].kind == "fc" or (rest[0].kind == "conv" and rest[0].weight.shape[-1] == 1))
    if len(rest) != 1 or not pointwise or rest[0].act != "none":
        got = _describe(rest[0].shape_key) if rest else "nothing"
        raise EdgeError(f"{graph.path.name}: after the MobileNetV2 backbone comes {got} (and {max(len(rest) - 1, 0)} "
                        "more layers); a classifier expects one 1x1 conv or fully connected layer", _HINT)
    head = rest[0]
    head.weight = head.weight.reshape(head.weight.shape[0], -1)
    return head


def _segment_head(graph: TFLiteGraph, last: Layer, rest: List[Layer]) -> List[Layer]:
    """[image pooling, 1x1 branch, projection (our concat order), logits], checked against DeepLabv3."""
    c = last.weight.shape[0]
    rest = _join_split_projection(graph, rest, c)
    keys = sorted(ly.shape_key for ly in rest[:2])
    ok = len(rest) == 4 and keys == [("conv", c, HEAD_CHANNELS, 1, 1, 1, "relu")] * 2 and \
        rest[2].shape_key == ("conv", 2 * HEAD_CHANNELS, HEAD_CHANNELS, 1, 1, 1, "relu") and \
        rest[3].shape_key[:4] == ("conv", HEAD_CHANNELS, rest[3].weight.shape[0], 1) and rest[3].act == "none"
    if not ok:
        got = "; ".join(_describe(ly.shape_key) for ly in rest[:4]) or "nothing"
        raise EdgeError(f"{graph.path.name}: the head after the backbone is [{got}]; DeepLabv3-MobileNetV2 expects "
                        f"image pooling and 1x1 branches (1x1 conv {c}->{HEAD_CHANNELS}, relu), a 1x1 projection "
                        f"{2 * HEAD_CHANNELS}->{HEAD_CHANNELS} and the 1x1 logits conv", _HINT)
    pool, branch = sorted(rest[:2], key=lambda ly: ly.in_shape[1] * ly.in_shape[2])
    proj = rest[2]
    if proj.joined:
        return [pool, branch, proj, rest[3]]
    concat = _trace_back(graph, proj.op.inputs[0])
    if concat is None or concat.name != "CONCATENATION" or len(concat.inputs) != 2:
        raise EdgeError(f"{graph.path.name}: the projection's input is not a concatenation of the two branches", _HINT)
    first = _trace_back(graph, concat.inputs[0])
    if first is not None and first.index == branch.op.index:  # file order (branch, pool): swap to ours
        proj.weight = np.concatenate([proj.weight[:, HEAD_CHANNELS:], proj.weight[:, :HEAD_CHANNELS]], axis=1)
    elif first is None or first.index != pool.op.index:
        raise EdgeError(f"{graph.path.name}: the concatenation does not join the two head branches", _HINT)
    return [pool, branch, proj, rest[3]]


def _join_split_projection(graph: TFLiteGraph, rest: List[Layer], c: int) -> List[Layer]:
    """Our own TFLite graphs write the projection as conv(pooled) + conv(branch) (no concatenation):
    rejoin the two 1x1 convs and their ADD into one layer whose input is the concatenation (pooled first)."""
    branches = [ly for ly in rest[:4] if ly.shape_key == ("conv", c, HEAD_CHANNELS, 1, 1, 1, "relu")]
    halves = [ly for ly in rest[:4] if ly.shape_key == ("conv", HEAD_CHANNELS, HEAD_CHANNELS, 1, 1, 1, "none")]
    if len(rest) != 5 or len(branches) != 2 or len(halves) != 2:
        return rest
    add = next((op for op in graph.consumers(halves[0].output) if op.name == "ADD"), None)
    if add is None or halves[1].output not in add.inputs:
        return rest
    pool = min(branches, key=lambda ly: ly.in_shape[1] * ly.in_shape[2])
    on_pool = next((ly for ly in halves if _trace_back(graph, ly.op.inputs[0]) is pool.op), None)
    if on_pool is None:
        return rest
    on_branch = halves[0] if on_pool is halves[1] else halves[1]
    bias = on_pool.bias + on_branch.bias
    act, out = _activation(graph, add)
    users = graph.consumers(out)
    if act == "none" and len(users) == 1 and users[0].name == "ADD":  # a separate bias add
        const = [t for t in users[0].inputs if t != out]
        bias = bias + graph.constant(const[0]).reshape(-1)
        act, out = _activation(graph, users[0])
    joined = Layer(on_branch.op, "conv", np.concatenate([on_pool.weight, on_branch.weight], axis=1),
                   bias, 1, 1, act, on_branch.in_shape, on_branch.padding, output=out, joined=True)
    return [branches[0], branches[1], joined, rest[4]]


def _align_corners(graph: TFLiteGraph) -> bool:
    out = graph.tensors[graph.outputs[0]].shape
    for op in reversed(graph.ops):
        if op.name == "RESIZE_BILINEAR" and graph.tensors[op.outputs[0]].shape[1:3] == tuple(out[1:3]):
            return bool(op.options.get("alignCorners", False))
    return False


def _load(model: Any, task: Task, backbone: List[Layer], head: List[Layer]) -> None:
    """Copy the layers into the PyTorch model; BatchNorm becomes identity + the folded bias."""
    import torch
    from torch import nn

    trunk = model.features if task is Task.classify else model.backbone
    modules = list(trunk.modules())
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for conv, layer in zip(convs, backbone):
            conv.weight.copy_(torch.from_numpy(layer.weight))
            _set_bn(modules[modules.index(conv) + 1], layer.bias)
        if task is Task.classify:
            lin = model.classifier[1]
            lin.weight.copy_(torch.from_numpy(head[0].weight))
            lin.bias.copy_(torch.from_numpy(head[0].bias))
            return
        for seq, layer in zip((model.image_pool, model.branch, model.project), head[:3]):
            seq[0].weight.copy_(torch.from_numpy(layer.weight))
            _set_bn(seq[1], layer.bias)
        model.classifier.weight.copy_(torch.from_numpy(head[3].weight))
        model.classifier.bias.copy_(torch.from_numpy(head[3].bias))


def _set_bn(bn: Any, bias: np.ndarray) -> None:
    import torch

    bn.weight.fill_(1.0)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)  # so that bn(x) == x + bias exactly
    bn.bias.copy_(torch.from_numpy(bias))
