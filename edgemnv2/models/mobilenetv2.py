"""MobileNetV2 backbone and classifier (Sandler et al., CVPR 2018), torchvision state-dict layout.

Module names follow ``torchvision.models.mobilenet_v2`` exactly (``features.N...``,
``classifier.1...``) so its checkpoints load unchanged.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn
from torch.nn import functional as F

from .spec import BlockSpec, Padding, backbone_blocks, last_channels, same_pads, stem_channels

__all__ = ["ConvBNReLU", "InvertedResidual", "MobileNetV2", "build_features", "SameConv2d", "conv2d"]


class SameConv2d(nn.Conv2d):
    """A strided convolution with TensorFlow SAME padding (extra row/column at the bottom/right).

    The padding follows from the input size, so it is computed in ``forward``; with static shapes
    the ONNX export folds it into the Conv's asymmetric ``pads`` (or a constant Pad).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        top, bottom = same_pads(h, self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_pads(w, self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def conv2d(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, dilation: int = 1,
           bias: bool = False, padding: Padding = Padding.torch) -> nn.Conv2d:
    """A convolution padded as ``padding`` says (only strided ones differ between the modes)."""
    if Padding(padding) is Padding.tf and stride > 1 and kernel > 1:
        return SameConv2d(in_ch, out_ch, kernel, stride, 0, dilation=dilation, groups=groups, bias=bias)
    return nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2 * dilation, dilation=dilation, groups=groups,
                     bias=bias)


class ConvBNReLU(nn.Sequential):
    """Conv -> BatchNorm -> ReLU6 (torchvision's Conv2dNormActivation: keys 0, 1, 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1, padding: Padding = Padding.torch) -> None:
        super().__init__(
            conv2d(in_ch, out_ch, kernel, stride, groups, dilation, padding=padding),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = out_ch


class InvertedResidual(nn.Module):
    """Expand 1x1 (ReLU6) -> depthwise 3x3 (ReLU6) -> project 1x1 linear; shortcut when shapes match."""

    def __init__(self, spec: BlockSpec, padding: Padding = Padding.torch) -> None:
        super().__init__()
        self.spec = spec
        self.use_res_connect = spec.residual
        hidden = spec.hidden
        layers: List[nn.Module] = []
        if spec.expand != 1:
            layers.append(ConvBNReLU(spec.in_ch, hidden, kernel=1))  # pw
        layers.extend([
            ConvBNReLU(hidden, hidden, stride=spec.stride, groups=hidden, dilation=spec.dilation,
                       padding=padding),  # dw
            nn.Conv2d(hidden, spec.out_ch, 1, 1, 0, bias=False),  # pw-linear
            nn.BatchNorm2d(spec.out_ch),
        ])
        self.conv = nn.Sequential(*layers)
        self.out_channels = spec.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


def build_features(width: float = 1.0, output_stride: int = 32, include_last: bool = True,
                   padding: Padding = Padding.torch) -> nn.Sequential:
    """``features``: stem conv, 17 inverted residual blocks, and (optionally) the last 1x1 conv."""
    layers: List[nn.Module] = [ConvBNReLU(3, stem_channels(width), stride=2, padding=padding)]
    blocks = backbone_blocks(width, output_stride)
    layers.extend(InvertedResidual(b, padding) for b in blocks)
    if include_last:
        layers.append(ConvBNReLU(blocks[-1].out_ch, last_channels(width), kernel=1))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """torchvision's initialisation (kaiming fan-out convs, unit BN, small normal linear)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class MobileNetV2(nn.Module):
    """Image classifier: ``features`` -> global average pool -> dropout -> linear ``logits``."""

    task = "classify"

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2,
                 padding: Padding = Padding.torch) -> None:
        super().__init__()
        self.width_mult = width_mult
        self.num_classes = num_classes
        self.padding = Padding(padding)
        self.features = build_features(width_mult, padding=self.padding)
        self.last_channel = last_channels(width_mult)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        return self.classifier(x)
