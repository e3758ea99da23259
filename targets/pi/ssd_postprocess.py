"""SSD post-processing inside the .tflite: ``build --target pi --task detect --in-model-nms`` (host side).

TFLite's own custom op ``TFLite_Detection_PostProcess`` (built into LiteRT and tflite-runtime)
decodes the boxes against the anchors and runs NMS, so the device does no NMS in numpy. This is
the layout of Google's SSD TFLite detectors (TF Object Detection API, Coral, Model Maker).

How it is made, as TF Object Detection API's ``export_tflite_graph_lib_tf2`` does: a ``tf.function``
declared with ``experimental_implements='name: "TFLite_Detection_PostProcess" attr {...}'`` whose
body is a placeholder; converted from a SavedModel (the concrete-function path inlines the placeholder
away) with ``allow_custom_ops``, the converter puts the op in its place. Op inputs: box encodings
(1, A, 4) as (y, x, h, w) regressions, class scores (1, A, classes + 1) with background first, anchors
(A, 4) as (ycenter, xcenter, h, w). Outputs: boxes (1, K, 4) ymin, xmin, ymax, xmax normalised,
classes (1, K) without the background, scores (1, K), count (1,). For int8 the network is int8 and
the op and its outputs stay float (class indices and the count must stay exact).

The bundle's model is replaced by this file once the 2-output model passed its checks; the build
then compares both on the same images (``reports.in_model_nms``: matched detections).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ...build_options import BuildOptions, Precision
from ...errors import EdgeError
from ...model_source import ModelSource
from ...tasks.base import Task

__all__ = ["add_in_model_nms", "implements_signature", "convert_ssd", "MAX_DETECTIONS", "match_detections"]

MAX_DETECTIONS = 100
OP = "TFLite_Detection_PostProcess"


def implements_signature(num_classes: int, score_threshold: float, iou_threshold: float,
                         max_detections: int = MAX_DETECTIONS) -> str:
    """The op's attributes; ``num_classes`` excludes the background. Per-class ("regular") NMS, as in numpy."""
    from ...tasks.detect import BOX_SCALES

    sx, sy, sw, sh = BOX_SCALES
    attrs = [("max_detections", "i", max_detections), ("max_classes_per_detection", "i", 1),
             ("detections_per_class", "i", max_detections), ("use_regular_nms", "b", "true"),
             ("nms_score_threshold", "f", f"{score_threshold:f}"), ("nms_iou_threshold", "f", f"{iou_threshold:f}"),
             ("y_scale", "f", f"{sy:f}"), ("x_scale", "f", f"{sx:f}"), ("h_scale", "f", f"{sh:f}"),
             ("w_scale", "f", f"{sw:f}"), ("num_classes", "i", num_classes)]
    return " ".join([f'name: "{OP}"'] + [f'attr {{ key: "{k}" value {{ {t}: {v} }} }}' for k, t, v in attrs])


def _module(src: ModelSource, score_threshold: float, iou_threshold: float) -> Any:
    """A tf.Module whose ``serve(images)`` returns the op's four outputs."""
    import tensorflow as tf

    from .tf_twin import detect_heads, input_stage

    anchors = src.model.anchors.detach().cpu().numpy().astype(np.float32)  # (A, 4) cx, cy, w, h
    yxhw = np.ascontiguousarray(anchors[:, [1, 0, 3, 2]])

    @tf.function(experimental_implements=implements_signature(src.num_classes - 1, score_threshold, iou_threshold))
    def post(box_encodings: Any, class_predictions: Any, anchors: Any) -> Tuple[Any, ...]:
        z = tf.constant(0.0, tf.float32)  # placeholder: the converter puts the op here
        return z, z, z, z

    r = src.resolution

    def serve(images: Any) -> Tuple[Any, ...]:
        b, x = input_stage(images, src.normalization.mean, src.normalization.std)  # pixels in, folded
        regs, logits = detect_heads(b, src.model, x)
        enc = tf.concat([regs[..., 1:2], regs[..., 0:1], regs[..., 3:4], regs[..., 2:3]], axis=-1)  # y, x, h, w
        return post(enc, tf.nn.softmax(logits, axis=-1), tf.constant(yxhw))

    mod = tf.Module()
    mod.serve = tf.function(serve, autograph=False,
                            input_signature=[tf.TensorSpec([1, r, r, 3], tf.float32, name="images")])
    return mod


def convert_ssd(src: ModelSource, precision: Precision, cal_images: Sequence[np.ndarray], score_threshold: float,
                iou_threshold: float) -> bytes:
    """.tflite bytes with the op at the end: fp32, fp16 (weights) or int8 (uint8 pixels in, float outputs)."""
    import tensorflow as tf

    from ...interrupts import signals_deferred

    mod = _module(src, score_threshold, iou_threshold)
    with tempfile.TemporaryDirectory(prefix="edgemnv2-ssd-") as d:
        tf.saved_model.save(mod, d, signatures=mod.serve.get_concrete_function())
        conv = tf.lite.TFLiteConverter.from_saved_model(d)
        conv.allow_custom_ops = True
        if precision is Precision.fp16:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif precision is Precision.int8:
            from ...calibration.tflite_int8 import representative_dataset

            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative_dataset(cal_images, src.resolution)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.uint8
        with signals_deferred():  # native converter: take Ctrl-C after it returns
            model = conv.convert()
            if precision is not Precision.int8:
                return model
            flt = tf.lite.TFLiteConverter.from_saved_model(d)  # the float twin: weights for the int8 scales
            flt.allow_custom_ops = True
            float_model = flt.convert()
    from ...calibration.tflite_int8 import regrid_weights

    return regrid_weights(model, float_model)[0]  # the same weight scales as the 2-output int8 model


def _io(src: ModelSource, path: Path, threads: Optional[int]) -> Dict[str, Any]:
    """Manifest input/outputs/postprocess of the SSD file; outputs named by the op's output position."""
    from ...model_io import SSD_OUTPUTS
    from ...model_io_rules import tflite_io
    from .runner import TFLiteRunner

    io = tflite_io(path, Task.detect)
    kinds = {o.name: o.kind for o in io.outputs}
    names = dict(zip(SSD_OUTPUTS, ("boxes", "classes", "scores", "count")))
    with TFLiteRunner(path, threads=threads) as runner:
        spec = runner.input_specs()[0]
        specs = runner.output_specs()
    if sorted(kinds.values(), key=SSD_OUTPUTS.index) != list(SSD_OUTPUTS) or len(specs) != 4:
        raise EdgeError(f"the converted model's outputs are not the four of {OP}", "this is a bug: please report it")
    r = src.resolution
    inp: Dict[str, Any] = {"name": spec.name, "shape": [1, r, r, 3], "layout": "NHWC", "dtype": spec.dtype,
                           "color": "RGB", "resize": "bilinear", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                           "normalization_in_graph": src.normalization.to_dict()}
    if spec.quant is not None:
        inp["quantization"] = {"scale": spec.quant[0], "zero_point": spec.quant[1]}
    shapes = {"boxes": [1, MAX_DETECTIONS, 4], "classes": [1, MAX_DETECTIONS], "scores": [1, MAX_DETECTIONS],
              "count": [1]}
    outs = sorted(({"name": names[kinds[s.name]], "runtime_name": s.name, "shape": shapes[names[kinds[s.name]]],
                    "dtype": s.dtype, "layout": OP} for s in specs), key=lambda o: list(shapes).index(o["name"]))
    post = {"nms": "in-model", "op": OP, "box_format": "yxyx_normalized", "background_class": 0, "label_offset": 1,
            "score_threshold": src.score_threshold, "iou_threshold": 0.45, "max_detections": MAX_DETECTIONS}
    return {"input": inp, "outputs": outs, "postprocess": post}


def match_detections(ref: Sequence[Any], test: Sequence[Any], iou: float = 0.5, score_tol: float = 0.05) -> int:
    """How many ``ref`` detections have a ``test`` one of the same class, IoU >= ``iou``, score within tolerance."""
    from ...tasks.detect import box_iou

    used: set = set()
    matched = 0
    for d in ref:
        for j, t in enumerate(test):
            if j in used or t.index != d.index or abs(t.score - d.score) > score_tol:
                continue
            if box_iou(np.array([d.box]), np.array([t.box]))[0, 0] >= iou:
                used.add(j)
                matched += 1
                break
    return matched


def _agreement(src: ModelSource, ref_io: Dict[str, Any], ref_path: Path, ssd_io: Dict[str, Any], ssd_path: Path,
               images: Sequence[np.ndarray], threads: Optional[int]) -> Dict[str, Any]:
    from ...model_io import ModelIO
    from ...predictor import DetectOptions, Predictor
    from ...tasks.preprocess import Normalization
    from .runner import TFLiteRunner

    same = DetectOptions(src.score_threshold, 0.45, MAX_DETECTIONS)

    def predictor(io: Dict[str, Any], path: Path) -> Predictor:
        model_io = ModelIO.from_manifest({"task": "detect", **io})
        norm = Normalization.from_dict(io["input"])  # the int8 reference takes shifted pixels, the SSD file pixels
        return Predictor.from_io(TFLiteRunner(path, threads=threads), model_io, src.labels, normalization=norm,
                                 detect_options=same)

    n_ref = n_test = matched = 0
    with predictor(ref_io, ref_path) as ref, predictor(ssd_io, ssd_path) as ssd:
        for img in images:
            a, b = ref.predict(img).detections, ssd.predict(img).detections
            n_ref, n_test, matched = n_ref + len(a), n_test + len(b), matched + match_detections(a, b)
    return {"images": len(images), "reference": "the same model with NMS in numpy", "reference_detections": n_ref,
            "detections": n_test, "matched": matched,
            "agreement": matched / max(n_ref, n_test) if max(n_ref, n_test) else 1.0}


def add_in_model_nms(src: ModelSource, opts: BuildOptions, model_path: Path, ref_io: Dict[str, Any],
                     flow: Any, say: Callable[[str], None]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Replace the checked 2-output ``model_path`` by its in-model-NMS twin; returns (manifest io, report).

    int8 (``flow``: the build's ``calibration.flow.Int8Flow``) calibrates on the images the 2-output
    model was calibrated with (the same hold-out split) and compares on the held-out ones.
    """
    from ...data.synthetic import synthetic_frame
    from ...fileio import atomic_write_bytes

    if src.task is not Task.detect:
        raise EdgeError("--in-model-nms is for --task detect")
    cal, images = flow.split() if flow is not None else ([], [])
    images = images or cal
    if not images:
        images = [synthetic_frame(i, src.resolution, seed=opts.seed) for i in range(8)]
    say(f"adding the SSD post-processing to the .tflite ({OP}, per-class NMS)")
    with tempfile.TemporaryDirectory(prefix="edgemnv2-ssd-") as d:
        ref_path = Path(d) / "two_outputs.tflite"
        ref_path.write_bytes(model_path.read_bytes())
        atomic_write_bytes(model_path, convert_ssd(src, opts.precision, cal, src.score_threshold, 0.45))
        io = _io(src, model_path, opts.threads)
        report = _agreement(src, ref_io, ref_path, io, model_path, images[:20], opts.threads)
    say(f"in-model NMS vs numpy NMS: {report['matched']} of {report['reference_detections']} detections matched "
        f"({report['detections']} in-model) on {report['images']} images")
    return io, report
