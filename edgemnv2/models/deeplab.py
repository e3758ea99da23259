"""DeepLabv3 on MobileNetV2 without ASPP, output stride 16 (paper section 6.3, "OS=16, no ASPP").

Backbone: ``features[0..17]`` (the last 1x1 conv to 1280 is dropped, as in TF DeepLab) with the
stride-32 stage made atrous (dilation 2). Head: image-pooling branch + 1x1 conv branch (256 each),
concatenated, projected by a 1x1 conv to 256, then a 1x1 conv to the class logits: the published
DeepLabv3-MobileNetV2 (TF DeepLab ``image_pooling``, ``aspp0``, ``concat_projection``,
``logits/semantic``), whose weights import unchanged (``edgemnv2.tflite_import``). The exported
graph upsamples the logits bilinearly to the input resolution (half-pixel centres, or
``align_corners`` as TF DeepLab does: ``ArchOptions``), so every runtime returns
``logits[N, C, H, W]`` (NHWC on TFLite) and the numpy side only takes the argmax and resizes the
class map to the frame.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .mobilenetv2 import build_features, init_weights
from .spec import Padding

__all__ = ["DeepLabV3"]

HEAD_CHANNELS = 256


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class DeepLabV3(nn.Module):
    """``forward(images) -> logits[N, C, H, W]`` at the input resolution."""

    task = "segment"

    def __init__(self, num_classes: int = 21, width_mult: float = 1.0, output_stride: int = 16,
                 padding: Padding = Padding.torch, align_corners: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.width_mult = width_mult
        self.output_stride = output_stride
        self.padding = Padding(padding)
        self.align_corners = bool(align_corners)
        self.backbone = build_features(width_mult, output_stride=output_stride, include_last=False,
                                       padding=self.padding)
        c = self.backbone[-1].out_channels
        self.image_pool = _conv_bn_relu(c, HEAD_CHANNELS)
        self.branch = _conv_bn_relu(c, HEAD_CHANNELS)
        self.project = _conv_bn_relu(2 * HEAD_CHANNELS, HEAD_CHANNELS)
        self.classifier = nn.Conv2d(HEAD_CHANNELS, num_classes, 1)
        init_weights(self)

    def forward_low(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at 1/output_stride of the input."""
        f = self.backbone(x)
        h, w = f.shape[-2:]
        pooled = self.image_pool(torch.mean(f, dim=(2, 3), keepdim=True))
        pooled = pooled.expand(-1, -1, h, w)
        y = self.project(torch.cat([pooled, self.branch(f)], dim=1))
        return self.classifier(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.forward_low(x)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=self.align_corners)
