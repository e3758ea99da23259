"""Where a build's model comes from (host side): user weights, built-in defaults, or random init.

``resolve_source`` turns build options into a PyTorch model plus the facts every bundle manifest
records about it; ``base_manifest`` starts the manifest that each target's builder completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .build_options import BuildOptions, Precision
from .errors import EdgeError
from .fileio import sha256_file
from .labels import check_label_count, default_labels, read_labels
from .models.spec import ArchOptions
from .tasks.base import Task
from .tasks.preprocess import IMAGENET, Normalization

__all__ = ["ModelSource", "resolve_source", "base_manifest", "default_weights"]


@dataclass
class ModelSource:
    model: Any  # torch.nn.Module in eval mode
    task: Task
    width_mult: float
    resolution: int
    num_classes: int
    labels: List[str]
    normalization: Normalization
    origin: str  # "weights" | "default" | "named" | "tflite" | "torchvision" | "random"
    weights_path: Optional[Path] = None
    weights_sha256: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    score_threshold: float = 0.3  # detect: default minimum score recorded in the manifest
    arch: ArchOptions = field(default_factory=ArchOptions)
    provenance: Dict[str, Any] = field(default_factory=dict)  # weights name, import agreement, licence

    def describe(self) -> Dict[str, Any]:
        return dict({"origin": self.origin, "weights": self.weights_path.name if self.weights_path else None,
                     "weights_sha256": self.weights_sha256, "random_init": self.origin == "random"},
                    **self.provenance)


def default_weights(task: Task, name: str = "default") -> Optional[Dict[str, Any]]:
    """Built-in weights for ``task`` (``name``: default, shapes, imagenet, voc): metadata + "path", or None."""
    from .pretrained import named_weights

    return named_weights(name, Task(task))


def _fixed_architecture(opts: BuildOptions, width: float, res: int, ncls: int, what: str) -> None:
    """Options that contradict what ``what`` fixes are errors (not silently ignored)."""
    for flag, asked, have in (("--width-mult", opts.width_mult, width), ("--resolution", opts.resolution, res),
                              ("--num-classes", opts.num_classes, ncls)):
        if asked is not None and asked != have:
            raise EdgeError(f"{flag} {asked} contradicts {what}, which is {have}", f"leave out {flag}")


def _from_tflite(opts: BuildOptions, task: Task, labels: Optional[List[str]]) -> ModelSource:
    from .import_check import check_import
    from .tflite_import import import_tflite

    path = Path(opts.weights)  # type: ignore[arg-type]
    imp = import_tflite(path, task)
    _fixed_architecture(opts, imp.width_mult, imp.resolution, imp.num_classes, path.name)
    labels = labels or imp.labels
    check_label_count(labels, imp.num_classes, str(opts.labels or path.name))
    report = check_import(imp, path, opts)
    notes = [*imp.notes, f"imported {path.name}: MobileNetV2 {task.value} width {imp.width_mult:g} at "
             f"{imp.resolution}, {imp.num_classes} classes, {imp.arch.padding.value} padding; {report['summary']}"]
    return ModelSource(imp.model, task, imp.width_mult, imp.resolution, imp.num_classes,
                       labels or default_labels(task.value, imp.num_classes), imp.normalization, "tflite", path,
                       sha256_file(path), notes, arch=imp.arch, provenance={"import_check": report})


def _from_torchvision(opts: BuildOptions, task: Task, name: str, labels: Optional[List[str]]) -> ModelSource:
    from .models.weights import load_weights
    from .models.zoo import build_model
    from .pretrained import named_weights, torchvision_checkpoint

    if task is not Task.classify:
        raise EdgeError(f"--weights {name} is an ImageNet classifier", "use it with --task classify (or --init "
                        "for training a detector/segmenter)")
    _fixed_architecture(opts, 1.0, opts.resolution or 224, 1000, f"torchvision's MobileNetV2 ({name})")
    path = torchvision_checkpoint(name)
    res = opts.resolution or 224
    model = build_model(task, 1.0, 1000, res)
    load_weights(model, path)
    if labels is None:  # Google's 1001 labels minus "background", when the built-in classifier is there
        meta = named_weights("default", Task.classify)
        labels = list(meta["labels"][1:]) if meta and len(meta["labels"]) == 1001 else None
    check_label_count(labels, 1000, str(opts.labels or "labels"))
    return ModelSource(model.eval(), task, 1.0, res, 1000, labels or default_labels(task.value, 1000), IMAGENET,
                       "torchvision", path, sha256_file(path), [f"using torchvision's MobileNetV2 ImageNet weights "
                                                               f"({name}, {path})"],
                       provenance={"weights_name": name, "license": "BSD-3-Clause (torchvision)"})


RESOLUTION_RANGE = (32, 1024)  # the paper's models take 96 to 224, DeepLab's published one 513
MAX_CLASSES = {Task.classify: 25000, Task.detect: 2000, Task.segment: 2000}  # ImageNet-21k; LVIS + background


def check_architecture(task: Task, resolution: int, num_classes: int) -> None:
    """Refuse sizes the models cannot take (or could not fit in memory) before torch sees them."""
    from .models.zoo import check_resolution

    lo, hi = RESOLUTION_RANGE
    if not lo <= resolution <= hi:
        raise EdgeError(f"--resolution {resolution} is out of range ({lo} to {hi})",
                        "use e.g. 96, 128, 160, 192 or 224 (the paper's sizes); detection needs a multiple of 32")
    check_resolution(resolution, task)  # detection: a multiple of 32 (its anchor grid)
    if not 2 <= num_classes <= MAX_CLASSES[task]:
        bg = " (background included)" if task is not Task.classify else ""
        raise EdgeError(f"--num-classes {num_classes} is out of range for {task.value}{bg}",
                        f"use 2 to {MAX_CLASSES[task]}")


def resolve_source(opts: BuildOptions) -> ModelSource:
    """Build the PyTorch model for ``opts`` and load its weights (or say loudly that it is random).

    ``opts.weights``: a checkpoint file, a .tflite to import (``edgemnv2.tflite_import``), a built-in
    name (``edgemnv2.pretrained``: shapes, imagenet, voc, torchvision[-v1]) or None for the task's default.
    """
    from .models.metadata import read_arch, read_metadata
    from .models.weights import load_weights
    from .models.zoo import DEFAULTS, build_model
    from .pretrained import weights_name

    task = Task(opts.task)
    labels = read_labels(opts.labels) if opts.labels else None
    if opts.weights is not None and Path(opts.weights).suffix.lower() == ".tflite":
        return _from_tflite(opts, task, labels)
    name = weights_name(opts.weights)
    if name is not None and name.startswith("torchvision"):
        return _from_torchvision(opts, task, name, labels)
    dflt = default_weights(task, name or "default") if opts.weights is None or name else None
    asked = (("width_mult", opts.width_mult), ("resolution", opts.resolution), ("num_classes", opts.num_classes))
    if dflt is not None and name is None and any(v is not None and v != dflt.get(k) for k, v in asked):
        dflt = None  # the user asked for another architecture than the default model's
    arch = ArchOptions()
    if dflt is not None:
        if name is not None:
            _fixed_architecture(opts, float(dflt["width_mult"]), int(dflt["resolution"]), int(dflt["num_classes"]),
                                f"the built-in '{name}' model")
        width, res = float(dflt["width_mult"]), int(dflt["resolution"])
        ncls = int(dflt["num_classes"])
        labels = labels or list(dflt["labels"])
        norm = Normalization.from_dict(dflt["normalization"]) if "normalization" in dflt else IMAGENET
        arch = ArchOptions.from_dict(dflt.get("arch"))
    else:
        w0, r0, c0 = DEFAULTS[task]
        width = opts.width_mult if opts.width_mult is not None else w0
        res = opts.resolution if opts.resolution is not None else r0
        ncls = opts.num_classes if opts.num_classes is not None else (len(labels) if labels else c0)
        norm = IMAGENET
        if opts.weights is not None:  # what the checkpoint says it was trained with (edgemnv2 train)
            arch = read_arch(opts.weights)
            saved = read_metadata(opts.weights).get("normalization")
            norm = Normalization.from_dict(saved) if saved else IMAGENET
    if not 0.1 <= width <= 2.0:
        raise EdgeError(f"--width-mult {width} is out of range", "use 0.35 to 1.4")
    check_architecture(task, res, ncls)
    check_label_count(labels, ncls, str(opts.labels or "labels"))
    model = build_model(task, width, ncls, res, arch)
    notes: List[str] = []
    provenance: Dict[str, Any] = {}
    if dflt is not None:
        load_weights(model, dflt["path"])
        origin, wpath = ("default" if name is None else "named"), Path(dflt["path"])
        provenance = {k: dflt[k] for k in ("weights_name", "license", "imported_from") if k in dflt}
        notes.append(f"using the built-in {'default ' if name is None else ''}{task.value} model "
                     f"({dflt.get('name', wpath.name)})")
    elif opts.weights is not None:
        notes += load_weights(model, opts.weights)["notes"]
        origin, wpath = "weights", Path(opts.weights)
    else:
        origin, wpath = "random", None
        notes.append("NO WEIGHTS: the model is randomly initialised; its outputs are meaningless "
                     "(pass --weights PATH)")
    labels = labels or default_labels(task.value, ncls)
    digest = sha256_file(wpath) if wpath else None
    thr = float(dflt.get("score_threshold", 0.3)) if dflt is not None else 0.3
    return ModelSource(model.eval(), task, float(width), int(res), int(ncls), labels, norm, origin, wpath, digest,
                       notes, thr, arch, provenance)


def base_manifest(src: ModelSource, target: str, precision: Precision, model_file: str, model_format: str,
                  input_: Dict[str, Any], outputs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The manifest fields every target shares; builders add ``reports``, ``calibration``, ``extra``."""
    return {
        "task": src.task.value,
        "target": target,
        "precision": Precision(precision).value,
        "model": {"file": model_file, "format": model_format},
        "labels_file": "labels.txt",
        "num_classes": src.num_classes,
        "architecture": {"family": "mobilenet_v2", "task": src.task.value, "width_mult": src.width_mult,
                         "resolution": src.resolution, **src.arch.to_dict(),
                         "head": {"classify": "linear", "detect": "ssdlite", "segment": "deeplabv3_os16_no_aspp"}[
                             src.task.value]},
        "input": input_,
        "outputs": outputs,
        "postprocess": ({"background_class": 0, "score_threshold": src.score_threshold, "iou_threshold": 0.45,
                         "box_format":
                         "xyxy_normalized", "nms": "per-class, numpy"} if src.task is Task.detect else
                        {"activation": "softmax" if src.task is Task.classify else "argmax"}),
        "source": src.describe(),
        "warnings": [n for n in src.notes if n.startswith("NO WEIGHTS")],
        "calibration": None,
        "reports": {},
        "files": {},
    }


def onnx_input_spec(src: ModelSource) -> Dict[str, Any]:
    r = src.resolution
    return dict({"name": "images", "shape": [1, 3, r, r], "layout": "NCHW", "dtype": "float32", "color": "RGB",
                 "resize": "bilinear"}, **src.normalization.to_dict())


def onnx_output_specs(src: ModelSource) -> List[Dict[str, Any]]:
    r, c = src.resolution, src.num_classes
    if src.task is Task.classify:
        return [{"name": "logits", "shape": [1, c], "layout": "NC", "dtype": "float32", "activation": "logits"}]
    if src.task is Task.segment:
        return [{"name": "logits", "shape": [1, c, r, r], "layout": "NCHW", "dtype": "float32",
                 "activation": "logits"}]
    from .tasks.detect import feature_map_sizes, ssd_anchors

    a = int(ssd_anchors(feature_map_sizes(r)).shape[0])
    return [{"name": "boxes", "shape": [1, a, 4], "layout": "NA4", "dtype": "float32", "activation": "xyxy"},
            {"name": "scores", "shape": [1, a, c], "layout": "NAC", "dtype": "float32", "activation": "softmax"}]
