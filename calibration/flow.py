"""The one int8 flow every builder runs (Pi: TFLite; Jetson: Q/DQ ONNX).

read ``--calib`` (``Int8Flow.load``, before any model work, so bad input fails in seconds) ->
hold out every 5th image, or evaluate on the labelled ``--eval`` set and calibrate on all ->
calibrate (the target's callable) -> compare int8 with fp32 in task terms (``evaluation.py``) ->
gate with statistics (``gate.py``): fail, pass, or build with a "not judged" warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..build_options import BuildOptions
from ..errors import EdgeError
from ..tasks.base import Task
from .evaluation import compare, folder_class_targets, labelled_eval_set, split_holdout
from .gate import describe, enforce, judge
from .images import CalibrationSet, load_calibration_images

__all__ = ["Int8Flow", "Int8Result", "Calibrate", "Predictors"]

# images to calibrate on -> {"method": str, "quantization": {...}} for the manifest
Calibrate = Callable[[List[np.ndarray]], Dict[str, Any]]
# -> (fp32 Predictor, int8 Predictor), not yet activated: the flow activates and releases them
Predictors = Callable[[], Tuple[Any, Any]]
Say = Callable[[str], None]


@dataclass
class Int8Result:
    calibration: Dict[str, Any]  # manifest["calibration"]
    report: Dict[str, Any]  # manifest["reports"]["accuracy"], with its "gate" record
    warnings: List[str] = field(default_factory=list)  # for manifest["warnings"]


@dataclass
class _EvalSet:
    calibrate_on: List[int]
    held_out: List[int]
    images: List[np.ndarray]
    targets: Optional[Sequence[Any]]
    source: str


class Int8Flow:
    def __init__(self, opts: BuildOptions, calib: CalibrationSet, say: Say) -> None:
        self.opts, self.calib, self.say = opts, calib, say

    @classmethod
    def load(cls, opts: BuildOptions, say: Say) -> Int8Flow:
        """Read and check ``--calib`` (at least 2 usable images: some are held out)."""
        calib = load_calibration_images(opts.calib, opts.calib_count, seed=opts.seed)
        n = len(calib.images)
        if n < 2:
            raise EdgeError(f"calibration folder {calib.folder} has {n} usable image, int8 needs at least 2 (some "
                            "are held out to measure the int8 quality)", "add images: a few hundred is best")
        say(f"calibration: {n} images from {calib.folder}")
        if n < opts.calib_count:
            say(f"warning: calibration folder {calib.folder} has only {n} usable images, fewer than --calib-count "
                f"{opts.calib_count}: using them all")
        for what, files in (("skipped {} unusable file(s)", calib.skipped),
                            ("converted {} image(s) to RGB 8-bit", calib.converted)):
            if files:
                name, why = next(iter(files.items()))
                say(f"calibration: {what.format(len(files))}, e.g. {name}: {why}")
        return cls(opts, calib, say)

    def _eval_set(self, task: Task, labels: Sequence[str]) -> _EvalSet:
        calib = self.calib
        if self.opts.eval_data is not None:
            images, targets, source = labelled_eval_set(task, labels, self.opts.eval_data, self.opts.eval_count,
                                                        self.say)
            return _EvalSet(list(range(len(calib.images))), [], images, targets, source)
        keep, held = split_holdout(len(calib.images))
        targets = None
        if task is Task.classify and calib.targets is not None:
            targets = folder_class_targets(calib.class_names, [calib.targets[i] for i in held], labels)
        return _EvalSet(keep, held, [calib.images[i] for i in held], targets, "held out from --calib")

    def split(self) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """(calibrate-on, evaluate-on) ``--calib`` images as ``run`` splits them; with ``--eval``: (all, [])."""
        images = list(self.calib.images)
        if self.opts.eval_data is not None:
            return images, []
        keep, held = split_holdout(len(images))
        return [images[i] for i in keep], [images[i] for i in held]

    def run(self, task: Task, labels: Sequence[str], calibrate: Calibrate, predictors: Predictors) -> Int8Result:
        """Calibrate, compare with fp32, gate. Raises EdgeError when the gate fails."""
        opts, calib, say = self.opts, self.calib, self.say
        ev = self._eval_set(Task(task), labels)
        say(f"calibrating int8 on {len(ev.calibrate_on)} images ({len(ev.images)} to evaluate)")
        recipe = calibrate([calib.images[i] for i in ev.calibrate_on])
        say(f"comparing int8 with fp32 on {len(ev.images)} images ({ev.source})")
        ref, test = predictors()
        with ref, test:
            comparison = compare(task, ref, test, ev.images, ev.targets)
        report = comparison.report
        report["evaluated_on"] = ev.source
        if ev.held_out:
            report["held_out"] = [str(calib.paths[i].relative_to(calib.folder)) for i in ev.held_out][:50]
        report["gate"] = gate = judge(comparison, opts.max_drop, opts.min_agreement, opts.seed)
        say(describe(report, gate))
        warning = enforce(report, gate)
        if warning:
            say(f"warning: {warning}")
        record = dict(calib.describe(recipe["method"]), count=len(ev.calibrate_on), held_out=len(ev.held_out),
                      read=len(calib.images), quantization=recipe["quantization"])
        return Int8Result(record, report, [warning] if warning else [])
