"""The MobileNetV2 architecture as data (paper Table 2), shared by every framework's builder.

Pure Python: the PyTorch zoo and the Keras builder used for TFLite conversion both read it, so the
two stay one architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Dict, List, Tuple

__all__ = ["INVERTED_RESIDUAL_SETTING", "make_divisible", "BlockSpec", "backbone_blocks", "stem_channels",
           "last_channels", "WIDTHS", "RESOLUTIONS", "Padding", "ArchOptions", "same_pads"]

# t (expansion), c (output channels), n (repeats), s (first stride): MobileNetV2 paper, Table 2.
INVERTED_RESIDUAL_SETTING: List[Tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
RESOLUTIONS = (96, 128, 160, 192, 224)


class Padding(str, Enum):
    """How strided convolutions pad: the two lineages of MobileNetV2 weights differ here.

    ``torch``: (k - 1) // 2 * dilation on every side (torchvision and our shapes models).
    ``tf``: TensorFlow "SAME": the total padding follows from the input size, and when it is odd the
    extra row/column goes at the bottom/right (Google's TF-slim/Keras/TFLite weights). Stride-1
    layers pad the same way in both modes; odd-sized inputs of stride-2 layers too.
    """

    torch = "torch"
    tf = "tf"


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """TensorFlow SAME padding (before, after) of one spatial axis of ``size``."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class ArchOptions:
    """Architecture choices beyond task, width, resolution and classes; saved with weights and bundles.

    ``align_corners``: segmentation only, the final bilinear upsampling of the logits (TF DeepLab
    uses align_corners=True; our shapes segmenter was trained with half-pixel centres).
    """

    padding: Padding = Padding.torch
    align_corners: bool = False

    def to_dict(self) -> Dict[str, Any]:
        return {"padding": self.padding.value, "align_corners": self.align_corners}

    @classmethod
    def from_dict(cls, d: Dict[str, Any] | None) -> ArchOptions:
        d = d or {}
        return cls(Padding(d.get("padding", Padding.torch.value)), bool(d.get("align_corners", False)))


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without going more than 10% down (TF/torchvision rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class BlockSpec:
    """One inverted residual block: ``index`` is its position in ``features`` (1..17)."""

    index: int
    in_ch: int
    out_ch: int
    expand: int  # t
    stride: int
    dilation: int = 1

    @property
    def hidden(self) -> int:
        return int(round(self.in_ch * self.expand))

    @property
    def residual(self) -> bool:
        # Shortcut only for stride 1 with equal in/out channels (paper section 3.3).
        return self.stride == 1 and self.in_ch == self.out_ch


def stem_channels(width: float) -> int:
    return make_divisible(32 * width)


def last_channels(width: float) -> int:
    # The final 1x1 conv keeps 1280 channels for width < 1 (paper section 5.1).
    return make_divisible(1280 * max(1.0, width))


def backbone_blocks(width: float = 1.0, output_stride: int = 32) -> List[BlockSpec]:
    """The 17 inverted residual blocks for ``width``; ``output_stride`` 16 or 8 dilates the tail.

    Once the running stride reaches ``output_stride`` later strided blocks keep stride 1 and the
    dilation doubles instead (DeepLabv3 atrous convolution); the block that would have been strided
    keeps the previous dilation, as in the TF DeepLab implementation.
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, not {output_stride}")
    blocks: List[BlockSpec] = []
    in_ch = stem_channels(width)
    stride_so_far = 2  # the stem
    dilation = 1
    idx = 1
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        out_ch = make_divisible(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            block_dilation = dilation
            if stride > 1 and stride_so_far >= output_stride:
                stride = 1
                dilation *= s  # later blocks see the dilated rate
            else:
                stride_so_far *= stride
            blocks.append(BlockSpec(idx, in_ch, out_ch, t, stride, block_dilation))
            in_ch = out_ch
            idx += 1
    return blocks
