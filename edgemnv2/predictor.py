"""Runner + task logic: image in, task result out. Shared by predict, camera, eval and bench.

``Predictor`` wraps any runner (ONNX Runtime, TFLite, TensorRT): it reads the input format from
the runner's input spec and the bundle manifest, preprocesses with the single preprocessing
function, runs the model, dequantizes the raw outputs and hands them to the task's numpy logic.
Device side: numpy + OpenCV only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .bundle import Bundle, load_bundle
from .errors import EdgeError
from .labels import read_labels
from .tasks import classify, detect, segment
from .tasks.base import Task, dequantize
from .tasks.preprocess import InputFormat, Normalization, preprocess

__all__ = ["Predictor", "TaskResult", "DetectOptions"]


@dataclass
class DetectOptions:
    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    max_detections: int = 100

    @classmethod
    def from_manifest(cls, manifest: Optional[Dict[str, Any]], score_threshold: Optional[float] = None,
                      iou_threshold: Optional[float] = None) -> DetectOptions:
        """The bundle's recorded thresholds (``postprocess``), overridden by any value given."""
        post = (manifest or {}).get("postprocess") or {}
        d = cls()
        return cls(float(score_threshold if score_threshold is not None else post.get("score_threshold",
                                                                                       d.score_threshold)),
                   float(iou_threshold if iou_threshold is not None else post.get("iou_threshold", d.iou_threshold)))


@dataclass
class TaskResult:
    task: Task
    image_size: Tuple[int, int]  # (height, width)
    top: List[classify.Category] = field(default_factory=list)
    detections: List[detect.Detection] = field(default_factory=list)
    mask: Optional[np.ndarray] = None  # (H, W) uint8 at the image size
    labels: Optional[Sequence[str]] = None

    def to_json(self, image: Optional[str] = None) -> Dict[str, Any]:
        d: Dict[str, Any] = {"image": image, "task": self.task.value}
        if self.task is Task.classify:
            d["top"] = [c.to_dict() for c in self.top]
        elif self.task is Task.detect:
            d["detections"] = [x.to_dict() for x in self.detections]
        else:
            d["classes"] = segment.class_counts(self.mask, self.labels) if self.mask is not None else {}
        return d

    def draw(self, frame_bgr: np.ndarray) -> np.ndarray:
        if self.task is Task.classify:
            return classify.draw(frame_bgr, self.top)
        if self.task is Task.detect:
            return detect.draw(frame_bgr, self.detections)
        return segment.overlay(frame_bgr, self.mask) if self.mask is not None else frame_bgr


class Predictor:
    """Image -> TaskResult for one model; a context manager that activates its runner."""

    def __init__(self, runner: Any, task: Task | str, labels: Optional[Sequence[str]] = None,
                 normalization: Optional[Normalization] = None, manifest: Optional[Dict[str, Any]] = None,
                 top_k: int = 5, detect_options: Optional[DetectOptions] = None,
                 score_threshold: Optional[float] = None, iou_threshold: Optional[float] = None) -> None:
        self.runner = runner
        self.task = Task(task)
        self.labels = list(labels) if labels else None
        self.manifest = manifest or {}
        self.norm = normalization
        self.top_k = top_k
        # Detection thresholds: explicit options, else the bundle's recorded ones, with any given override.
        self.detect_options = detect_options or DetectOptions.from_manifest(self.manifest, score_threshold,
                                                                            iou_threshold)
        self.input_format: Optional[InputFormat] = None
        self._input_name = ""

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, bundle: Bundle | str | os.PathLike, threads: Optional[int] = None,
                    **kw: Any) -> Predictor:
        from .targets.registry import open_runner

        b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        if b.manifest["model"].get("pending"):
            raise EdgeError(f"bundle {b.root} has no {b.manifest['model']['file']} yet (built on a host without "
                            f"TensorRT)", f"run 'edgemnv2 build --bundle {b.root}' on the Jetson")
        runner_kw = dict(kw.pop("runner_kw", {}) or {})
        if b.model_format == "tensorrt":
            runner_kw.setdefault("manifest", b.manifest)
        runner = open_runner(b.model_path, threads=threads, **runner_kw)
        return cls(runner, b.task, b.labels, b.normalization, b.manifest, **kw)

    @classmethod
    def from_model(cls, path: str | os.PathLike, task: Task | str, labels: Optional[str | os.PathLike] = None,
                   threads: Optional[int] = None, normalization: Optional[Normalization] = None,
                   **kw: Any) -> Predictor:
        """A bare model file: .onnx (our export's normalisation unless told), .tflite, .engine."""
        from .targets.registry import open_runner

        runner = open_runner(path, threads=threads, **(kw.pop("runner_kw", {}) or {}))
        names = read_labels(labels) if labels else None
        return cls(runner, task, names, normalization, None, **kw)

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> Predictor:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.runner.deactivate()

    def activate(self) -> Predictor:
        self.runner.activate()
        try:
            self._setup()
        except BaseException:
            self.runner.deactivate()  # leave nothing loaded when the model does not fit
            raise
        return self

    def _setup(self) -> None:
        specs = self.runner.input_specs()
        if len(specs) != 1:
            raise EdgeError(f"{self.runner.path.name} has {len(specs)} inputs; edgemnv2 runs single-image models")
        spec = specs[0]
        layout = self.manifest.get("input", {}).get("layout")
        shape = tuple(spec.shape)
        if any(d < 0 for d in shape):
            recorded = self.manifest.get("input", {}).get("shape")
            if not recorded or len(recorded) != len(shape):
                raise EdgeError(f"{self.runner.path.name} has a dynamic input shape {list(shape)} (-1 = any size)",
                                "export it with a fixed input size (edgemnv2 build does), or build a bundle")
            shape = tuple(int(r) if d < 0 else d for d, r in zip(shape, recorded))
        try:
            self.input_format = InputFormat.from_shape(shape, spec.dtype, spec.quant, layout)
        except ValueError as e:
            raise EdgeError(f"{self.runner.path.name}: {e}", "edgemnv2 runs image models with one 4-D input") from None
        self._input_name = spec.name
        if self.norm is None:
            integer = np.issubdtype(np.dtype(spec.dtype), np.integer)
            self.norm = Normalization.raw() if integer else Normalization()
        self._check_outputs()

    def deactivate(self) -> None:
        self.runner.deactivate()

    def _check_outputs(self) -> None:
        outs = self.runner.output_specs()
        shapes = [tuple(o.shape) for o in outs]
        name = self.runner.path.name
        if self.task is Task.detect and len(outs) != 2:
            raise EdgeError(f"{name} has {len(outs)} output(s) {shapes}, a detection model has 2 (boxes, scores)",
                            "check --task")
        if self.task is Task.classify and (len(outs) != 1 or len(shapes[0]) != 2):
            raise EdgeError(f"{name} outputs {shapes}, a classifier outputs one (1, classes) tensor", "check --task")
        if self.task is Task.segment and (len(outs) != 1 or len(shapes[0]) not in (3, 4)):
            raise EdgeError(f"{name} outputs {shapes}, a segmenter outputs one (1, [C,] H, W) tensor",
                            "check --task")

    # -- the three stages -------------------------------------------------------------------------------
    def preprocess(self, image_rgb: np.ndarray) -> Dict[str, np.ndarray]:
        assert self.input_format is not None and self.norm is not None, "activate() first"
        return {self._input_name: preprocess(image_rgb, self.input_format, self.norm)}

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.runner.infer(feeds)

    def postprocess(self, raw: Dict[str, np.ndarray], image_size: Tuple[int, int]) -> TaskResult:
        outs = {s.name: dequantize(raw[s.name], s.quant) for s in self.runner.output_specs()}
        res = TaskResult(self.task, image_size, labels=self.labels)
        if self.task is Task.classify:
            activation = (self.manifest.get("outputs") or [{}])[0].get("activation")
            res.top = classify.topk(next(iter(outs.values()))[0], self.labels, self.top_k, activation)
        elif self.task is Task.detect:
            boxes, scores = self._split_detect(outs)
            o = self.detect_options
            res.detections = detect.postprocess(boxes[0], scores[0], image_size, self.labels, o.score_threshold,
                                                o.iou_threshold, o.max_detections)
        else:
            out = next(iter(outs.values()))
            layout = (self.manifest.get("outputs") or [{}])[0].get("layout")
            n = len(self.labels) if self.labels else None
            res.mask = segment.resize_mask(segment.class_map(out, n, layout), image_size)
        return res

    def _split_detect(self, outs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        by_name = {}
        for o in self.manifest.get("outputs", []):
            by_name[o.get("runtime_name", o["name"])] = o["name"]
        named = {by_name.get(k, k): v for k, v in outs.items()}
        if "boxes" in named and "scores" in named:
            return named["boxes"], named["scores"]
        a, b = outs.values()
        return (a, b) if a.shape[-1] == 4 and b.shape[-1] != 4 else (b, a)

    def predict(self, image_rgb: np.ndarray) -> TaskResult:
        raw = self.infer(self.preprocess(image_rgb))
        return self.postprocess(raw, image_rgb.shape[:2])
