"""SSDLite detector on MobileNetV2 (paper section 6.2, TF Object Detection API layout).

* Feature maps: the expansion output of the first stride-16 block (``features[14]``'s 1x1 expand,
  TF's ``layer_15/expansion_output``), the last layer (``features[18]``, stride 32), then four extra
  SSDLite layers (1x1 reduce, 3x3 depthwise stride 2, 1x1) of depth 512, 256, 256, 128 down to 1x1.
* Prediction layers are depthwise separable: 3x3 depthwise + BN + ReLU6, then a 1x1 conv.
* Anchors are the TF ``ssd_anchor_generator`` defaults (``edgemnv2.tasks.detect.ssd_anchors``).

The exported graph decodes boxes (normalised xyxy) and softmax scores (class 0 = background);
non-maximum suppression is done in numpy by ``edgemnv2.tasks.detect`` for every runtime.
"""

from __future__ import annotations

import math
from typing import List, Tuple

import numpy as np
import torch
from torch import nn

from ..tasks.detect import BOX_SCALES, anchors_per_location, feature_map_sizes, ssd_anchors
from .mobilenetv2 import ConvBNReLU, build_features, init_weights
from .spec import Padding, make_divisible

__all__ = ["SSDLite", "EXTRA_DEPTHS"]

EXTRA_DEPTHS = (512, 256, 256, 128)
_MAX_LOG_SCALE = math.log(1000.0 / 16)


def _extra_block(in_ch: int, out_ch: int, padding: Padding) -> nn.Sequential:
    mid = out_ch // 2
    return nn.Sequential(
        ConvBNReLU(in_ch, mid, kernel=1),
        ConvBNReLU(mid, mid, stride=2, groups=mid, padding=padding),  # dw, stride 2
        ConvBNReLU(mid, out_ch, kernel=1),
    )


def _predictor(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        ConvBNReLU(in_ch, in_ch, groups=in_ch),  # dw
        nn.Conv2d(in_ch, out_ch, 1),  # pw
    )


class SSDLite(nn.Module):
    """SSDLite-MobileNetV2: ``forward(images) -> (boxes[N,A,4] xyxy in 0..1, scores[N,A,C])``."""

    task = "detect"

    def __init__(self, num_classes: int = 91, width_mult: float = 1.0, resolution: int = 320,
                 padding: Padding = Padding.torch) -> None:
        super().__init__()
        self.num_classes = num_classes  # background included, at index 0
        self.width_mult = width_mult
        self.resolution = resolution
        self.padding = Padding(padding)
        self.backbone = build_features(width_mult, padding=self.padding)
        c1 = self.backbone[14].conv[0].out_channels  # layer_15 expansion output, stride 16
        c2 = self.backbone[18].out_channels
        depths = [make_divisible(d * width_mult, 8, min_value=16) for d in EXTRA_DEPTHS]
        self.extras = nn.ModuleList()
        in_ch = c2
        for d in depths:
            self.extras.append(_extra_block(in_ch, d, self.padding))
            in_ch = d
        channels = [c1, c2, *depths]
        self.num_anchors = anchors_per_location()
        self.cls_head = nn.ModuleList(_predictor(c, a * num_classes) for c, a in zip(channels, self.num_anchors))
        self.reg_head = nn.ModuleList(_predictor(c, a * 4) for c, a in zip(channels, self.num_anchors))
        init_weights(self)
        anchors = ssd_anchors(feature_map_sizes(resolution))  # (A, 4) cx, cy, w, h
        self.register_buffer("anchors", torch.from_numpy(anchors.astype(np.float32)), persistent=False)

    def feature_maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = []
        for i in range(14):
            x = self.backbone[i](x)
        block = self.backbone[14]
        x = block.conv[0](x)
        feats.append(x)
        for layer in list(block.conv)[1:]:
            x = layer(x)
        for i in range(15, len(self.backbone)):
            x = self.backbone[i](x)
        feats.append(x)
        for extra in self.extras:
            x = extra(x)
            feats.append(x)
        return feats

    def head(self, feats: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw outputs: box regressions (N, A, 4) and class logits (N, A, C)."""
        n = feats[0].shape[0]
        regs, logits = [], []
        for f, reg, cls, a in zip(feats, self.reg_head, self.cls_head, self.num_anchors):
            h, w = f.shape[-2:]
            r = reg(f).reshape(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, h * w * a, 4)
            c = cls(f).reshape(n, a, self.num_classes, h, w).permute(0, 3, 4, 1, 2)
            regs.append(r)
            logits.append(c.reshape(n, h * w * a, self.num_classes))
        return torch.cat(regs, 1), torch.cat(logits, 1)

    def decode(self, regs: torch.Tensor) -> torch.Tensor:
        """Box regressions -> normalised xyxy, clipped to the image (TF faster-rcnn box coder)."""
        a = self.anchors
        sx, sy, sw, sh = BOX_SCALES
        cx = regs[..., 0] / sx * a[:, 2] + a[:, 0]
        cy = regs[..., 1] / sy * a[:, 3] + a[:, 1]
        w = torch.exp(torch.clamp(regs[..., 2] / sw, max=_MAX_LOG_SCALE)) * a[:, 2]
        h = torch.exp(torch.clamp(regs[..., 3] / sh, max=_MAX_LOG_SCALE)) * a[:, 3]
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
        return torch.clamp(boxes, 0.0, 1.0)

    def forward_raw(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.feature_maps(x))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        regs, logits = self.forward_raw(x)
        return self.decode(regs), torch.softmax(logits, dim=-1)
