"""Model registry, builders and the paper-fidelity counts (parameters and multiply-adds, by code).

Counting conventions (docs/models.md explains them):
* parameters are counted as deployed: BatchNorm folded into the preceding convolution, i.e. conv and
  linear weights plus one bias per output channel where a bias or a BatchNorm exists;
* multiply-adds count convolutions and fully connected layers only (BatchNorm folds away, ReLU6,
  additions, pooling and resizing are not multiply-adds), as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
from torch import nn

from ..tasks.base import Task
from .deeplab import DeepLabV3
from .mobilenetv2 import MobileNetV2
from .spec import ArchOptions
from .ssdlite import SSDLite

__all__ = ["DEFAULTS", "build_model", "count_params", "count_madds", "Variant", "PAPER_VARIANTS", "model_outputs"]

# Task -> (width, resolution, classes) used when the user gives none.
DEFAULTS: Dict[Task, Tuple[float, int, int]] = {
    Task.classify: (1.0, 224, 1000),
    Task.detect: (1.0, 320, 91),
    Task.segment: (1.0, 512, 21),
}


def model_outputs(task: Task) -> List[str]:
    """ONNX output names per task (the same names every runtime's bundle records)."""
    return {Task.classify: ["logits"], Task.detect: ["boxes", "scores"], Task.segment: ["logits"]}[Task(task)]


def check_resolution(resolution: int, task: Task | str | None = None) -> None:
    """Detection needs a multiple of 32 (its anchor grid); classification and segmentation any size >= 32
    (DeepLab's published models take 513x513)."""
    from ..errors import EdgeError

    if resolution < 32 or (resolution % 32 and (task is None or Task(task) is Task.detect)):
        raise EdgeError(f"resolution {resolution} is not a multiple of 32 (>= 32)",
                        "use 96, 128, 160, 192, 224, 320 or 512")


def build_model(task: Task | str, width_mult: float | None = None, num_classes: int | None = None,
                resolution: int | None = None, arch: ArchOptions | None = None) -> nn.Module:
    """A fresh (randomly initialised) model for ``task``; ``resolution`` matters for detection anchors.

    ``arch`` (padding mode, segmentation upsampling) defaults to ``ArchOptions()``: torchvision's
    symmetric padding, half-pixel upsampling. The model keeps it as ``model.arch``.
    """
    task = Task(task)
    arch = arch or ArchOptions()
    w0, r0, c0 = DEFAULTS[task]
    width_mult = w0 if width_mult is None else width_mult
    num_classes = c0 if num_classes is None else num_classes
    resolution = r0 if resolution is None else resolution
    check_resolution(resolution, task)
    if task is Task.classify:
        model: nn.Module = MobileNetV2(num_classes, width_mult, padding=arch.padding)
    elif task is Task.detect:
        model = SSDLite(num_classes, width_mult, resolution, padding=arch.padding)
    else:
        model = DeepLabV3(num_classes, width_mult, padding=arch.padding, align_corners=arch.align_corners)
    model.resolution = resolution  # type: ignore[assignment]
    model.arch = arch  # type: ignore[assignment]
    return model.eval()


def count_params(model: nn.Module) -> int:
    """Parameters with BatchNorm folded into the preceding conv (weights + one bias per channel)."""
    total = 0
    modules = list(model.modules())
    for i, m in enumerate(modules):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            total += m.weight.numel()
            has_bn = i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d)
            if m.bias is not None or has_bn:
                total += m.out_channels if isinstance(m, nn.Conv2d) else m.out_features
    return total


def count_madds(model: nn.Module, resolution: int) -> int:
    """Multiply-adds of convolutions and linear layers for one ``resolution`` x ``resolution`` image."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += int(out.numel() // out.shape[0]) * k

    def linear_hook(m: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, resolution, resolution))
    finally:
        for h in handles:
            h.remove()
    return total


@dataclass(frozen=True)
class Variant:
    """A variant with its published reference figures (None where there is none).

    ``count_resolution`` is the input size the figures were published for (DeepLab's 513x513 crop).
    """

    name: str
    task: Task
    width: float
    resolution: int
    num_classes: int
    ref_params_m: float | None = None
    ref_madds_m: float | None = None
    source: str = ""
    count_resolution: int | None = None

    def build(self) -> nn.Module:
        return build_model(self.task, self.width, self.num_classes, self.resolution)

    def counts(self) -> Tuple[int, int]:
        model = self.build()
        return count_params(model), count_madds(model, self.count_resolution or self.resolution)


PAPER_VARIANTS: List[Variant] = [
    Variant("mobilenet_v2_1.0_224", Task.classify, 1.0, 224, 1000, 3.4, 300, "paper Table 4"),
    Variant("mobilenet_v2_1.4_224", Task.classify, 1.4, 224, 1000, 6.06, 585,
            "paper Table 4 (MAdds); params from the TF-slim release table, the paper prints 6.9M"),
    Variant("mobilenet_v2_0.75_224", Task.classify, 0.75, 224, 1000, 2.61, 209, "TF-slim release table"),
    Variant("mobilenet_v2_0.5_160", Task.classify, 0.5, 160, 1000, 1.95, 50, "TF-slim release table"),
    Variant("mobilenet_v2_0.35_96", Task.classify, 0.35, 96, 1000, 1.7, None, "paper Figure 5"),
    Variant("ssdlite_mobilenet_v2_320_c81", Task.detect, 1.0, 320, 81, 4.3, 800,
            "paper Table 6 (80 COCO categories + background)"),
    Variant("ssdlite_mobilenet_v2_320", Task.detect, 1.0, 320, 91, None, 800,
            "paper Table 6 MAdds; 91-class params: see docs/models.md"),
    Variant("deeplabv3_mobilenet_v2_os16_513", Task.segment, 1.0, 512, 21, 2.11, 2750,
            "paper Table 7 (DeepLab's 513x513 crop)", count_resolution=513),
    Variant("deeplabv3_mobilenet_v2_os16_512", Task.segment, 1.0, 512, 21, 2.11, None,
            "paper Table 7 params; MAdds at 512 see docs/models.md"),
]
