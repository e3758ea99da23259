"""The class map inside the .tflite: ``build --target pi --task segment --in-model-argmax`` (host side).

Google's published DeepLab .tflite files end in ``ARG_MAX``: the device gets an int32 (1, R, R)
class map instead of (1, R, R, classes) scores, and skips numpy's argmax over them (at 513x513x21,
~4 ms of CPU per frame here, against ~1 ms for the op inside LiteRT; docs/camera.md). The cost:
no per-pixel scores leave the model.

As with ``--in-model-nms``, the bundle's model is replaced by this file once the scores model has
passed its checks (parity, int8 gate). int8 calibrates on the same images, so the quantised scores
before the op are the same; the build then compares both models' masks on the held-out images
(``reports.in_model_argmax``) and fails as a bug if they differ on more than 0.1% of the pixels.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...build_options import BuildOptions, Precision
from ...errors import EdgeError
from ...model_source import ModelSource
from ...tasks.base import Task

__all__ = ["add_in_model_argmax", "MIN_PIXELS_EQUAL"]

MIN_PIXELS_EQUAL = 0.999


def _convert(src: ModelSource, precision: Precision, calib: List[np.ndarray]) -> bytes:
    from .tf_twin import InputAffine, concrete_function, convert_float

    mean, std = src.normalization.mean, src.normalization.std
    if precision is not Precision.int8:
        return convert_float(concrete_function(src.model, "segment", src.resolution, mean, std, argmax=True),
                             precision)
    from ...calibration.tflite_int8 import convert_int8

    affine = InputAffine.for_int8(mean, std)
    cf = concrete_function(src.model, "segment", src.resolution, mean, std, affine, argmax=True)
    return convert_int8(cf, calib, src.resolution, affine)[0]


def _io(ref_io: Dict[str, Any], path: Path, threads: Optional[int]) -> Dict[str, Any]:
    from .runner import TFLiteRunner

    with TFLiteRunner(path, threads=threads) as r:
        (spec,) = r.output_specs()
    out = {"name": "class_map", "shape": list(spec.shape), "layout": "NHW", "dtype": spec.dtype,
           "activation": "argmax", "runtime_name": spec.name}
    return {"input": ref_io["input"], "outputs": [out]}


def _masks_equal(src: ModelSource, ref: Tuple[Dict[str, Any], Path], test: Tuple[Dict[str, Any], Path],
                 images: Sequence[np.ndarray], threads: Optional[int]) -> Dict[str, Any]:
    from ...model_io import ModelIO
    from ...predictor import Predictor
    from ...tasks.preprocess import Normalization
    from .runner import TFLiteRunner

    def predictor(io: Dict[str, Any], path: Path) -> Predictor:
        model_io = ModelIO.from_manifest({"task": "segment", **io})
        return Predictor.from_io(TFLiteRunner(path, threads=threads), model_io, src.labels,
                                 normalization=Normalization.from_dict(io["input"]))

    equal = total = 0
    with predictor(*ref) as a, predictor(*test) as b:
        for img in images:
            ma, mb = a.predict(img).mask, b.predict(img).mask
            equal, total = equal + int(np.sum(ma == mb)), total + ma.size
    return {"images": len(images), "reference": "the same model's scores with numpy's argmax",
            "pixels_equal": equal / total}


def add_in_model_argmax(src: ModelSource, opts: BuildOptions, model_path: Path, ref_io: Dict[str, Any],
                        flow: Any, say: Callable[[str], None]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Replace the checked scores ``model_path`` by its in-model-argmax twin; returns (manifest io, report)."""
    from ...data.synthetic import synthetic_frame
    from ...fileio import atomic_write_bytes

    if src.task is not Task.segment:
        raise EdgeError("--in-model-argmax is for --task segment")
    cal, images = flow.split() if flow is not None else ([], [])
    images = (images or cal or [synthetic_frame(i, src.resolution, seed=opts.seed, task=Task.segment)
                                for i in range(4)])[:20]
    say("adding the class-map argmax to the .tflite (ARG_MAX)")
    with tempfile.TemporaryDirectory(prefix="edgemnv2-argmax-") as d:
        ref_path = Path(d) / "scores.tflite"
        ref_path.write_bytes(model_path.read_bytes())
        atomic_write_bytes(model_path, _convert(src, opts.precision, cal))
        io = _io(ref_io, model_path, opts.threads)
        report = _masks_equal(src, (ref_io, ref_path), (io, model_path), images, opts.threads)
    say(f"in-model argmax vs numpy argmax: {report['pixels_equal']:.4%} of pixels equal on {report['images']} images")
    if report["pixels_equal"] < MIN_PIXELS_EQUAL:
        raise EdgeError(f"the in-model argmax differs from numpy's on {1 - report['pixels_equal']:.2%} of the pixels; "
                        "no bundle was written", "this is a bug: please report it (build without --in-model-argmax)")
    return io, report
