"""DeepStream ``nvinfer`` configuration from a bundle (``edgemnv2 export --deepstream DIR``).

nvinfer feeds the network ``y = net-scale-factor * (x - offsets[c])`` for pixel values ``x`` in 0..255,
with one scale factor for all channels. Our bundles record ``real = (x - mean[c]) / std[c]`` in pixel
units (docs/bundle.md), so ``offsets = mean`` and, where std is the same for every channel,
``net-scale-factor = 1 / std``. nvinfer has no per-channel scale: for per-channel std (ImageNet's
0.229/0.224/0.225 * 255) we use ``net-scale-factor = 1 / mean(std)`` and put a ``Mul`` by
``mean(std) / std[c]`` (shape 1x3x1x1) in front of the network in the ONNX written for DeepStream.
That is exact for any ONNX (fp32, or Q/DQ int8 whose input is float). Classifiers and segmenters
whose outputs are logits get a ``Softmax`` at the end, since nvinfer's classifier and segmentation
thresholds apply to probabilities. Detectors need our bounding-box parser (C++ source and Makefile
written beside the config; built on the device).

nvinfer builds and caches its own TensorRT engine from ``onnx-file`` on first start.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..bundle import Bundle
from ..errors import EdgeError, MissingDependency
from ..tasks.base import Task

__all__ = ["DeepStreamPlan", "plan_for", "infer_config_text", "app_config_text", "write_deepstream"]

ONNX_FILE = "model.deepstream.onnx"
PARSER_FUNC = "NvDsInferParseEdgemnv2"
PARSER_LIB = "libnvdsinfer_edgemnv2.so"
_NETWORK_TYPE = {Task.detect: 0, Task.classify: 1, Task.segment: 2}
_NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}


@dataclass
class DeepStreamPlan:
    """The numbers the nvinfer config and the DeepStream ONNX are written from."""

    task: Task
    precision: str
    net_scale_factor: float
    offsets: List[float]
    channel_scale: Optional[List[float]]  # Mul in front of the network (per-channel std), else None
    add_softmax: bool
    input_chw: List[int]
    output_names: List[str]
    source_onnx: Path
    num_classes: int
    postprocess: Dict[str, Any] = field(default_factory=dict)


def _source_onnx(bundle: Bundle) -> Path:
    model = bundle.manifest["model"]
    if bundle.model_format == "onnx":
        return bundle.model_path
    if bundle.model_format == "tensorrt":
        onnx = model.get("onnx") or {}
        rel = onnx.get("qdq") if bundle.precision == "int8" else onnx.get("fp32")
        if rel:
            return bundle.path(rel)
    raise EdgeError(f"bundle {bundle.root} ({bundle.target}) holds no ONNX model for DeepStream",
                    "export a cpu or jetson bundle (edgemnv2 build --target jetson ...)")


def plan_for(bundle: Bundle) -> DeepStreamPlan:
    """What nvinfer needs to feed and read ``bundle``'s network as edgemnv2 does."""
    inp = bundle.input
    if inp.get("layout") != "NCHW" or inp.get("dtype") != "float32":
        raise EdgeError(f"bundle {bundle.root} takes {inp.get('dtype')} {inp.get('layout')} input; "
                        "DeepStream's nvinfer feeds float32 NCHW")
    mean = [float(m) for m in inp.get("mean", (0.0, 0.0, 0.0))]
    std = [float(s) for s in inp.get("std", (1.0, 1.0, 1.0))]
    ref = float(np.mean(std))
    per_channel = max(std) - min(std) > 1e-9 * ref
    acts = [str(o.get("activation", "")) for o in bundle.outputs]
    softmax = bundle.task in (Task.classify, Task.segment) and "softmax" not in acts
    return DeepStreamPlan(
        task=bundle.task, precision=bundle.precision, net_scale_factor=1.0 / ref, offsets=mean,
        channel_scale=[ref / s for s in std] if per_channel else None, add_softmax=softmax,
        input_chw=[int(d) for d in inp["shape"][1:]],
        output_names=[str(o.get("runtime_name") or o["name"]) for o in bundle.outputs],
        source_onnx=_source_onnx(bundle), num_classes=int(bundle.manifest["num_classes"]),
        postprocess=dict(bundle.manifest.get("postprocess") or {}))


def deepstream_onnx(plan: DeepStreamPlan, out: Path) -> None:
    """Write the bundle's ONNX with the per-channel Mul in front and the Softmax at the end (as planned)."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise MissingDependency("onnx", "host", "writing the DeepStream ONNX") from None
    model = onnx.load(str(plan.source_onnx))
    graph = model.graph
    if plan.channel_scale is not None:
        name = graph.input[0].name
        scaled = name + "_per_channel_std"
        for node in graph.node:
            node.input[:] = [scaled if i == name else i for i in node.input]
        scale = np.asarray(plan.channel_scale, np.float32).reshape(1, -1, 1, 1)
        graph.initializer.append(numpy_helper.from_array(scale, "edgemnv2_channel_scale"))
        graph.node.insert(0, helper.make_node("Mul", [name, "edgemnv2_channel_scale"], [scaled],
                                              name="edgemnv2_per_channel_std"))
    if plan.add_softmax:
        out_name = graph.output[0].name
        logits = out_name + "_logits"
        for node in graph.node:
            node.output[:] = [logits if o == out_name else o for o in node.output]
        graph.node.append(helper.make_node("Softmax", [logits], [out_name], axis=1, name="edgemnv2_softmax"))
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def infer_config_text(plan: DeepStreamPlan, labels_file: str = "labels.txt") -> str:
    c, h, w = plan.input_chw
    lines = ["[property]", "gpu-id=0", f"net-scale-factor={plan.net_scale_factor!r}",
             "offsets=" + ";".join(repr(m) for m in plan.offsets),
             "model-color-format=0", f"onnx-file={ONNX_FILE}", f"labelfile-path={labels_file}",
             "batch-size=1", f"network-mode={_NETWORK_MODE[plan.precision]}",
             f"network-type={_NETWORK_TYPE[plan.task]}", f"infer-dims={c};{h};{w}", "network-input-order=0",
             "maintain-aspect-ratio=0", "process-mode=1", "gie-unique-id=1",
             "output-blob-names=" + ";".join(plan.output_names)]
    if plan.task is Task.detect:
        lines += [f"num-detected-classes={plan.num_classes}", "cluster-mode=2",
                  f"parse-bbox-func-name={PARSER_FUNC}", f"custom-lib-path=./{PARSER_LIB}", "",
                  "[class-attrs-all]",
                  f"pre-cluster-threshold={float(plan.postprocess.get('score_threshold', 0.3))!r}",
                  f"nms-iou-threshold={float(plan.postprocess.get('iou_threshold', 0.45))!r}", "topk=100"]
    elif plan.task is Task.classify:
        lines += ["classifier-threshold=0.0"]
    else:
        lines += [f"num-detected-classes={plan.num_classes}", "segmentation-threshold=0.0"]
    return "\n".join(lines) + "\n"


def app_config_text(sources: int, width: int = 1280, height: int = 720) -> str:
    """A deepstream-app config: ``sources`` file sources (edit the URIs) tiled, our nvinfer config as primary."""
    rows = int(np.ceil(np.sqrt(sources)))
    cols = int(np.ceil(sources / rows))
    parts = ["[application]\nenable-perf-measurement=1\nperf-measurement-interval-sec=5",
             f"[tiled-display]\nenable=1\nrows={rows}\ncolumns={cols}\nwidth={width}\nheight={height}"]
    parts += [f"[source{i}]\nenable=1\n# 3 = multiple URI; use rtsp://... for cameras\ntype=3\n"
              f"uri=file:///path/to/video{i}.mp4\nnum-sources=1" for i in range(sources)]
    parts += [f"[streammux]\nbatch-size={sources}\nwidth={width}\nheight={height}\nbatched-push-timeout=40000\n"
              "live-source=0",
              f"[primary-gie]\nenable=1\nbatch-size={sources}\nconfig-file=config_infer_primary.txt",
              "[osd]\nenable=1", "[sink0]\nenable=1\n# 2 = on-screen (EGL); 1 = fakesink for headless runs\ntype=2\n"
              "sync=0"]
    return "\n\n".join(parts) + "\n"


def _labels_text(bundle: Bundle) -> str:
    labels = bundle.labels or [str(i) for i in range(int(bundle.manifest["num_classes"]))]
    if bundle.task is Task.classify:  # nvinfer classifiers: one line per output layer, classes split by ';'
        return ";".join(labels) + "\n"
    return "\n".join(labels) + "\n"


def write_deepstream(bundle: Bundle, out: Path, sources: int = 1) -> Path:
    """Write ``out/`` with the DeepStream ONNX, labels, nvinfer config, deepstream-app config and parser."""
    from ..fileio import staged_dir

    if sources < 1:
        raise EdgeError("--sources must be >= 1")
    if out.exists():
        raise EdgeError(f"{out} already exists", "remove it or choose another --deepstream directory")
    plan = plan_for(bundle)
    with staged_dir(out, overwrite=False) as tmp:
        deepstream_onnx(plan, tmp / ONNX_FILE)
        (tmp / "labels.txt").write_text(_labels_text(bundle))
        (tmp / "config_infer_primary.txt").write_text(infer_config_text(plan))
        (tmp / "deepstream_app_config.txt").write_text(app_config_text(sources))
        if plan.task is Task.detect:
            here = Path(__file__).parent
            shutil.copyfile(here / "nvdsinfer_edgemnv2.cpp", tmp / "nvdsinfer_edgemnv2.cpp")
            shutil.copyfile(here / "Makefile.deepstream", tmp / "Makefile")
    return out
