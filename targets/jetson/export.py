"""Jetson bundles, host side (``edgemnv2 build --target jetson``; no TensorRT needed).

Export the fp32 ONNX (opset 13, parsed by TensorRT 8.2 to 11.x), check it against PyTorch and
against what TensorRT's parser accepts; for fp16 add an fp16 ONNX (what TensorRT 11's strongly
typed networks need); for int8 calibrate a Q/DQ ONNX on the user's images (``calibration/qdq.py``),
check its form (``calibration/qdq_check.py``), measure fp32 vs Q/DQ in task terms with ONNX
Runtime's graph optimisations disabled (Q/DQ simulated in float, the proxy for TensorRT's int8) and
apply ``--max-drop``. Without TensorRT the manifest's model is
``{"file": "model.engine", "format": "tensorrt", "pending": true}``; ``engine.py`` finishes it on the
device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ...bundle import write_manifest
from ...errors import EdgeError
from ...fileio import atomic_write_bytes, atomic_write_text, sha256_file, staged_dir
from ...model_source import BuildOptions, ModelSource, base_manifest, onnx_input_spec, onnx_output_specs, resolve_source
from ...sysinfo import library_versions
from .engine import (
    ENGINE_FILE,
    HOST_CHECK_TRT,
    ONNX_FILES,
    Progress,
    _finish,
    _say,
    finish_command,
    min_trt_for_opset,
    tensorrt_here,
)
from .versions import (
    SUPPORTED_MIN,
    export_opset_for_jetson,
)

__all__ = ["build_jetson_bundle", "int8_quality"]


# ---------------------------------------------------------------------------------------------------
# host side
# ---------------------------------------------------------------------------------------------------
def _fp16_onnx(fp32: Path, out: Path) -> Dict[str, Any]:
    """fp16 weights and activations, fp32 inputs/outputs (TensorRT 11 builds fp16 from the ONNX's types)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    _toposort(model.graph)  # the converter appends the input Casts last; TensorRT's parser needs sorted nodes
    onnx.checker.check_model(model)
    atomic_write_bytes(out, model.SerializeToString())
    return _ort_agreement(fp32, out)


def _toposort(graph: Any) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (stable)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for n in pending:
            if all(x in available for x in n.input):
                ordered.append(n)
                available.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise EdgeError("the fp16 ONNX has a cycle or a dangling input", "this is a bug; report it")
        pending = rest
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)


def _ort_agreement(ref: Path, test: Path, n: int = 2, seed: int = 0) -> Dict[str, Any]:
    """Max abs difference between two ONNX files' outputs on the same random inputs (ONNX Runtime)."""
    from ..cpu.runner import OnnxRuntimeRunner

    rng = np.random.default_rng(seed)
    worst = 0.0
    with OnnxRuntimeRunner(ref) as a, OnnxRuntimeRunner(test, optimize=False) as b:
        spec = a.input_specs()[0]
        for _ in range(n):
            x = rng.standard_normal(spec.shape).astype(np.float32)
            ra, rb = a.infer({spec.name: x}), b.infer({spec.name: x})
            for k in ra:
                worst = max(worst, float(np.abs(ra[k].astype(np.float64) - rb[k].astype(np.float64)).max()))
    return {"reference": ref.name, "test": test.name, "runtime": "onnxruntime", "inputs": n, "max_abs_diff": worst}


def int8_quality(task: Any, fp32_onnx: Path, qdq_onnx: Path, manifest: Dict[str, Any], labels: List[str],
                 normalization: Any, images: List[np.ndarray], targets: Optional[List[int]] = None,
                 threads: Optional[int] = None) -> Dict[str, Any]:
    """fp32 vs Q/DQ in task terms on held-out images (``calibration.quality.compare``).

    The Q/DQ model runs on ONNX Runtime with graph optimisations disabled, so each Q/DQ pair is
    simulated in float: the closest proxy here to the int8 arithmetic TensorRT will run.
    """
    from ...calibration.quality import compare
    from ...predictor import Predictor
    from ..cpu.runner import OnnxRuntimeRunner

    ref = Predictor(OnnxRuntimeRunner(fp32_onnx, threads=threads), task, labels, normalization, manifest)
    test = Predictor(OnnxRuntimeRunner(qdq_onnx, threads=threads, optimize=False), task, labels, normalization,
                     manifest)
    with ref, test:
        report = compare(task, ref, test, images, targets)
    report["evaluated_with"] = "onnxruntime, graph optimisations disabled (Q/DQ simulated in float)"
    return report


def build_jetson_bundle(opts: BuildOptions, progress: Progress = None, source: Optional[ModelSource] = None
                        ) -> Dict[str, Any]:
    """Build a Jetson bundle; with TensorRT and a GPU here, the engine too (else the manifest says pending).

    ``source`` (API only) gives an already-made model instead of resolving ``opts``' weights (as
    ``build_pi_bundle`` does); ``opts.task``, ``opts.out`` and the build flags still apply.
    """
    from ...calibration.images import load_calibration_images
    from ...calibration.qdq import quantize_qdq
    from ...calibration.qdq_check import require_conformant
    from ...calibration.quality import check_max_drop, folder_class_targets, split_holdout
    from ...labels import labels_text
    from ..cpu.build import onnx_parity

    say = _say(progress)
    prec = opts.precision
    if prec not in ("fp32", "fp16", "int8"):
        raise EdgeError(f"unknown precision {prec}", "use fp16 or int8 (fp32 also works on Jetson)")
    if opts.dla_core is not None and (opts.dla_core < 0 or prec == "fp32"):
        raise EdgeError(f"--dla-core {opts.dla_core} with {prec}" if opts.dla_core >= 0 else
                        f"--dla-core must be a DLA core number (0, 1), not {opts.dla_core}",
                        "DLA runs fp16 or int8 models only: add --precision fp16 or int8")
    if opts.workspace_mb <= 0:
        raise EdgeError(f"--workspace must be positive, not {opts.workspace_mb}", "use e.g. --workspace 1024")
    calib = None
    if prec == "int8":
        calib = load_calibration_images(opts.calib, opts.calib_count, allow_fewer=True, seed=opts.seed)
        if len(calib.images) < 2:
            raise EdgeError(f"calibration folder {opts.calib} has {len(calib.images)} usable image(s)",
                            "int8 needs at least 2 (some are held out to measure the int8 quality); a few hundred "
                            "is better")
        say(f"{len(calib.images)} calibration images from {calib.folder}"
            + (f" ({len(calib.skipped)} skipped)" if calib.skipped else ""))
        if len(calib.images) < opts.calib_count:
            say(f"warning: calibration folder {calib.folder} has only {len(calib.images)} usable images, fewer "
                f"than --calib-count {opts.calib_count}: using them all")

    opset = export_opset_for_jetson()
    with staged_dir(opts.out) as tmp:
        fp32 = tmp / ONNX_FILES["fp32"]
        if opts.onnx is not None:
            from ...onnx_import import copy_onnx_model

            say(f"taking {opts.onnx.name} as-is (no PyTorch reference: parity not checked)")
            input_spec, outputs, labels, ncls = copy_onnx_model(opts, fp32)
            import onnx

            opset = next((o.version for o in onnx.load(str(fp32)).opset_import if o.domain in ("", "ai.onnx")), 0)
            from ...tasks.preprocess import Normalization

            norm = Normalization.from_dict(input_spec)
            res = input_spec["shape"][2]
            manifest = {"task": opts.task.value if hasattr(opts.task, "value") else str(opts.task),
                        "target": "jetson", "precision": prec, "model": {"file": ENGINE_FILE, "format": "tensorrt"},
                        "labels_file": "labels.txt", "num_classes": ncls,
                        "architecture": {"family": "onnx", "resolution": res}, "input": input_spec,
                        "outputs": outputs, "postprocess": {},
                        "source": {"origin": "onnx", "weights": opts.onnx.name,
                                   "weights_sha256": sha256_file(opts.onnx), "random_init": False},
                        "warnings": [], "calibration": None, "reports": {"parity": None}, "files": {}}
            task = opts.task
        else:
            say("loading model")
            src = source if source is not None else resolve_source(opts)
            for note in src.notes:
                say(note)
            from ...export import export_onnx
            from ...models.zoo import model_outputs

            say(f"exporting ONNX (opset {opset}: TensorRT {'.'.join(map(str, SUPPORTED_MIN[:2]))} to 11.x parse it)")
            export_onnx(src.model, fp32, src.resolution, model_outputs(src.task), opset=opset)
            say("checking ONNX Runtime against PyTorch")
            labels, norm, task = src.labels, src.normalization, src.task
            manifest = base_manifest(src, "jetson", prec, ENGINE_FILE, "tensorrt", onnx_input_spec(src),
                                     onnx_output_specs(src))
            manifest["reports"]["parity"] = onnx_parity(src, fp32)
        atomic_write_text(tmp / "labels.txt", labels_text(labels))
        min_trt = min_trt_for_opset(opset)
        checks = {"model.onnx": require_conformant(fp32, min_trt if min_trt[0].isdigit() else "11.0",
                                                   "model.onnx").to_dict()}
        onnx_files = {"fp32": ONNX_FILES["fp32"]}
        if prec == "fp16":
            say("writing the fp16 ONNX (used by TensorRT 11, whose networks are strongly typed)")
            manifest["reports"]["fp16_onnx"] = _fp16_onnx(fp32, tmp / ONNX_FILES["fp16"])
            onnx_files["fp16"] = ONNX_FILES["fp16"]
        if prec == "int8":
            assert calib is not None
            if opts.extra.get("eval"):  # a labelled dataset to evaluate on (as on the Pi target)
                from ...calibration.quality import labelled_eval_set

                keep, held = list(range(len(calib.images))), []
                eval_images, eval_targets, eval_from = labelled_eval_set(
                    task, labels, opts.extra["eval"], int(opts.extra.get("eval_count", 200)), say)
            else:
                keep, held = split_holdout(len(calib.images))
                eval_images = [calib.images[i] for i in held]
                targets = (folder_class_targets(calib.class_names, calib.targets, labels)
                           if str(getattr(task, "value", task)) == "classify" else None)
                eval_targets = [targets[i] for i in held] if targets else None
                eval_from = "held out from --calib"
            say(f"calibrating the Q/DQ int8 ONNX on {len(keep)} images ({len(eval_images)} to evaluate)")
            qinfo = quantize_qdq(fp32, tmp / ONNX_FILES["qdq"], [calib.images[i] for i in keep], norm)
            onnx_files["qdq"] = ONNX_FILES["qdq"]
            checks["model.qdq.onnx"] = require_conformant(tmp / ONNX_FILES["qdq"], HOST_CHECK_TRT,
                                                          "model.qdq.onnx").to_dict()
            say(f"measuring int8 (Q/DQ simulated in float by ONNX Runtime) against fp32 on {len(eval_images)} images")
            report = int8_quality(task, fp32, tmp / ONNX_FILES["qdq"], manifest, labels, norm, eval_images,
                                  eval_targets, opts.threads)
            report["evaluated_on"] = eval_from
            say(f"int8 vs fp32: {report['metric']} {report['test']:.2f} vs {report['reference']:.2f} "
                f"(drop {report['drop']:.2f} points, limit {opts.max_drop:g}; {report['basis'].split(':')[0]})")
            check_max_drop(report, opts.max_drop)
            manifest["reports"]["accuracy"] = report
            manifest["calibration"] = dict(calib.describe("explicit Q/DQ: " + qinfo["tool"] + " (" +
                                                          qinfo["calibrate_method"] + ")"),
                                           held_out=len(held), quantization=qinfo)
        manifest["reports"]["tensorrt_checks"] = checks
        manifest["model"] = {"file": ENGINE_FILE, "format": "tensorrt", "pending": True, "onnx": onnx_files,
                             "opset": opset, "min_tensorrt": min_trt}
        manifest["extra"] = dict(manifest.get("extra") or {}, jetson={"dla_core": opts.dla_core,
                                                                       "workspace_mb": opts.workspace_mb})
        manifest["files"] = {name: "" for name in onnx_files.values()}
        manifest["versions"] = library_versions("torch", "onnx", "onnxruntime", "onnxslim", "numpy")
        trt_here = tensorrt_here()
        if not trt_here:
            manifest["warnings"] = list(manifest.get("warnings") or []) + [
                f"no engine yet (built without TensorRT): finish it on the Jetson with {finish_command(opts.out)}"]
        manifest = write_manifest(tmp, manifest)
        if trt_here:
            say("TensorRT is installed here: building the engine")
            manifest = _finish(tmp, manifest, opts.workspace_mb, opts.dla_core, say, final_dir=Path(opts.out))
        else:
            say(f"TensorRT is not installed here, so the bundle holds the ONNX model(s) and no engine yet: copy "
                f"{Path(opts.out).name}/ to the Jetson and finish it there with: {finish_command(opts.out)}")
    return manifest
