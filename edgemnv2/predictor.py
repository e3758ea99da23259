"""Runner + task logic: image in, task result out. Shared by predict, camera, eval and bench.

``Predictor`` wraps any runner (ONNX Runtime, TFLite, TensorRT) and a ``ModelIO`` (the typed view of
the model's I/O, from a bundle manifest or the model file): it reads the input format from the
runner's input spec (resizing a dynamic input to the contract's size), preprocesses with the single
preprocessing function, runs the model, dequantizes the raw outputs and hands them to the task's
numpy logic as the ``ModelIO`` says (logits or probabilities, boxes+scores or SSD's four outputs).
Device side: numpy + OpenCV only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .bundle import Bundle, check_model_matches, load_bundle
from .errors import EdgeError
from .labels import class_count, fit_labels, read_labels
from .model_io import SSD_OUTPUTS, IOOverrides, ModelIO, OutputKind, Rule
from .tasks import classify, detect, segment
from .tasks.base import Task, dequantize, looks_like_probabilities
from .tasks.preprocess import InputFormat, Normalization, preprocess, preprocess_bgr

__all__ = ["Predictor", "TaskResult", "DetectOptions", "IOOverrides", "ModelIO", "Rule"]


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
    model_mask: Optional[np.ndarray] = None  # the same class map at the model's output size (cheaper to colour)
    labels: Optional[Sequence[str]] = None
    semantics: Optional[Dict[str, Any]] = None  # ModelIO.describe(): which rule decided each output

    def to_json(self, image: Optional[str] = None, semantics: bool = False) -> Dict[str, Any]:
        """``semantics``: add which rule decided each output (``predict --json``; per-frame records leave it out)."""
        d: Dict[str, Any] = {"image": image, "task": self.task.value}
        if semantics and self.semantics is not None:
            d["semantics"] = self.semantics
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
        return segment.overlay(frame_bgr, self.mask, source=self.model_mask) if self.mask is not None else frame_bgr


class Predictor:
    """Image -> TaskResult for one model; a context manager that activates its runner.

    Give it a ``ModelIO`` (``io=``, or ``Predictor.from_io``); ``manifest=`` (a bundle manifest) is
    still accepted and turned into one. ``normalization`` overrides the contract's.
    """

    def __init__(self, runner: Any, task: Task | str, labels: Optional[Sequence[str]] = None,
                 normalization: Optional[Normalization] = None, manifest: Optional[Dict[str, Any]] = None,
                 top_k: int = 5, detect_options: Optional[DetectOptions] = None,
                 score_threshold: Optional[float] = None, iou_threshold: Optional[float] = None,
                 io: Optional[ModelIO] = None) -> None:
        self.runner = runner
        self.task = Task(task)
        self.manifest = manifest or {}
        if io is None:
            io = ModelIO.from_manifest({**self.manifest, "task": self.task.value}) if self.manifest else \
                ModelIO(self.task)
        self.io = io
        self.labels = list(labels) if labels else (list(io.labels) if io.labels else None)
        self.norm = normalization if normalization is not None else io.input.normalization
        self.top_k = top_k
        # Detection thresholds: explicit options, else the bundle's recorded ones, with any given override.
        self.detect_options = detect_options or DetectOptions.from_manifest(self.manifest, score_threshold,
                                                                            iou_threshold)
        self.input_format: Optional[InputFormat] = None
        self.notes: List[str] = []  # said to the user once activated (e.g. a label offset applied)
        self._input_name = ""
        self._label_offset = io.boxes.label_offset

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_io(cls, runner: Any, io: ModelIO, labels: Optional[Sequence[str]] = None, **kw: Any) -> Predictor:
        """A runner plus its typed I/O view (what builders and bundles use)."""
        return cls(runner, io.task, labels, io=io, **kw)

    @classmethod
    def from_bundle(cls, bundle: Bundle | str | os.PathLike, threads: Optional[int] = None,
                    overrides: Optional[IOOverrides] = None, **kw: Any) -> Predictor:
        from .targets.registry import open_bundle_runner

        if overrides is not None and overrides != IOOverrides():
            raise EdgeError("the input/output options (--mean, --std, --input-range, --resolution, --outputs, "
                            "--box-format, --box-units, --background) are for a bare --model; a bundle records its own")
        b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        if b.manifest["model"].get("pending"):
            from .targets.jetson.engine import pending_engine_error

            raise pending_engine_error(b.root, b.manifest["model"]["file"])
        runner = open_bundle_runner(b, threads=threads, **(kw.pop("runner_kw", {}) or {}))
        return cls(runner, b.task, b.labels, b.normalization, b.manifest, io=ModelIO.from_manifest(b.manifest), **kw)

    @classmethod
    def from_model(cls, path: str | os.PathLike, task: Task | str, labels: Optional[str | os.PathLike] = None,
                   threads: Optional[int] = None, normalization: Optional[Normalization] = None,
                   overrides: Optional[IOOverrides] = None, **kw: Any) -> Predictor:
        """A bare model file (.onnx, .tflite, .engine): what the file says about itself, then ``overrides``."""
        from .model_io_rules import io_from_file
        from .targets.registry import open_runner

        io = io_from_file(path, task, overrides)
        runner = open_runner(path, threads=threads, **(kw.pop("runner_kw", {}) or {}))
        names = read_labels(labels) if labels else None
        pred = cls(runner, task, names, normalization, None, io=io, **kw)
        if pred.labels and pred.task is Task.detect and io.boxes.label_offset == 0 and _background_first(pred.labels):
            pred._label_offset = 1  # SSD classes exclude the background line the labels start with
        return pred

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
        from .model_io_rules import resolve_outputs

        specs = self.runner.input_specs()
        name = self.runner.path.name
        if len(specs) != 1:
            raise EdgeError(f"{name} has {len(specs)} inputs; edgemnv2 runs single-image models")
        spec = specs[0]
        layout = self.io.input.layout.value if self.io.input.layout else None
        shape = tuple(spec.shape)
        try:
            fmt = InputFormat.from_shape(shape, spec.dtype, spec.quant, layout)
        except ValueError as e:
            raise EdgeError(f"{name}: {e}", "edgemnv2 runs image models with one 4-D input") from None
        if any(d < 0 for d in shape):
            fmt, shape = self._fixed_size(fmt, shape, spec.name)
        if fmt.height < 2 or fmt.width < 2:
            raise EdgeError(f"{name} takes {fmt.height}x{fmt.width} images", "pass a model with a real image input")
        self.input_format = fmt
        self._input_name = spec.name
        if self.norm is None:
            integer = np.issubdtype(np.dtype(spec.dtype), np.integer)
            self.norm = Normalization.raw() if integer else Normalization()
            rule = "raw pixels (integer input, nothing stated)" if integer else \
                "ImageNet mean/std (assumed: nothing stated; pass --mean/--std or --input-range)"
            self.io = replace(self.io, input=replace(self.io.input, norm_rule=rule))
        self.io = resolve_outputs(self.io, self.runner.output_specs(), name)
        self._semantics = self.io.describe()
        self._check_classes()

    def _check_classes(self) -> None:
        """A bundle's model file must be the one its manifest describes, and labels must fit its classes."""
        shapes = [tuple(o.shape) for o in self.runner.output_specs()]
        name = self.runner.path.name
        if self.manifest.get("num_classes") is not None:
            check_model_matches(self.manifest, name, self.runner.input_specs()[0].shape, shapes)
        layout = self.io.outputs[0].layout.value if len(self.io.outputs) == 1 and self.io.outputs[0].layout else None
        n = class_count(self.task, shapes, layout)
        if self.labels is not None and n is not None:
            offset_ok = self.task is not Task.detect or self.io.boxes.background  # no background column: exact
            self.labels, note = fit_labels(self.labels, n, "the labels file", offset_ok)
            self.notes += [note] if note else []

    def _fixed_size(self, fmt: InputFormat, shape: Tuple[int, ...], input_name: str
                    ) -> Tuple[InputFormat, Tuple[int, ...]]:
        """A dynamic input gets the contract's size (--resolution, the file's, the bundle's) or is refused."""
        size = self.io.input.size
        if size is None:
            raise EdgeError(f"{self.runner.path.name} has a dynamic input shape {list(shape)} (-1 = any size) and "
                            "states no image size", "pass --resolution N (e.g. 224) or HxW")
        h, w = size
        new = (1, 3, h, w) if fmt.layout == "NCHW" else (1, h, w, shape[3] if shape[3] > 0 else 3)
        resize = getattr(self.runner, "resize_input", None)
        if resize is not None:
            resize(input_name, new)
        return InputFormat(h, w, fmt.layout, fmt.dtype, fmt.quant), new

    def deactivate(self) -> None:
        self.runner.deactivate()

    def describe_io(self) -> Dict[str, Any]:
        """Which rule decided each output and the input normalisation (for reports); after activate()."""
        return dict(getattr(self, "_semantics", None) or self.io.describe())

    # -- the three stages -------------------------------------------------------------------------------
    def preprocess(self, image_rgb: np.ndarray) -> Dict[str, np.ndarray]:
        assert self.input_format is not None and self.norm is not None, "activate() first"
        return {self._input_name: preprocess(image_rgb, self.input_format, self.norm)}

    def preprocess_bgr(self, frame_bgr: np.ndarray) -> Dict[str, np.ndarray]:
        """``preprocess`` for a BGR frame (camera apps): the channel swap happens at the model's size."""
        assert self.input_format is not None and self.norm is not None, "activate() first"
        return {self._input_name: preprocess_bgr(frame_bgr, self.input_format, self.norm)}

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.runner.infer(feeds)

    def postprocess(self, raw: Dict[str, np.ndarray], image_size: Tuple[int, int]) -> TaskResult:
        # Segmentation logits: argmax on the quantized values (same order when scale > 0), no float copy.
        keep = self.task is Task.segment
        outs = {s.name: raw[s.name] if keep and s.quant is not None and s.quant[0] > 0
                else dequantize(raw[s.name], s.quant) for s in self.runner.output_specs()}
        res = TaskResult(self.task, image_size, labels=self.labels, semantics=self.describe_io())
        if self.task is Task.classify:
            info = self.io.outputs[0]
            scores = outs[info.name][0]
            if info.kind is OutputKind.unknown:  # last resort: nothing in the file or bundle says
                probs = looks_like_probabilities(scores)
                res.semantics["outputs"] = [dict(info.describe(), kind="probabilities" if probs else "logits")]
            else:
                probs = info.kind is OutputKind.probabilities
            res.top = classify.topk(scores, self.labels, self.top_k, "softmax" if probs else "logits")
        elif self.task is Task.detect:
            res.detections = self._detect(outs, image_size)
        else:
            info = self.io.outputs[0]
            layout = info.layout.value if info.layout else None
            n = len(self.labels) if self.labels else None
            res.model_mask = segment.class_map(outs[info.name], n, layout)
            res.mask = segment.resize_mask(res.model_mask, image_size)
        return res

    def _detect(self, outs: Dict[str, np.ndarray], image_size: Tuple[int, int]) -> List[detect.Detection]:
        o = self.detect_options
        by_kind = {x.kind: outs[x.name] for x in self.io.outputs}
        if OutputKind.ssd_boxes in by_kind:
            b, c, s, n = (by_kind[k] for k in SSD_OUTPUTS)
            return detect.from_ssd(b[0], c[0], s[0], n, image_size, self.labels, o.score_threshold,
                                   self._label_offset, o.max_detections)
        dec = self.io.boxes
        assert self.input_format is not None
        fmt = self.input_format
        boxes = detect.to_xyxy(by_kind[OutputKind.boxes][0], dec.box_format.value,
                               None if dec.normalized else (fmt.height, fmt.width))
        kind = next(k for k in (OutputKind.scores, OutputKind.score_logits, OutputKind.unknown) if k in by_kind)
        scores = by_kind[kind][0]
        if kind is OutputKind.score_logits or (kind is OutputKind.unknown and not looks_like_probabilities(scores)):
            from .tasks.base import softmax

            scores = softmax(scores) if dec.background else 1.0 / (1.0 + np.exp(-scores))
        return detect.postprocess(boxes, scores, image_size, self.labels, o.score_threshold, o.iou_threshold,
                                  o.max_detections, background=dec.background)

    def predict(self, image_rgb: np.ndarray) -> TaskResult:
        raw = self.infer(self.preprocess(image_rgb))
        return self.postprocess(raw, image_rgb.shape[:2])


def _background_first(labels: Sequence[str]) -> bool:
    return bool(labels) and labels[0].strip().lower() in ("background", "__background__", "???", "bg")

