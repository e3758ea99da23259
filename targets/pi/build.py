"""Raspberry Pi bundle (``edgemnv2 build --target pi``): a .tflite model for LiteRT / tflite-runtime (host side).

Steps: (int8: read and check the calibration images first, so bad ``--calib`` input fails in
seconds) -> PyTorch model -> its TensorFlow twin (``targets/pi/tf_twin.py``) -> TFLiteConverter
fp32 / fp16 / full-integer int8 -> fp32 parity vs PyTorch (<= 1e-4 on classification logits, else
the build fails) -> int8: quality vs fp32 on held-out images in task terms, gated by ``--max-drop``
-> bundle written atomically (nothing is left behind on any failure).

Bundle input contract: raw RGB pixels NHWC (float32 0..255 for fp32/fp16, uint8 with scale 1 /
zero point 0 for int8); the normalisation is inside the graph, so the manifest's mean/std are 0/1.
Outputs keep the task contract; each records its TFLite tensor name as ``runtime_name``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ...bundle import write_manifest
from ...errors import EdgeError, MissingDependency
from ...fileio import atomic_write_bytes, atomic_write_text, staged_dir
from ...labels import labels_text
from ...model_source import BuildOptions, ModelSource, base_manifest, onnx_output_specs, resolve_source
from ...sysinfo import library_versions
from ...tasks.base import Task

__all__ = ["build_pi_bundle", "convert_float", "tflite_parity", "PARITY_LIMIT", "PRECISIONS"]

Progress = Optional[Callable[[str], None]]
PRECISIONS = ("fp32", "fp16", "int8")
PARITY_LIMIT = 1e-4  # max |fp32 TFLite - PyTorch| on classification logits
MODEL_FILE = "model.tflite"


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise MissingDependency("tensorflow-cpu", "host", "building Raspberry Pi (.tflite) bundles") from None
    return tf


def convert_float(concrete_fn: Any, precision: str = "fp32") -> bytes:
    """fp32 (or fp16-weight) .tflite bytes with float32 input and outputs."""
    tf = _tensorflow()
    from .tf_twin import new_converter

    conv = new_converter(concrete_fn)
    if precision == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    from ...interrupts import signals_deferred

    with signals_deferred():  # native converter: take Ctrl-C after it returns
        return conv.convert()


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
                worst[name] = max(worst.get(name, 0.0), float(np.abs(got[name].astype(np.float32) - ref).max()))
        desc = runner.describe()
    return {"reference": "pytorch", "runtime": f"{desc['runtime']} {desc['version']}", "inputs": n,
            "max_abs_diff": max(worst.values()), "per_output": worst}


def _load_calibration(opts: BuildOptions, say: Callable[[str], None]) -> Any:
    from ...calibration.images import load_calibration_images

    calib = load_calibration_images(opts.calib, opts.calib_count, allow_fewer=True, seed=opts.seed)
    if len(calib.images) < 2:
        raise EdgeError(f"calibration folder {calib.folder} has {len(calib.images)} usable image, int8 needs at least "
                        "2 (some are held out to measure the int8 quality)", "add images: a few hundred is best")
    say(f"calibration: {len(calib.images)} images from {calib.folder}")
    if len(calib.images) < opts.calib_count:
        say(f"warning: calibration folder {calib.folder} has only {len(calib.images)} usable images, fewer than "
            f"--calib-count {opts.calib_count}: using them all")
    if calib.skipped:
        first = next(iter(calib.skipped.items()))
        say(f"calibration: skipped {len(calib.skipped)} unusable file(s), e.g. {first[0]}: {first[1]}")
    if calib.converted:
        first = next(iter(calib.converted.items()))
        say(f"calibration: converted {len(calib.converted)} image(s) to RGB 8-bit, e.g. {first[0]}: {first[1]}")
    return calib


def _io_specs(src: ModelSource, runner: Any) -> Dict[str, Any]:
    """Manifest ``input`` and ``outputs`` for a converted model (dtypes and quantisation read from it)."""
    r = src.resolution
    spec = runner.input_specs()[0]
    inp: Dict[str, Any] = {"name": spec.name, "shape": [1, r, r, 3], "layout": "NHWC", "dtype": spec.dtype,
                           "color": "RGB", "resize": "bilinear", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
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
    ``opts.extra["eval"]``: a labelled dataset (edgemnv2.data.readers layouts, its ``val/`` split if
    any) to evaluate int8 on with real labels; then every ``--calib`` image calibrates.
    """
    say = progress or (lambda _m: None)
    prec = opts.precision
    if prec not in PRECISIONS:
        raise EdgeError(f"--target pi builds fp32, fp16 or int8, not {prec}")
    calib = _load_calibration(opts, say) if prec == "int8" else None
    if prec != "int8" and opts.calib is not None:
        say(f"note: --calib is only used for int8; ignored for {prec}")
    say("loading model")
    src = source if source is not None else resolve_source(opts)
    for note in src.notes:
        say(note)
    tf_ = _tensorflow()
    from .runner import TFLiteRunner
    from .tf_twin import concrete_function

    say(f"building the TensorFlow graph (tensorflow {tf_.__version__})")
    cf = concrete_function(src.model, src.task.value, src.resolution, src.normalization.mean, src.normalization.std)
    with tempfile.TemporaryDirectory(prefix="edgemnv2-pi-") as work_dir, staged_dir(opts.out) as tmp:
        work = Path(work_dir)
        say("converting to TFLite fp32")
        fp32_path = work / "fp32.tflite"
        atomic_write_bytes(fp32_path, convert_float(cf, "fp32"))
        say("checking TFLite fp32 against PyTorch")
        parity = tflite_parity(src, fp32_path, threads=opts.threads)
        if src.task is Task.classify and parity["max_abs_diff"] > PARITY_LIMIT:
            raise EdgeError(f"fp32 TFLite differs from PyTorch by {parity['max_abs_diff']:.2e} on the logits "
                            f"(limit {PARITY_LIMIT:.0e}); no bundle was written", "this is a bug: please report it")
        reports: Dict[str, Any] = {"parity": parity}
        model_path = tmp / MODEL_FILE
        calibration = None
        if prec == "fp32":
            atomic_write_bytes(model_path, fp32_path.read_bytes())
        elif prec == "fp16":
            say("converting to TFLite fp16 (fp16 weights, float32 input/outputs)")
            atomic_write_bytes(model_path, convert_float(cf, "fp16"))
            reports["parity_fp16"] = tflite_parity(src, model_path, threads=opts.threads)
        else:
            calibration, reports["accuracy"] = _int8(opts, src, cf, calib, fp32_path, model_path, say)
        with TFLiteRunner(model_path, threads=opts.threads) as runner:
            io = _io_specs(src, runner)
        if prec == "int8":
            from ...calibration.tflite_int8 import check_pixel_input

            check_pixel_input(io["input"].get("quantization"))
        atomic_write_text(tmp / "labels.txt", labels_text(src.labels))
        manifest = base_manifest(src, "pi", prec, MODEL_FILE, "tflite", io["input"], io["outputs"])
        manifest["model"].update(converter=f"tensorflow {tf_.__version__} TFLiteConverter (from_concrete_functions)",
                                 graph="edgemnv2.targets.pi.tf_twin", ops=_op_counts(model_path))
        manifest["calibration"] = calibration
        manifest["reports"] = reports
        if prec == "int8" and src.origin == "random":
            manifest["warnings"].append("int8 quality was measured on random weights: the numbers are meaningless")
        manifest["versions"] = library_versions("torch", "tensorflow", "tensorflow-cpu", "ai-edge-litert", "numpy")
        manifest = write_manifest(tmp, manifest)
        if "accuracy" in reports:
            from ...calibration.quality import check_max_drop

            check_max_drop(reports["accuracy"], opts.max_drop)
    return manifest


def _int8(opts: BuildOptions, src: ModelSource, cf: Any, calib: Any, fp32_path: Path, model_path: Path,
          say: Callable[[str], None]) -> tuple:
    """Calibrate, convert and evaluate int8; returns (manifest calibration, quality report)."""
    from ...calibration.quality import compare, split_holdout
    from ...calibration.tflite_int8 import METHOD, PIXELS, convert_int8
    from ...predictor import Predictor
    from .runner import TFLiteRunner

    if opts.extra.get("eval"):
        from ...calibration.quality import labelled_eval_set

        eval_images, targets, eval_from = labelled_eval_set(src.task, src.labels, opts.extra["eval"],
                                                            int(opts.extra.get("eval_count", 200)), say)
        cal_idx, held_idx = list(range(len(calib.images))), []
    else:
        cal_idx, held_idx = split_holdout(len(calib.images))
        if not held_idx:
            say("warning: only one calibration image: int8 is evaluated on the image it was calibrated with")
            held_idx = cal_idx
        eval_images = [calib.images[i] for i in held_idx]
        targets = None
        if src.task is Task.classify and calib.targets is not None:
            from ...calibration.quality import folder_class_targets

            targets = folder_class_targets(calib.class_names, [calib.targets[i] for i in held_idx], src.labels)
        eval_from = "held out from --calib"
    cal_images = [calib.images[i] for i in cal_idx]
    say(f"converting to TFLite int8 (calibrating on {len(cal_images)} images, {len(eval_images)} to evaluate)")
    atomic_write_bytes(model_path, convert_int8(cf, cal_images, src.resolution))
    say(f"comparing int8 with fp32 on {len(eval_images)} held-out images")
    manifest_like = {"input": {"layout": "NHWC"}, "outputs": []}
    with TFLiteRunner(fp32_path, threads=opts.threads) as r32:
        manifest_like["outputs"] = _io_specs(src, r32)["outputs"]
    ref = Predictor(TFLiteRunner(fp32_path, threads=opts.threads), src.task, src.labels, PIXELS, manifest_like)
    with TFLiteRunner(model_path, threads=opts.threads) as r8:
        test_manifest = {"input": {"layout": "NHWC"}, "outputs": _io_specs(src, r8)["outputs"]}
    test = Predictor(TFLiteRunner(model_path, threads=opts.threads), src.task, src.labels, PIXELS, test_manifest)
    with ref, test:
        report = compare(src.task, ref, test, eval_images, targets)
    report["evaluated_on"] = eval_from
    if held_idx:
        report["held_out"] = [str(calib.paths[i].relative_to(calib.folder)) for i in held_idx][:50]
    say(f"int8 vs fp32: {report['metric']} {report['test']:.2f} vs {report['reference']:.2f} "
        f"(drop {report['drop']:.2f} points, limit {opts.max_drop:g})")
    cal = calib.describe(METHOD)
    cal.update(count=len(cal_images), held_out=len(held_idx), read=len(calib.images), quantization={
        "weights": "int8 per-channel (conv), per-tensor (fully connected)", "activations": "int8",
        "input": "uint8 pixels (scale 1, zero point 0)", "outputs": "int8"})
    return cal, report
