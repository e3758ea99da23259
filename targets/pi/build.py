"""Raspberry Pi bundle (``edgemnv2 build --target pi``): a .tflite model for LiteRT / tflite-runtime (host side).

Steps: (int8: read and check the calibration images first, so bad ``--calib`` input fails in
seconds) -> PyTorch model -> its TensorFlow twin (``targets/pi/tf_twin.py``) -> TFLiteConverter
fp32 / fp16 -> fp32 parity vs PyTorch (<= 1e-4 on classification logits, else the build fails) ->
int8: the shared flow (``calibration/flow.py``) with full-integer conversion as its calibration
step, compared with fp32 and gated -> bundle written atomically (nothing is left behind on any
failure).

Bundle input contract: RGB pixels NHWC; float32 0..255 for fp32/fp16 (manifest mean/std 0/1), int8
pixels shifted by an integer for int8 (manifest mean = that integer, std = the model's uniform std or
1; ``tf_twin.InputAffine``). The rest of the normalisation is folded into the graph (first
convolution, plus one ADD only for per-channel means). ``model.ops`` records the op inventory.
Outputs keep the task contract; each records its TFLite tensor name as ``runtime_name``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ...build_options import BuildOptions, Precision
from ...bundle import write_manifest
from ...errors import EdgeError, MissingDependency
from ...fileio import atomic_write_bytes, atomic_write_text, staged_dir
from ...finite import max_abs_diff
from ...labels import labels_text
from ...model_source import ModelSource, base_manifest, onnx_output_specs, resolve_source
from ...sysinfo import library_versions
from ...tasks.base import Task
from ...tasks.preprocess import Normalization

PIXELS = Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # float graphs take pixels as they are

if TYPE_CHECKING:
    from ...calibration.flow import Int8Flow, Int8Result

__all__ = ["build_pi_bundle", "tflite_parity", "PARITY_LIMIT"]

Progress = Optional[Callable[[str], None]]
PARITY_LIMIT = 1e-4  # max |fp32 TFLite - PyTorch| on classification logits
MODEL_FILE = "model.tflite"


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise MissingDependency("tensorflow-cpu", "host", "building Raspberry Pi (.tflite) bundles") from None
    return tf


def _torch_reference(src: ModelSource, pixels: np.ndarray) -> List[np.ndarray]:
    """PyTorch outputs for NHWC float pixels, in the TFLite layouts (segment logits NHWC)."""
    import torch

    mean = np.asarray(src.normalization.mean, np.float32)
    std = np.asarray(src.normalization.std, np.float32)
    x = torch.from_numpy(np.ascontiguousarray(((pixels - mean) / std).transpose(0, 3, 1, 2)))
    with torch.no_grad():
        ref = src.model(x)
    ref = list(ref) if isinstance(ref, (tuple, list)) else [ref]
    out = [r.numpy() for r in ref]
    if src.task is Task.segment:
        out = [np.transpose(out[0], (0, 2, 3, 1))]
    return out


def tflite_parity(src: ModelSource, tflite_path: Path, n: int = 2, seed: int = 0,
                  threads: Optional[int] = None) -> Dict[str, Any]:
    """Max abs difference of a float .tflite vs PyTorch on the same random pixel images, per output."""
    from .runner import TFLiteRunner

    rng = np.random.default_rng(seed)
    r = src.resolution
    worst: Dict[str, float] = {}
    with TFLiteRunner(tflite_path, threads=threads) as runner:
        spec = runner.input_specs()[0]
        names = [s.name for s in runner.output_specs()]
        for _ in range(n):
            px = rng.integers(0, 256, (1, r, r, 3)).astype(np.float32)
            got = runner.infer({spec.name: px})
            for name, ref in zip(names, _torch_reference(src, px)):
                worst[name] = max(worst.get(name, 0.0), max_abs_diff(got[name], ref, "TFLite parity check", name))
        desc = runner.describe()
    return {"reference": "pytorch", "runtime": f"{desc['runtime']} {desc['version']}", "inputs": n,
            "max_abs_diff": max(worst.values()), "per_output": worst}


def _io_specs(src: ModelSource, runner: Any, norm: Normalization = PIXELS) -> Dict[str, Any]:
    """Manifest ``input`` and ``outputs`` for a converted model (dtypes and quantisation read from it)."""
    r = src.resolution
    spec = runner.input_specs()[0]
    inp: Dict[str, Any] = {"name": spec.name, "shape": [1, r, r, 3], "layout": "NHWC", "dtype": spec.dtype,
                           "color": "RGB", "resize": "bilinear", "mean": list(norm.mean), "std": list(norm.std),
                           "normalization_in_graph": src.normalization.to_dict()}
    if spec.quant is not None:
        inp["quantization"] = {"scale": spec.quant[0], "zero_point": spec.quant[1]}
    outs = onnx_output_specs(src)
    if src.task is Task.segment:
        outs[0].update(shape=[1, r, r, src.num_classes], layout="NHWC")
    got = sorted(runner.output_specs(), key=_output_position)
    if len(got) != len(outs):
        raise EdgeError(f"converted model has {len(got)} outputs, expected {len(outs)}", "this is a bug")
    for o, s in zip(outs, got):  # the converter keeps the graph's output order
        if list(s.shape) != o["shape"]:
            raise EdgeError(f"converted output {s.name} has shape {list(s.shape)}, expected {o['shape']}",
                            "this is a bug")
        o.update(runtime_name=s.name, dtype=s.dtype)
        if s.quant is not None:
            o["quantization"] = {"scale": s.quant[0], "zero_point": s.quant[1]}
    return {"input": inp, "outputs": outs}


def _output_position(spec: Any) -> int:
    """Graph output position from a TFLite output name: Identity -> 0, Identity_2 -> 2, "x:1" -> 1."""
    import re

    m = re.search(r"(?:_|:)(\d+)$", spec.name)
    return int(m.group(1)) if m else 0


def _op_counts(path: Path) -> Dict[str, int]:
    from .runner import TFLiteRunner

    with TFLiteRunner(path, xnnpack=False) as r:
        return r.op_counts()


def build_pi_bundle(opts: BuildOptions, progress: Progress = None, source: Optional[ModelSource] = None
                    ) -> Dict[str, Any]:
    """Convert, check parity (and int8 quality), write the Pi bundle atomically; returns the manifest.

    ``source`` (API only) gives an already-made model instead of resolving ``opts``' weights, e.g. a
    model with its own normalisation; ``opts.task`` and ``opts.out`` still apply.
    """
    from ...calibration.flow import Int8Flow

    say = progress or (lambda _m: None)
    prec = opts.precision
    flow = Int8Flow.load(opts, say) if opts.int8 else None
    say("loading model")
    src = source if source is not None else resolve_source(opts)
    for note in src.notes:
        say(note)
    tf_ = _tensorflow()
    from .runner import TFLiteRunner
    from .tf_twin import concrete_function, convert_float

    say(f"building the TensorFlow graph (tensorflow {tf_.__version__})")
    cf = concrete_function(src.model, src.task.value, src.resolution, src.normalization.mean, src.normalization.std)
    with tempfile.TemporaryDirectory(prefix="edgemnv2-pi-") as work_dir, staged_dir(opts.out) as tmp:
        work = Path(work_dir)
        say("converting to TFLite fp32")
        fp32_path = work / "fp32.tflite"
        atomic_write_bytes(fp32_path, convert_float(cf, Precision.fp32))
        say("checking TFLite fp32 against PyTorch")
        parity = tflite_parity(src, fp32_path, threads=opts.threads)
        if src.task is Task.classify and parity["max_abs_diff"] > PARITY_LIMIT:
            raise EdgeError(f"fp32 TFLite differs from PyTorch by {parity['max_abs_diff']:.2e} on the logits "
                            f"(limit {PARITY_LIMIT:.0e}); no bundle was written", "this is a bug: please report it")
        reports: Dict[str, Any] = {"parity": parity}
        model_path = tmp / MODEL_FILE
        int8: Optional[Int8Result] = None
        if prec is Precision.fp32:
            atomic_write_bytes(model_path, fp32_path.read_bytes())
        elif prec is Precision.fp16:
            say("converting to TFLite fp16 (fp16 weights, float32 input/outputs)")
            atomic_write_bytes(model_path, convert_float(cf, Precision.fp16))
            reports["parity_fp16"] = tflite_parity(src, model_path, threads=opts.threads)
        if flow is not None:
            int8, io = _int8(opts, src, flow, fp32_path, model_path)
            reports["accuracy"] = int8.report
        else:
            with TFLiteRunner(model_path, threads=opts.threads) as runner:
                io = _io_specs(src, runner)
        if opts.in_model_nms:  # detect: the checked model gets TFLite_Detection_PostProcess (4 outputs)
            from .ssd_postprocess import add_in_model_nms

            io, reports["in_model_nms"] = add_in_model_nms(src, opts, model_path, io, flow, say)
        if opts.in_model_argmax:  # segment: the checked model gets ARG_MAX (a class map, like Google's DeepLab)
            from .argmax import add_in_model_argmax

            io, reports["in_model_argmax"] = add_in_model_argmax(src, opts, model_path, io, flow, say)
        from .tflite_metadata import write_metadata

        write_metadata(model_path, src, io)  # standard TFLite Model Metadata: normalisation, labels, task
        atomic_write_text(tmp / "labels.txt", labels_text(src.labels))
        manifest = base_manifest(src, "pi", prec, MODEL_FILE, "tflite", io["input"], io["outputs"])
        manifest["postprocess"] = io.get("postprocess", manifest["postprocess"])
        manifest["model"].update(converter=f"tensorflow {tf_.__version__} TFLiteConverter (from_concrete_functions)",
                                 graph="edgemnv2.targets.pi.tf_twin", ops=_op_counts(model_path))
        manifest["reports"] = reports
        if int8 is not None:
            manifest["calibration"] = int8.calibration
            manifest["warnings"] += int8.warnings
            if src.origin == "random":
                manifest["warnings"].append("int8 quality was measured on random weights: the numbers are meaningless")
        manifest["versions"] = library_versions("torch", "tensorflow", "tensorflow-cpu", "ai-edge-litert", "numpy")
        manifest = write_manifest(tmp, manifest)
    return manifest


def _int8(opts: BuildOptions, src: ModelSource, flow: Int8Flow, fp32_path: Path, model_path: Path
          ) -> Tuple[Int8Result, Dict[str, Any]]:
    """The int8 flow with TFLite's converter; returns its result and the int8 model's manifest I/O.

    Each model is loaded once here: its runner gives the I/O specs and then runs the comparison.
    """
    from ...calibration.tflite_int8 import (
        METHOD,
        QUANTIZATION,
        check_input_quantization,
        convert_int8,
        input_normalization,
    )
    from ...predictor import Predictor
    from .runner import TFLiteRunner
    from .tf_twin import InputAffine, concrete_function

    io: Dict[str, Any] = {}
    affine = InputAffine.for_int8(src.normalization.mean, src.normalization.std)
    norms = {fp32_path.name: PIXELS, model_path.name: input_normalization(affine)}

    def calibrate(images: List[np.ndarray]) -> Dict[str, Any]:
        cf8 = concrete_function(src.model, src.task.value, src.resolution, src.normalization.mean,
                                src.normalization.std, affine)
        model, grid = convert_int8(cf8, images, src.resolution, affine)
        atomic_write_bytes(model_path, model)
        return {"method": METHOD, "quantization": dict(QUANTIZATION, weights_on_own_grid=grid)}

    def predictor(path: Path) -> Predictor:
        runner = TFLiteRunner(path, threads=opts.threads).activate()
        io[path.name] = _io_specs(src, runner, norms[path.name])
        return Predictor(runner, src.task, src.labels, norms[path.name], io[path.name])

    def predictors() -> Tuple[Predictor, Predictor]:
        ref = predictor(fp32_path)
        try:
            return ref, predictor(model_path)
        except BaseException:
            ref.deactivate()
            raise

    result = flow.run(src.task, src.labels, calibrate, predictors)
    check_input_quantization(io[model_path.name]["input"].get("quantization"), affine)
    return result, io[model_path.name]
