"""Where a build's model comes from (host side): user weights, built-in defaults, or random init.

``resolve_source`` turns build options into a PyTorch model plus the facts every bundle manifest
records about it; ``base_manifest`` starts the manifest that each target's builder completes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .build_options import BuildOptions, Precision
from .errors import EdgeError
from .fileio import sha256_file
from .labels import check_label_count, default_labels, read_labels
from .tasks.base import Task
from .tasks.preprocess import IMAGENET, Normalization

__all__ = ["ModelSource", "resolve_source", "base_manifest", "default_weights"]

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class ModelSource:
    model: Any  # torch.nn.Module in eval mode
    task: Task
    width_mult: float
    resolution: int
    num_classes: int
    labels: List[str]
    normalization: Normalization
    origin: str  # "weights" | "default" | "random"
    weights_path: Optional[Path] = None
    weights_sha256: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    score_threshold: float = 0.3  # detect: default minimum score recorded in the manifest

    def describe(self) -> Dict[str, Any]:
        return {"origin": self.origin, "weights": self.weights_path.name if self.weights_path else None,
                "weights_sha256": self.weights_sha256, "random_init": self.origin == "random"}


def default_weights(task: Task) -> Optional[Dict[str, Any]]:
    """The shipped default model for ``task``: {"path", "width_mult", "resolution", "labels", ...} or None."""
    meta_path = WEIGHTS_DIR / f"{Task(task).value}.json"
    weights = WEIGHTS_DIR / f"{Task(task).value}.safetensors"
    if not (meta_path.is_file() and weights.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    meta["path"] = weights
    return meta


def resolve_source(opts: BuildOptions) -> ModelSource:
    """Build the PyTorch model for ``opts`` and load its weights (or say loudly that it is random)."""
    from .models.weights import load_weights
    from .models.zoo import DEFAULTS, build_model

    task = Task(opts.task)
    labels = read_labels(opts.labels) if opts.labels else None
    dflt = default_weights(task) if opts.weights is None else None
    if dflt is not None and any(v is not None and v != dflt.get(k) for k, v in
                                (("width_mult", opts.width_mult), ("resolution", opts.resolution),
                                 ("num_classes", opts.num_classes))):
        dflt = None  # the user asked for another architecture than the default model's
    if dflt is not None:
        width, res = float(dflt["width_mult"]), int(dflt["resolution"])
        ncls = int(dflt["num_classes"])
        labels = labels or list(dflt["labels"])
        norm = Normalization.from_dict(dflt["normalization"]) if "normalization" in dflt else IMAGENET
    else:
        w0, r0, c0 = DEFAULTS[task]
        width = opts.width_mult if opts.width_mult is not None else w0
        res = opts.resolution if opts.resolution is not None else r0
        ncls = opts.num_classes if opts.num_classes is not None else (len(labels) if labels else c0)
        norm = IMAGENET
    if not 0.1 <= width <= 2.0:
        raise EdgeError(f"--width-mult {width} is out of range", "use 0.35 to 1.4")
    check_label_count(labels, ncls, str(opts.labels or "labels"))
    model = build_model(task, width, ncls, res)
    notes: List[str] = []
    if opts.weights is not None:
        load_weights(model, opts.weights)
        origin, wpath = "weights", Path(opts.weights)
    elif dflt is not None:
        load_weights(model, dflt["path"])
        origin, wpath = "default", Path(dflt["path"])
        notes.append(f"using the built-in default {task.value} model ({dflt.get('name', wpath.name)})")
    else:
        origin, wpath = "random", None
        notes.append("NO WEIGHTS: the model is randomly initialised; its outputs are meaningless "
                     "(pass --weights PATH)")
    labels = labels or default_labels(task.value, ncls)
    digest = sha256_file(wpath) if wpath else None
    thr = float(dflt.get("score_threshold", 0.3)) if dflt is not None else 0.3
    return ModelSource(model.eval(), task, float(width), int(res), int(ncls), labels, norm, origin, wpath, digest,
                       notes, thr)


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
                         "resolution": src.resolution,
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
