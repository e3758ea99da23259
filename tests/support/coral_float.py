"""A trained float MobileNetV2 1.0@224 (1001 classes) made at test time from Coral's int8 model.

Google Coral's ``mobilenet_v2_1.0_224_quant.tflite`` holds quantization-aware-trained ImageNet
weights (uint8, per-tensor, BatchNorm already folded into each conv's weights and bias). Dequantizing
them into ``edgemnv2.models.mobilenetv2.MobileNetV2`` gives a trained float model offline, so int8
quality can be judged on real weights (random weights make int8 numbers meaningless). The derived
weights live in memory only: never save them into the repository.

Differences from the original that keep agreement below 100%: TF used SAME (asymmetric: bottom/right)
padding for the stride-2 convolutions where edgemnv2 pads symmetrically like torchvision, and the
weights carry their 8-bit rounding. Input normalisation: mean = std = 127.5 in pixel units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Tuple

import numpy as np

from edgemnv2.tasks.preprocess import Normalization

__all__ = ["CORAL_MODEL", "CORAL_NORMALIZATION", "coral_float_classifier", "coral_weights"]

CORAL_MODEL = "mobilenet_v2_1.0_224_quant.tflite"
CORAL_NORMALIZATION = Normalization((127.5, 127.5, 127.5), (127.5, 127.5, 127.5))


def _dequant(detail: dict, q: np.ndarray) -> np.ndarray:
    p = detail["quantization_parameters"]
    scales, zeros, axis = np.asarray(p["scales"], np.float64), np.asarray(p["zero_points"], np.float64), \
        int(p["quantized_dimension"])
    if scales.size == 0:
        return q.astype(np.float64)
    shape = [1] * q.ndim
    if scales.size > 1:
        shape[axis] = -1
    return (q.astype(np.float64) - zeros.reshape(shape)) * scales.reshape(shape)


def coral_weights(coral_dir: str | Path) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """(op, float weight, float bias) of every conv in Coral's model, in execution order (TFLite layouts)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(str(Path(coral_dir) / CORAL_MODEL),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():  # noqa: SLF001
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        _, wi, bi = op["inputs"][:3]
        w = _dequant(details[wi], it.get_tensor(wi))
        b = _dequant(details[bi], it.get_tensor(bi))
        out.append((op["op_name"], w, b))
    return out


def coral_float_classifier(coral_dir: str | Path) -> Any:
    """``MobileNetV2(1001, 1.0)`` in eval mode with Coral's dequantized weights (BatchNorm as identity + bias).

    Built in the ``torch`` padding mode on purpose (a trained model whose int8 quality the tests judge):
    top-1 agreement with Coral's own int8 model is ~62% on 60 photo crops. The faithful import, in the
    ``tf`` padding mode, is ``edgemnv2.tflite_import.import_tflite`` (94% on 300 crops).
    """
    import torch
    from torch import nn

    from edgemnv2.models.mobilenetv2 import MobileNetV2

    model = MobileNetV2(num_classes=1001, width_mult=1.0).eval()
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    mods = list(model.features.modules())
    layers = coral_weights(coral_dir)
    if len(layers) != len(convs) + 1:
        raise ValueError(f"{CORAL_MODEL}: {len(layers)} convolutions, expected {len(convs) + 1}")
    with torch.no_grad():
        for conv, (op, w, b) in zip(convs, layers):
            if op == "DEPTHWISE_CONV_2D":
                t = np.transpose(w, (3, 0, 1, 2))  # (1, kh, kw, C) -> (C, 1, kh, kw)
            else:
                t = np.transpose(w, (0, 3, 1, 2))  # (O, kh, kw, I) -> (O, I, kh, kw)
            if tuple(t.shape) != tuple(conv.weight.shape):
                raise ValueError(f"shape mismatch {t.shape} vs {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(t.astype(np.float32)))
            bn = mods[mods.index(conv) + 1]
            assert isinstance(bn, nn.BatchNorm2d)
            bn.weight.fill_(1.0)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # so that BN(x) == x + bias exactly
            bn.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        op, w, b = layers[-1]
        lin = model.classifier[1]
        lin.weight.copy_(torch.from_numpy(w.reshape(w.shape[0], -1).astype(np.float32)))
        lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    return model
