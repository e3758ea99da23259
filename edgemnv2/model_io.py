"""A typed view of a model's I/O: how to feed it and what each output means (device side, numpy only).

``ModelIO`` is built from a bundle's manifest (``from_manifest``) or read from a bare model file
(``model_io_rules.io_from_file``: the TFLite graph and Model Metadata, the ONNX graph) plus what the user says
(``IOOverrides``: --mean/--std, --resolution, --outputs, box format). ``Predictor`` consumes it.

Output semantics come from the graph, not from the values. Each output records the rule that
decided it (``Rule``), in this order: the user, the bundle manifest, the op that produces the
output (TFLite SOFTMAX / LOGISTIC / ARG_MAX / TFLite_Detection_PostProcess; ONNX Softmax, Sigmoid,
ArgMax), TFLite's softmax output quantisation (uint8 scale 1/256 zero point 0, int8 scale 1/256
zero point -128), the tensor shape, and only then a value heuristic at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import EdgeError
from .tasks.base import Task
from .tasks.preprocess import Normalization

__all__ = ["Layout", "OutputKind", "Rule", "BoxFormat", "OutputInfo", "BoxDecoding", "InputContract",
           "IOOverrides", "ModelIO", "SSD_OUTPUTS", "BoxUnits", "parse_outputs", "input_range", "overrides"]


class Layout(str, Enum):
    NHWC = "NHWC"
    NCHW = "NCHW"


class OutputKind(str, Enum):
    logits = "logits"  # classify: class scores before softmax
    probabilities = "probabilities"  # classify: softmax / sigmoid outputs
    class_map = "class-map"  # segment: argmax inside the model
    class_scores = "class-scores"  # segment: per-pixel class scores (argmax here)
    boxes = "boxes"  # detect: (1, A, 4) per-anchor boxes
    scores = "scores"  # detect: (1, A, C) per-anchor class probabilities
    score_logits = "score-logits"  # detect: per-anchor class scores before softmax / sigmoid
    ssd_boxes = "ssd-boxes"  # TFLite_Detection_PostProcess: (1, K, 4) ymin, xmin, ymax, xmax normalised
    ssd_classes = "ssd-classes"  # (1, K) class index (background excluded)
    ssd_scores = "ssd-scores"  # (1, K)
    ssd_count = "ssd-count"  # (1,) valid detections
    unknown = "unknown"  # decided per call by the value heuristic


SSD_OUTPUTS = (OutputKind.ssd_boxes, OutputKind.ssd_classes, OutputKind.ssd_scores, OutputKind.ssd_count)


class Rule(str, Enum):
    user = "user"
    manifest = "manifest"
    graph_op = "graph-op"
    quantization = "softmax-quantization"
    shape = "shape"
    value = "value-heuristic"


class BoxFormat(str, Enum):
    xyxy = "xyxy"
    yxyx = "yxyx"
    cxcywh = "cxcywh"


class BoxUnits(str, Enum):
    normalized = "normalized"
    pixels = "pixels"  # pixels of the model input


@dataclass(frozen=True)
class OutputInfo:
    name: str  # the runtime's tensor name
    kind: OutputKind
    rule: Rule
    evidence: str = ""  # e.g. "SOFTMAX", "uint8 scale 1/256 zero point 0"
    layout: Optional[Layout] = None  # segment class scores: where the class axis is

    def describe(self) -> Dict[str, Any]:
        d = {"name": self.name, "kind": self.kind.value, "rule": self.rule.value}
        if self.evidence:
            d["evidence"] = self.evidence
        return d


@dataclass(frozen=True)
class BoxDecoding:
    """How a detector's boxes and class scores are encoded."""

    box_format: BoxFormat = BoxFormat.xyxy
    normalized: bool = True  # False: pixels of the model input
    background: bool = True  # class 0 of the scores is background
    label_offset: int = 0  # SSD class index + offset = label line (1 when labels.txt starts with background)


@dataclass(frozen=True)
class InputContract:
    layout: Optional[Layout] = None  # None: from the shape (channels axis)
    normalization: Optional[Normalization] = None  # None: raw pixels for integer inputs, else ImageNet
    norm_rule: str = "default"  # where the normalisation came from
    size: Optional[Tuple[int, int]] = None  # (height, width) for a dynamic input


@dataclass(frozen=True)
class IOOverrides:
    """What the user says about a bare model (CLI options); ``None`` leaves the file's own answer."""

    normalization: Optional[Normalization] = None
    resolution: Optional[Tuple[int, int]] = None  # (height, width)
    outputs: Dict[str, str] = field(default_factory=dict)  # role (boxes, scores) -> runtime name
    box_format: Optional[BoxFormat] = None
    normalized_boxes: Optional[bool] = None
    background: Optional[bool] = None


@dataclass(frozen=True)
class ModelIO:
    """A model's I/O contract; ``outputs`` may be partial (the rest is decided from the runner's specs)."""

    task: Task
    input: InputContract = InputContract()
    outputs: Tuple[OutputInfo, ...] = ()
    boxes: BoxDecoding = BoxDecoding()
    labels: Optional[List[str]] = None  # from the file's metadata
    source: str = "runner"

    def output(self, name: str) -> Optional[OutputInfo]:
        return next((o for o in self.outputs if o.name == name), None)

    def with_outputs(self, outputs: Sequence[OutputInfo]) -> ModelIO:
        return replace(self, outputs=tuple(outputs))

    def describe(self) -> Dict[str, Any]:
        """For ``predict --json`` and bench reports: which rule decided each output and the input."""
        d: Dict[str, Any] = {"source": self.source, "input_normalization": self.input.norm_rule,
                             "outputs": [o.describe() for o in self.outputs]}
        if self.input.size is not None:
            d["input_size"] = list(self.input.size)
        if self.task is Task.detect:
            b = self.boxes
            d["boxes"] = {"format": b.box_format.value, "normalized": b.normalized, "background": b.background}
        return d

    # -- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest: Dict[str, Any]) -> ModelIO:
        """A bundle's recorded contract (also for builders: ``{"task", "input", "outputs", "postprocess"}``)."""
        task = Task(manifest["task"])
        inp = manifest.get("input") or {}
        layout = Layout(inp["layout"]) if inp.get("layout") else None
        norm = Normalization.from_dict(inp) if "mean" in inp else None
        shape = inp.get("shape")
        size = None
        if isinstance(shape, list) and len(shape) == 4 and layout is not None:
            size = (int(shape[2]), int(shape[3])) if layout is Layout.NCHW else (int(shape[1]), int(shape[2]))
        post = manifest.get("postprocess") or {}
        outs = [_manifest_output(task, o, post) for o in manifest.get("outputs") or []]
        boxes = BoxDecoding()
        if task is Task.detect and post.get("nms") == "in-model":
            boxes = BoxDecoding(BoxFormat.yxyx, True, True, int(post.get("label_offset", 1)))
        return cls(task, InputContract(layout, norm, "manifest" if norm else "default", size),
                   tuple(o for o in outs if o is not None), boxes, None, "manifest")

    def apply(self, o: IOOverrides) -> ModelIO:
        """The user's word over the file's."""
        inp = self.input
        if o.normalization is not None:
            inp = replace(inp, normalization=o.normalization, norm_rule="user")
        if o.resolution is not None:
            inp = replace(inp, size=o.resolution)
        b = self.boxes
        b = BoxDecoding(o.box_format or b.box_format,
                        b.normalized if o.normalized_boxes is None else o.normalized_boxes,
                        b.background if o.background is None else o.background, b.label_offset)
        outs = list(self.outputs)
        if o.outputs:
            named = {name: role for role, name in o.outputs.items()}
            outs = [x for x in outs if x.name not in named]
            kinds = {"boxes": OutputKind.boxes, "scores": OutputKind.scores, "logits": OutputKind.score_logits}
            outs += [OutputInfo(name, kinds[role], Rule.user) for name, role in named.items()]
        return replace(self, input=inp, boxes=b, outputs=tuple(outs))


def _manifest_output(task: Task, o: Dict[str, Any], post: Dict[str, Any]) -> Optional[OutputInfo]:
    name = str(o.get("runtime_name", o["name"]))
    role = str(o["name"])
    act = o.get("activation")
    layout = Layout(o["layout"]) if o.get("layout") in ("NCHW", "NHWC") else None
    if task is Task.classify:
        if act not in ("logits", "softmax"):
            return None
        kind = OutputKind.logits if act == "logits" else OutputKind.probabilities
        return OutputInfo(name, kind, Rule.manifest, f"activation {act}")
    if task is Task.segment:
        if act == "argmax":
            return OutputInfo(name, OutputKind.class_map, Rule.manifest, "argmax")
        return OutputInfo(name, OutputKind.class_scores, Rule.manifest, f"activation {act}", layout)
    if post.get("nms") == "in-model":
        kinds = dict(zip(("boxes", "classes", "scores", "count"), SSD_OUTPUTS))
        return OutputInfo(name, kinds[role], Rule.manifest, "TFLite_Detection_PostProcess") if role in kinds else None
    if role == "boxes":
        return OutputInfo(name, OutputKind.boxes, Rule.manifest, str(act or "xyxy"))
    if role == "scores":
        kind = OutputKind.scores if act in (None, "softmax", "sigmoid") else OutputKind.score_logits
        return OutputInfo(name, kind, Rule.manifest, f"activation {act}")
    return None


def parse_outputs(text: Optional[str]) -> Dict[str, str]:
    """``boxes=NAME,scores=NAME`` -> {"boxes": NAME, "scores": NAME} (one-line error otherwise)."""
    if not text:
        return {}
    out: Dict[str, str] = {}
    for part in text.split(","):
        role, sep, name = part.partition("=")
        role, name = role.strip(), name.strip()
        if not sep or not name or role not in ("boxes", "scores", "logits"):
            raise EdgeError(f"--outputs: cannot read '{part}'",
                            "write ROLE=NAME pairs, e.g. --outputs boxes=detection_boxes,scores=detection_scores "
                            "(roles: boxes, scores, or logits for class scores before softmax)")
        out[role] = name
    if "boxes" not in out or not ({"scores", "logits"} & out.keys()):
        raise EdgeError(f"--outputs {text}: a detector needs boxes=NAME and scores=NAME (or logits=NAME)")
    return out


def input_range(text: str) -> Normalization:
    """``0,1`` / ``-1,1`` / ``0,255``: the real range a float model's input expects for pixels 0..255."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise EdgeError(f"--input-range {text}: expected two numbers LOW,HIGH", "e.g. --input-range -1,1") from None
    if hi <= lo:
        raise EdgeError(f"--input-range {text}: HIGH must be above LOW")
    std = 255.0 / (hi - lo)
    mean = -lo * std
    return Normalization((mean,) * 3, (std,) * 3)  # type: ignore[arg-type]


def _three(text: str, what: str) -> Tuple[float, float, float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) not in (1, 3):
        raise EdgeError(f"{what} {text}: expected one number or three (R,G,B) in 0..255 pixel units",
                        f"e.g. {what} 127.5")
    return tuple((vals * 3)[:3])  # type: ignore[return-value]


def _resolution(text: str) -> Tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    try:
        size = (int(h), int(w) if sep else int(h))
    except ValueError:
        raise EdgeError(f"--resolution {text}: expected N or HxW", "e.g. --resolution 224") from None
    if min(size) < 2:
        raise EdgeError(f"--resolution {text}: the image must be at least 2x2 pixels")
    return size


def overrides(mean: Optional[str] = None, std: Optional[str] = None, input_range_: Optional[str] = None,
              resolution: Optional[str] = None, outputs: Optional[str] = None,
              box_format: Optional[BoxFormat] = None, box_units: Optional[BoxUnits] = None,
              background: Optional[bool] = None) -> IOOverrides:
    """IOOverrides from the CLI's text options (one-line errors for bad values)."""
    norm = None
    if input_range_ is not None and (mean is not None or std is not None):
        raise EdgeError("pass either --input-range or --mean/--std, not both")
    if input_range_ is not None:
        norm = input_range(input_range_)
    elif mean is not None or std is not None:
        m = _three(mean, "--mean") if mean is not None else (0.0, 0.0, 0.0)
        sd = _three(std, "--std") if std is not None else (1.0, 1.0, 1.0)
        if min(sd) <= 0:
            raise EdgeError(f"--std {std}: must be positive")
        norm = Normalization(m, sd)
    return IOOverrides(norm, _resolution(resolution) if resolution else None, parse_outputs(outputs), box_format,
                       None if box_units is None else box_units is BoxUnits.normalized, background)
