"""MobileNetV2 backbone and classifier (Sandler et al., CVPR 2018), torchvision state-dict layout.

Module names follow ``torchvision.models.mobilenet_v2`` exactly (``features.N...``,
``classifier.1...``) so its checkpoints load unchanged.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from .spec import BlockSpec, backbone_blocks, last_channels, stem_channels

__all__ = ["ConvBNReLU", "InvertedResidual", "MobileNetV2", "build_features"]


class ConvBNReLU(nn.Sequential):
    """Conv -> BatchNorm -> ReLU6 (torchvision's Conv2dNormActivation: keys 0, 1, 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1) -> None:
        padding = (kernel - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = out_ch


class InvertedResidual(nn.Module):
    """Expand 1x1 (ReLU6) -> depthwise 3x3 (ReLU6) -> project 1x1 linear; shortcut when shapes match."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        self.use_res_connect = spec.residual
        hidden = spec.hidden
        layers: List[nn.Module] = []
        if spec.expand != 1:
            layers.append(ConvBNReLU(spec.in_ch, hidden, kernel=1))  # pw
        layers.extend([
            ConvBNReLU(hidden, hidden, stride=spec.stride, groups=hidden, dilation=spec.dilation),  # dw
            nn.Conv2d(hidden, spec.out_ch, 1, 1, 0, bias=False),  # pw-linear
            nn.BatchNorm2d(spec.out_ch),
        ])
        self.conv = nn.Sequential(*layers)
        self.out_channels = spec.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


def build_features(width: float = 1.0, output_stride: int = 32, include_last: bool = True) -> nn.Sequential:
    """``features``: stem conv, 17 inverted residual blocks, and (optionally) the last 1x1 conv."""
    layers: List[nn.Module] = [ConvBNReLU(3, stem_channels(width), stride=2)]
    blocks = backbone_blocks(width, output_stride)
    layers.extend(InvertedResidual(b) for b in blocks)
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

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        self.width_mult = width_mult
        self.num_classes = num_classes
        self.features = build_features(width_mult)
        self.last_channel = last_channels(width_mult)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        return self.classifier(x)
