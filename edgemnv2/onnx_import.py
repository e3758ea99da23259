"""An ONNX file given by the user, taken as-is for targets that start from ONNX (cpu, jetson). Host side."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .errors import EdgeError, MissingDependency
from .labels import check_label_count, default_labels, read_labels
from .model_source import BuildOptions
from .tasks.base import Task

__all__ = ["inspect_onnx", "copy_onnx_model"]

_DTYPES = {1: "float32", 10: "float16", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}


def _dims(value_info: Any) -> List[int]:
    return [d.dim_value if d.dim_value > 0 else 1 for d in value_info.type.tensor_type.shape.dim]


def inspect_onnx(path: Path, task: Task) -> Tuple[Dict[str, Any], List[Dict[str, Any]], int]:
    """Check a user ONNX file fits ``task``; return (input spec, output specs, number of classes)."""
    try:
        import onnx
    except ImportError:
        raise MissingDependency("onnx", "host", "reading ONNX models") from None
    path = Path(path)
    if not path.is_file():
        raise EdgeError(f"ONNX file {path} does not exist or is not a file", "check the --weights path")
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as e:  # onnx raises DecodeError, ValidationError, ...
        raise EdgeError(f"{path} is not a valid ONNX model: {str(e).splitlines()[0][:160]}",
                        "export it again, or pass PyTorch weights") from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(_dims(inputs[0])) != 4:
        raise EdgeError(f"{path.name} must have exactly one 4-D image input, it has "
                        f"{[(i.name, _dims(i)) for i in inputs]}")
    shape = _dims(inputs[0])
    raw = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if any(v <= 0 for v in raw[1:]):
        raise EdgeError(f"{path.name} has a dynamic input size {[v if v > 0 else '?' for v in raw]}",
                        "export it with a fixed input size (static shapes are what TensorRT and TFLite run best)")
    layout = "NCHW" if shape[1] == 3 else "NHWC"
    outs = list(proto.graph.output)
    oshapes = [_dims(o) for o in outs]
    if task is Task.classify and (len(outs) != 1 or len(oshapes[0]) != 2):
        raise EdgeError(f"{path.name} outputs {oshapes}; a classifier has one (1, classes) output", "check --task")
    if task is Task.detect and (len(outs) != 2 or 4 not in (oshapes[0][-1], oshapes[1][-1])):
        raise EdgeError(f"{path.name} outputs {oshapes}; a detector has boxes (1, A, 4) and scores (1, A, C)",
                        "check --task")
    if task is Task.segment and (len(outs) != 1 or len(oshapes[0]) not in (3, 4)):
        raise EdgeError(f"{path.name} outputs {oshapes}; a segmenter has one (1, C, H, W) output", "check --task")
    h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    if h != w:
        raise EdgeError(f"{path.name} input is {h}x{w}; edgemnv2 bundles use square inputs")
    input_spec = {"name": inputs[0].name, "shape": shape, "layout": layout,
                  "dtype": _DTYPES.get(inputs[0].type.tensor_type.elem_type, "float32"), "color": "RGB",
                  "resize": "bilinear"}
    names = [o.name for o in outs]
    if task is Task.detect:
        if set(names) == {"boxes", "scores"}:
            roles = names
        elif oshapes[0][-1] == 4 and oshapes[1][-1] != 4:
            roles = ["boxes", "scores"]
        elif oshapes[1][-1] == 4 and oshapes[0][-1] != 4:
            roles = ["scores", "boxes"]
        else:
            roles = ["boxes", "scores"]  # both end in 4 (four classes): take the export order
    else:
        roles = ["logits"]
    outputs = []
    for name, role, s in zip(names, roles, oshapes):
        layout = None
        if task is Task.segment and len(s) == 4:
            layout = "NCHW" if s[2] == s[3] and s[1] != s[2] else "NHWC"
        outputs.append({"name": role, "runtime_name": name, "shape": s, "dtype": "float32", "layout": layout})
    if task is Task.classify:
        ncls = oshapes[0][1]
    elif task is Task.detect:
        ncls = next(s[-1] for s, o in zip(oshapes, outputs) if o["name"] == "scores")
    else:
        s = oshapes[0]
        ncls = (s[1] if outputs[0]["layout"] == "NCHW" else s[-1]) if len(s) == 4 else 0
    return input_spec, outputs, int(ncls)


def copy_onnx_model(opts: BuildOptions, dst: Path, mean: Optional[List[float]] = None,
                    std: Optional[List[float]] = None) -> Tuple[Dict[str, Any], List[Dict[str, Any]], List[str], int]:
    """Copy the user's ONNX into the bundle; returns (input spec, outputs, labels, num_classes)."""
    from .tasks.preprocess import IMAGENET

    assert opts.onnx is not None
    task = Task(opts.task)
    input_spec, outputs, ncls = inspect_onnx(opts.onnx, task)
    if opts.width_mult is not None or opts.resolution is not None:
        raise EdgeError("--width-mult/--resolution do not apply to an ONNX model taken as-is",
                        "leave them out; the ONNX file fixes the architecture")
    labels = read_labels(opts.labels) if opts.labels else None
    if ncls == 0:
        ncls = len(labels) if labels else 0
    if labels is not None:
        check_label_count(labels, ncls, str(opts.labels))
    labels = labels or default_labels(task.value, ncls)
    input_spec.update(mean=list(mean or IMAGENET.mean), std=list(std or IMAGENET.std))
    shutil.copyfile(opts.onnx, dst)
    return input_spec, outputs, labels, ncls
