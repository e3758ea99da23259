"""What ``edgemnv2 build`` can be asked for: the precisions, the table of targets, the typed options.

* ``Precision`` and ``Target``: the enums every builder and the CLI share;
* ``TARGETS``: for each target the precisions it builds, its default precision and its builder
  (``"module:function"``, imported on first use, so this module stays light);
* ``BuildOptions``: one build's options; ``__post_init__`` is the one place where task, target and
  precision are checked (a precision the target does not build is an error here, nowhere else);
* ``build_bundle``: runs the target's builder after saying which options that build ignores.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .errors import EdgeError
from .tasks.base import Task

__all__ = ["Precision", "Target", "TargetSpec", "TARGETS", "BuildOptions", "build_bundle"]


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


class Target(str, Enum):
    cpu = "cpu"
    pi = "pi"
    jetson = "jetson"


@dataclass(frozen=True)
class TargetSpec:
    """One row of the target table."""

    target: Target
    what: str  # one line for --help
    precisions: Tuple[Precision, ...]
    default: Precision
    builder_ref: str  # "module:function" under edgemnv2, imported by ``builder()``
    from_onnx: bool  # takes an .onnx file as-is

    def builder(self) -> Callable[..., Dict[str, Any]]:
        module, name = self.builder_ref.split(":")
        return getattr(importlib.import_module(module, __package__), name)

    def help(self) -> str:
        return f"{self.target.value} ({self.what}): {', '.join(p.value for p in self.precisions)}, " \
               f"default {self.default.value}"


TARGETS: Dict[Target, TargetSpec] = {s.target: s for s in (
    TargetSpec(Target.cpu, "ONNX Runtime reference", (Precision.fp32,), Precision.fp32,
               ".targets.cpu.build:build_cpu_bundle", True),
    TargetSpec(Target.pi, "Raspberry Pi, TFLite", (Precision.fp32, Precision.fp16, Precision.int8), Precision.fp32,
               ".targets.pi.build:build_pi_bundle", False),
    TargetSpec(Target.jetson, "TensorRT", (Precision.fp32, Precision.fp16, Precision.int8), Precision.fp16,
               ".targets.jetson.export:build_jetson_bundle", True),
)}


def _enum(kind: type, value: Any, flag: str) -> Any:
    try:
        return kind(getattr(value, "value", value))
    except ValueError:
        names = ", ".join(m.value for m in kind)  # type: ignore[attr-defined]
        raise EdgeError(f"unknown {flag} {value!r}", f"use one of {names}") from None


@dataclass
class BuildOptions:
    """Everything ``edgemnv2 build`` was asked for (shared by every target's builder).

    ``precision=None`` means the target's default. Strings are accepted for task, target and
    precision (API convenience) and turned into their enums here.
    """

    task: Task
    out: Path
    target: Target = Target.cpu
    weights: Optional[Path] = None
    onnx: Optional[Path] = None  # an ONNX model taken as-is (targets with ``from_onnx``)
    width_mult: Optional[float] = None
    resolution: Optional[int] = None
    num_classes: Optional[int] = None
    labels: Optional[Path] = None
    precision: Optional[Precision] = None
    # int8 calibration
    calib: Optional[Path] = None  # folder of calibration images
    calib_count: int = 200  # images read from it
    seed: int = 0  # calibration sampling and the gate's bootstrap
    # int8 quality evaluation and gate (calibration/gate.py)
    eval_data: Optional[Path] = None  # a labelled dataset; then every --calib image calibrates
    eval_count: int = 200
    max_drop: float = 1.0  # points of top-1 / mAP / mIoU (with labels)
    min_agreement: float = 90.0  # points of agreement with fp32 (without labels)
    # Jetson
    dla_core: Optional[int] = None
    workspace_mb: int = 1024
    threads: Optional[int] = None  # for checks run during the build
    # Pi detect: TFLite_Detection_PostProcess inside the .tflite (targets/pi/ssd_postprocess.py)
    in_model_nms: bool = False
    # Pi segment: ARG_MAX inside the .tflite (targets/pi/argmax.py)
    in_model_argmax: bool = False
    check_images: Optional[Path] = None  # --weights FILE.tflite: photos for the import's agreement check

    def __post_init__(self) -> None:
        self.task = _enum(Task, self.task, "--task")
        self.target = _enum(Target, self.target, "--target")
        spec = TARGETS[self.target]
        self.precision = spec.default if self.precision is None else _enum(Precision, self.precision, "--precision")
        if self.precision not in spec.precisions:
            others = [t.value for t, s in TARGETS.items() if self.precision in s.precisions]
            raise EdgeError(f"--target {self.target.value} builds {', '.join(p.value for p in spec.precisions)}, "
                            f"not {self.precision.value}", f"use --target {' or '.join(others)} for "
                            f"{self.precision.value}")
        for path in ("out", "weights", "onnx", "labels", "calib", "eval_data", "check_images"):
            value = getattr(self, path)
            if value is not None and not isinstance(value, Path):
                setattr(self, path, Path(value))
        if self.onnx is not None and not spec.from_onnx:
            raise EdgeError(f"--target {self.target.value} converts from PyTorch weights, not from an ONNX file",
                            "pass the .safetensors/.pt checkpoint the ONNX was exported from")
        if not 0 <= self.max_drop <= 100:
            raise EdgeError(f"--max-drop {self.max_drop:g} is not a number of points", "use 0 to 100")
        if not 0 <= self.min_agreement <= 100:
            raise EdgeError(f"--min-agreement {self.min_agreement:g} is not a number of points", "use 0 to 100")
        if self.in_model_nms and (self.target is not Target.pi or self.task is not Task.detect):
            raise EdgeError("--in-model-nms is for --target pi --task detect")
        if self.in_model_argmax and (self.target is not Target.pi or self.task is not Task.segment):
            raise EdgeError("--in-model-argmax is for --target pi --task segment")
        if self.eval_count <= 0:
            raise EdgeError(f"--eval-count must be positive, not {self.eval_count}")

    @property
    def int8(self) -> bool:
        return self.precision is Precision.int8

    def ignored(self) -> List[str]:
        """Options given that this build does not use (each gets one warning)."""
        unused: List[Union[str, None]] = []
        if not self.int8:
            unused += [f"--calib is only used for int8; ignored for {self.precision.value}" if self.calib else None,
                       f"--eval is only used for int8; ignored for {self.precision.value}" if self.eval_data else None]
        if self.target is not Target.jetson and self.dla_core is not None:
            unused.append("--dla-core is only used for --target jetson; ignored")
        return [u for u in unused if u]


def build_bundle(opts: BuildOptions, progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Warn about ignored options, then run the target's builder; returns the manifest."""
    for note in opts.ignored():
        if progress is not None:
            progress(f"warning: {note}")
    return TARGETS[opts.target].builder()(opts, progress=progress)
