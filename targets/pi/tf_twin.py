"""TensorFlow twin of a PyTorch edgemnv2 model, for the TFLite converter (host side).

Why this path (docs/pi.md has the long version): TensorFlow's own converter with a representative
dataset gave the best int8 quality, and building the TF graph here from the same modules (whose
structure comes from ``edgemnv2.models.spec``) needs only tensorflow-cpu 2.21 + numpy 2 from the
registry: no onnx2tf (pinned old versions, offline workarounds) and no litert-torch (broken int8 for
ReLU6 networks).

The graph is written with plain ``tf.nn`` ops rather than Keras layers: BatchNorm is folded into the
convolution weights here (float64 arithmetic), every shape is static (batch 1, constant reshape
targets: dynamic-shape ops stop XNNPACK delegation), and padding copies PyTorch exactly: in the
``torch`` padding mode stride-2 3x3 convolutions get an explicit symmetric ``tf.pad`` + VALID (TF's
SAME would pad bottom/right only); in the ``tf`` mode (``edgemnv2.models.spec.Padding``) they are
plain SAME convolutions, no PAD ops; stride-1 ones are SAME in both (symmetric for odd kernels).

The graph's input is ``v = (pixel - offset) / scale`` (:class:`InputAffine`): raw pixels (offset 0,
scale 1) for float models; for int8 models an integer offset (the model's mean when it is one integer
for all channels, else 128) and the model's std when it is one for all channels, so ``v`` quantizes
to ``int8 = pixel - offset + zero_point`` with no QUANTIZE op and no float maths on the device. The
rest of the normalisation is folded exactly: its per-channel scale into the first convolution's
weights (scaling commutes with zero padding); a per-channel offset left over is one ADD in front of
it (folding it into the bias would be wrong at the zero-padded borders). Google's models (mean =
std = 128) need no op at all. Outputs keep the task contract: classify logits (1, C); detect boxes (1, A, 4) normalised
xyxy and softmax scores (1, A, C); segment logits (1, H, W, C) at input resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from ...build_options import Precision

__all__ = ["InputAffine", "input_stage", "tf_forward", "concrete_function", "new_converter", "convert_float",
           "OUTPUT_ORDER", "detect_heads"]

# The order in which each task's graph returns its outputs (matches model_outputs()).
OUTPUT_ORDER = {"classify": ["logits"], "detect": ["boxes", "scores"], "segment": ["logits"]}


@dataclass(frozen=True)
class InputAffine:
    """The graph input ``v = (pixel - offset) / scale`` (the same for the three channels)."""

    offset: float = 0.0
    scale: float = 1.0

    @classmethod
    def for_int8(cls, mean: Sequence[float], std: Sequence[float]) -> InputAffine:
        """Integer offset (so int8 input = shifted pixels) and the std when uniform (no scale left to fold)."""
        m = float(mean[0])
        offset = m if len(set(mean)) == 1 and m.is_integer() and 0 <= m <= 255 else 128.0
        return cls(offset, float(std[0]) if len(set(std)) == 1 else 1.0)

    def remainder(self, mean: Sequence[float], std: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
        """(shift, channel scale): normalised = (v + shift) * channel scale, per channel (float64)."""
        m, sd = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        return (self.offset - m) / self.scale, self.scale / sd


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def fold(conv: Any, bn: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """Conv2d (+ BatchNorm2d in eval mode) -> (weight OIHW, bias O) with the BatchNorm folded in."""
    w = _np(conv.weight)
    b = _np(conv.bias) if conv.bias is not None else np.zeros(w.shape[0])
    if bn is not None:
        scale = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
        w = w * scale[:, None, None, None]
        b = (b - _np(bn.running_mean)) * scale + _np(bn.bias)
    return w, b


class _Builder:
    """Turns torch modules into TF ops on a tensor; constants are float32 numpy arrays."""

    def __init__(self, in_scale: Optional[np.ndarray] = None) -> None:
        import tensorflow as tf

        self.tf = tf
        self.in_scale = in_scale  # per input channel, folded into the first convolution built

    def _fold_input_scale(self, w: np.ndarray, depthwise: bool) -> np.ndarray:
        s, self.in_scale = self.in_scale, None
        if s is None or np.all(s == 1.0):
            return w
        return w * (s[:, None, None, None] if depthwise else s[None, :, None, None])

    def conv(self, x: Any, conv: Any, bn: Any = None, act: Optional[str] = None,
             folded: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> Any:
        from ...models.mobilenetv2 import SameConv2d

        tf = self.tf
        w, b = folded if folded is not None else fold(conv, bn)
        k = conv.kernel_size[0]
        stride = conv.stride[0]
        dil = conv.dilation[0]
        depthwise = conv.groups > 1
        if depthwise and conv.groups != conv.in_channels:
            raise NotImplementedError("grouped (non-depthwise) convolutions are not used by MobileNetV2")
        w = self._fold_input_scale(w, depthwise)
        tf_same = isinstance(conv, SameConv2d)
        if not tf_same and conv.padding[0] != (k - 1) // 2 * dil:
            raise NotImplementedError(f"unexpected padding {conv.padding} for kernel {k}, dilation {dil}")
        if tf_same:
            padding = "SAME"  # TF's own rule: what SameConv2d reproduces in PyTorch
        elif k > 1 and stride > 1:
            p = conv.padding[0]
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
            padding = "VALID"
        else:
            padding = "SAME" if k > 1 else "VALID"
        if depthwise:
            filt = np.transpose(w, (2, 3, 0, 1)).astype(np.float32)  # (C,1,kh,kw) -> (kh,kw,C,1)
            if dil > 1:
                # The native op keeps the dilation as an attribute (TFLite DEPTHWISE_CONV_2D dilation
                # factor); tf.nn.depthwise_conv2d would wrap it in SPACE_TO_BATCH / BATCH_TO_SPACE.
                y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=filt, strides=[1, stride, stride, 1],
                                                     padding=padding, dilations=[1, dil, dil, 1])
            else:
                y = tf.nn.depthwise_conv2d(x, filt, [1, stride, stride, 1], padding)
        else:
            filt = np.transpose(w, (2, 3, 1, 0)).astype(np.float32)  # OIHW -> HWIO
            y = tf.nn.conv2d(x, filt, stride, padding, dilations=dil)
        y = tf.nn.bias_add(y, b.astype(np.float32))
        return self.act(y, act)

    def act(self, y: Any, act: Optional[str]) -> Any:
        if act == "relu6":
            return self.tf.nn.relu6(y)
        if act == "relu":
            return self.tf.nn.relu(y)
        return y

    def sequential(self, x: Any, layers: Sequence[Any]) -> Any:
        """Runs torch layers in order: ConvBNReLU, InvertedResidual, [Conv2d, BatchNorm2d?] pairs."""
        from torch import nn

        from ...models.mobilenetv2 import ConvBNReLU, InvertedResidual

        layers = list(layers)
        i = 0
        while i < len(layers):
            m = layers[i]
            if isinstance(m, InvertedResidual):
                y = self.sequential(x, m.conv)
                x = x + y if m.use_res_connect else y
            elif isinstance(m, ConvBNReLU):
                x = self.conv(x, m[0], m[1], "relu6" if isinstance(m[2], nn.ReLU6) else "relu")
            elif isinstance(m, nn.Sequential):
                x = self.sequential(x, m)
            elif isinstance(m, nn.Conv2d):
                bn = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d) else None
                act = None
                j = i + (2 if bn is not None else 1)
                if j < len(layers) and isinstance(layers[j], (nn.ReLU, nn.ReLU6)):
                    act = "relu6" if isinstance(layers[j], nn.ReLU6) else "relu"
                    j += 1
                x = self.conv(x, m, bn, act)
                i = j
                continue
            else:
                raise NotImplementedError(f"no TF twin for {type(m).__name__}")
            i += 1
        return x


def _classify(b: _Builder, model: Any, x: Any) -> List[Any]:
    tf = b.tf
    x = b.sequential(x, model.features)
    x = tf.reduce_mean(x, axis=[1, 2])  # (1, C): global average pool
    lin = model.classifier[1]
    w = _np(lin.weight).T.astype(np.float32)
    bias = _np(lin.bias).astype(np.float32)
    return [tf.matmul(x, w) + bias]


def detect_heads(b: _Builder, model: Any, x: Any) -> Tuple[Any, Any]:
    """SSDLite's raw heads: box regressions (1, A, 4) as (x, y, w, h) and class logits (1, A, C)."""
    tf = b.tf
    feats = []
    bb = model.backbone
    x = b.sequential(x, list(bb)[:14])
    block = bb[14]
    x = b.sequential(x, [block.conv[0]])
    feats.append(x)
    x = b.sequential(x, list(block.conv)[1:])  # block 14 is strided: no shortcut
    x = b.sequential(x, list(bb)[15:])
    feats.append(x)
    for extra in model.extras:
        x = b.sequential(x, extra)
        feats.append(x)
    regs, logits = [], []
    c = model.num_classes
    for f, reg, cls, a in zip(feats, model.reg_head, model.cls_head, model.num_anchors):
        h, w = int(f.shape[1]), int(f.shape[2])
        # NHWC channels are (anchor, value): a static reshape gives torch's (h, w, anchor) order.
        regs.append(tf.reshape(b.sequential(f, reg), [1, h * w * a, 4]))
        logits.append(tf.reshape(b.sequential(f, cls), [1, h * w * a, c]))
    return tf.concat(regs, axis=1), tf.concat(logits, axis=1)


def _detect(b: _Builder, model: Any, x: Any) -> List[Any]:
    from ...models.ssdlite import _MAX_LOG_SCALE
    from ...tasks.detect import BOX_SCALES

    tf = b.tf
    r, lg = detect_heads(b, model, x)
    anchors = model.anchors.detach().cpu().numpy().astype(np.float64)  # (A, 4) cx, cy, w, h
    sx, sy, sw, sh = BOX_SCALES
    wh_a = anchors[:, 2:4]
    xy = r[..., 0:2] * (wh_a / np.array([sx, sy])).astype(np.float32)[None] + anchors[None, :, 0:2].astype(np.float32)
    log_wh = tf.minimum(r[..., 2:4] * np.array([1.0 / sw, 1.0 / sh], np.float32), np.float32(_MAX_LOG_SCALE))
    wh = tf.exp(log_wh) * wh_a.astype(np.float32)[None]
    half = wh * 0.5
    boxes = tf.clip_by_value(tf.concat([xy - half, xy + half], axis=-1), 0.0, 1.0)
    return [boxes, tf.nn.softmax(lg, axis=-1)]


def _segment(b: _Builder, model: Any, x: Any, resolution: int) -> List[Any]:
    tf = b.tf
    f = b.sequential(x, model.backbone)
    pooled = tf.reduce_mean(f, axis=[1, 2], keepdims=True)  # (1, 1, 1, C)
    pooled = b.sequential(pooled, model.image_pool)
    branch = b.sequential(f, model.branch)
    # project(concat([broadcast(pooled), branch])) == conv(branch, W_b) + conv(pooled, W_p): no TILE /
    # BROADCAST_TO / CONCATENATION, just a broadcasting ADD (XNNPACK and int8 friendly).
    proj_conv, proj_bn = model.project[0], model.project[1]
    w, bias = fold(proj_conv, proj_bn)
    n = pooled.shape[-1]
    wp = np.transpose(w[:, :n], (2, 3, 1, 0)).astype(np.float32)
    wb = np.transpose(w[:, n:], (2, 3, 1, 0)).astype(np.float32)
    y = tf.nn.conv2d(branch, wb, 1, "VALID") + tf.nn.conv2d(pooled, wp, 1, "VALID")
    y = tf.nn.relu(tf.nn.bias_add(y, bias.astype(np.float32)))
    logits = b.conv(y, model.classifier)
    if getattr(model, "align_corners", False):  # TF DeepLab's upsampling
        return [tf.compat.v1.image.resize_bilinear(logits, [resolution, resolution], align_corners=True)]
    # Bilinear, half-pixel centres == torch F.interpolate(align_corners=False).
    return [tf.image.resize(logits, [resolution, resolution], method="bilinear")]


def input_stage(images: Any, mean: Sequence[float], std: Sequence[float], affine: InputAffine = InputAffine()
                ) -> Tuple[_Builder, Any]:
    """A fresh builder (call once per trace) whose first convolution takes the normalisation's scale, and
    the graph's input with the per-channel offset left over added (no op when there is none)."""
    shift, in_scale = affine.remainder(mean, std)
    x = images + shift.astype(np.float32) if np.any(shift != 0.0) else images
    return _Builder(in_scale), x


def tf_forward(model: Any, task: str, resolution: int, mean: Sequence[float], std: Sequence[float],
               affine: InputAffine = InputAffine()) -> Callable[[Any], List[Any]]:
    """A function images(1, R, R, 3) float ``v`` (see :class:`InputAffine`) -> the task's outputs, with the
    torch weights and the normalisation baked in."""
    def forward(images: Any) -> List[Any]:
        b, x = input_stage(images, mean, std, affine)
        if task == "classify":
            return _classify(b, model, x)
        if task == "detect":
            return _detect(b, model, x)
        return _segment(b, model, x, resolution)

    return forward


def concrete_function(model: Any, task: str, resolution: int, mean: Sequence[float] = (0.0, 0.0, 0.0),
                      std: Sequence[float] = (1.0, 1.0, 1.0), affine: InputAffine = InputAffine(),
                      argmax: bool = False) -> Any:
    """The traced ``tf.function`` (static input (1, R, R, 3) float32 named ``images``) for the converter.

    ``argmax`` (segment): the graph ends in ``ARG_MAX`` over the classes, an int32 (1, R, R) class map,
    as Google's published DeepLab .tflite files do."""
    import tensorflow as tf

    fwd = tf_forward(model, task, resolution, mean, std, affine)
    if argmax and task != "segment":
        raise ValueError("an in-model argmax is for segmentation graphs")

    def outputs(images: Any) -> Tuple[Any, ...]:
        outs = fwd(images)
        return (tf.argmax(outs[0], axis=-1, output_type=tf.int32),) if argmax else tuple(outs)

    fn = tf.function(outputs, autograph=False,
                     input_signature=[tf.TensorSpec([1, resolution, resolution, 3], tf.float32, name="images")])
    return fn.get_concrete_function()


def new_converter(concrete_fn: Any) -> Any:
    """``TFLiteConverter.from_concrete_functions`` for a traced graph.

    No trackable object is passed on purpose: that path (TF calls it deprecated, and says so once;
    silenced here) keeps the graph's input name ``images`` and its output order (``Identity``,
    ``Identity_1``); the saved-model path renames both and reorders the outputs.
    """
    import logging

    import tensorflow as tf

    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn])
    finally:
        absl_logger.setLevel(level)


def convert_float(concrete_fn: Any, precision: Precision = Precision.fp32) -> bytes:
    """fp32 (or fp16-weight) .tflite bytes with float32 input and outputs."""
    import tensorflow as tf

    from ...interrupts import signals_deferred

    conv = new_converter(concrete_fn)
    if precision is Precision.fp16:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    with signals_deferred():  # native converter: take Ctrl-C after it returns
        return conv.convert()
