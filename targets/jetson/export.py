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
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ...build_options import BuildOptions, Precision
from ...bundle import write_manifest
from ...errors import EdgeError
from ...fileio import atomic_write_bytes, atomic_write_text, sha256_file, staged_dir
from ...finite import max_abs_diff
from ...model_source import ModelSource, base_manifest, onnx_input_spec, onnx_output_specs, resolve_source
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
    check_dla_precision,
    export_opset_for_jetson,
)

__all__ = ["build_jetson_bundle", "int8_quality", "int8_predictors"]

EVALUATED_WITH = "onnxruntime, graph optimisations disabled (Q/DQ simulated in float)"


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


def _fix_static_shape(path: Path, shape: List[int]) -> Optional[List[Any]]:
    """Give a user ONNX's dynamic input dims (e.g. batch) the bundle's static shape; the dims it had, or None.

    TensorRT builds a network with a dynamic input only with an optimization profile (without one
    ``build_serialized_network`` returns None); edgemnv2 engines are static (batch 1). The output
    shapes are inferred again from the fixed input.
    """
    import onnx

    model = onnx.load(str(path))
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    dims = inp.type.tensor_type.shape.dim
    before = [d.dim_value if d.dim_value > 0 else (d.dim_param or "?") for d in dims]
    if all(d.dim_value > 0 for d in dims):
        return None
    for d, v in zip(dims, shape):
        d.dim_value = int(v)  # replaces dim_param (a protobuf oneof)
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())
    return before


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
                worst = max(worst, max_abs_diff(rb[k], ra[k], f"{test.name} vs {ref.name}", k))
    return {"reference": ref.name, "test": test.name, "runtime": "onnxruntime", "inputs": n, "max_abs_diff": worst}


def int8_predictors(task: Any, fp32_onnx: Path, qdq_onnx: Path, manifest: Dict[str, Any], labels: List[str],
                    normalization: Any, threads: Optional[int] = None) -> Tuple[Any, Any]:
    """(fp32, Q/DQ) Predictors on ONNX Runtime for the int8 comparison (not yet activated).

    The Q/DQ model runs with graph optimisations disabled, so each Q/DQ pair is simulated in float:
    the closest proxy here to the int8 arithmetic TensorRT will run.
    """
    from ...predictor import Predictor
    from ..cpu.runner import OnnxRuntimeRunner

    return (Predictor(OnnxRuntimeRunner(fp32_onnx, threads=threads), task, labels, normalization, manifest),
            Predictor(OnnxRuntimeRunner(qdq_onnx, threads=threads, optimize=False), task, labels, normalization,
                      manifest))


def int8_quality(task: Any, fp32_onnx: Path, qdq_onnx: Path, manifest: Dict[str, Any], labels: List[str],
                 normalization: Any, images: List[np.ndarray], targets: Optional[List[int]] = None,
                 threads: Optional[int] = None) -> Dict[str, Any]:
    """fp32 vs Q/DQ in task terms on ``images`` (``calibration.evaluation.compare``); the report."""
    from ...calibration.evaluation import compare

    ref, test = int8_predictors(task, fp32_onnx, qdq_onnx, manifest, labels, normalization, threads)
    with ref, test:
        report = compare(task, ref, test, images, targets).report
    report["evaluated_with"] = EVALUATED_WITH
    return report


def build_jetson_bundle(opts: BuildOptions, progress: Progress = None, source: Optional[ModelSource] = None
                        ) -> Dict[str, Any]:
    """Build a Jetson bundle; with TensorRT and a GPU here, the engine too (else the manifest says pending).

    ``source`` (API only) gives an already-made model instead of resolving ``opts``' weights (as
    ``build_pi_bundle`` does); ``opts.task``, ``opts.out`` and the build flags still apply.
    """
    from ...calibration.flow import Int8Flow
    from ...calibration.qdq_check import require_conformant
    from ...labels import labels_text

    say = _say(progress)
    prec = opts.precision
    _check_device_options(opts)
    flow = Int8Flow.load(opts, say) if opts.int8 else None

    opset = export_opset_for_jetson()
    with staged_dir(opts.out) as tmp:
        fp32 = tmp / ONNX_FILES["fp32"]
        if opts.onnx is not None:
            manifest, labels, norm, task, opset = _user_onnx(opts, fp32, say)
        else:
            manifest, labels, norm, task = _torch_onnx(opts, source, fp32, opset, say)
        atomic_write_text(tmp / "labels.txt", labels_text(labels))
        min_trt = min_trt_for_opset(opset)
        checks = {"model.onnx": require_conformant(fp32, min_trt if min_trt[0].isdigit() else "11.0",
                                                   "model.onnx").to_dict()}
        onnx_files = {"fp32": ONNX_FILES["fp32"]}
        if prec is Precision.fp16:
            say("writing the fp16 ONNX (used by TensorRT 11, whose networks are strongly typed)")
            manifest["reports"]["fp16_onnx"] = _fp16_onnx(fp32, tmp / ONNX_FILES["fp16"])
            onnx_files["fp16"] = ONNX_FILES["fp16"]
        if flow is not None:
            checks["model.qdq.onnx"] = _int8(opts, flow, tmp, manifest, task, labels, norm)
            onnx_files["qdq"] = ONNX_FILES["qdq"]
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


def _check_device_options(opts: BuildOptions) -> None:
    """--dla-core and --workspace, checked on the host as the device build would (no bundle that cannot
    become an engine)."""
    if opts.dla_core is not None and opts.dla_core < 0:
        raise EdgeError(f"--dla-core must be a DLA core number (0, 1), not {opts.dla_core}",
                        "DLA core numbers start at 0")
    if opts.dla_core is not None:
        try:
            check_dla_precision(opts.precision.value)
        except ValueError as e:
            raise EdgeError(f"--dla-core {opts.dla_core} with --precision {opts.precision.value}: {e}",
                            "put fp16 on the DLA (--precision fp16 --dla-core N), or leave out --dla-core to run "
                            "int8 on the GPU") from None
    if opts.workspace_mb <= 0:
        raise EdgeError(f"--workspace must be positive, not {opts.workspace_mb}", "use e.g. --workspace 1024")


def _user_onnx(opts: BuildOptions, fp32: Path, say: Callable[[str], None]) -> Tuple[Dict[str, Any], List[str], Any,
                                                                                  Any, int]:
    """A user's ONNX (--weights x.onnx) copied as the fp32 model, dynamic dims fixed; its manifest so far."""
    import onnx

    from ...onnx_import import copy_onnx_model
    from ...tasks.preprocess import Normalization

    say(f"taking {opts.onnx.name} as-is (no PyTorch reference: parity not checked)")
    input_spec, outputs, labels, ncls = copy_onnx_model(opts, fp32)
    fixed = _fix_static_shape(fp32, input_spec["shape"])
    if fixed:
        say(f"fixed the dynamic input dims {fixed} of {opts.onnx.name} to {input_spec['shape']}: the engine "
            "is built for this one shape")
    opset = next((o.version for o in onnx.load(str(fp32)).opset_import if o.domain in ("", "ai.onnx")), 0)
    manifest = {"task": opts.task.value, "target": "jetson", "precision": opts.precision.value,
                "model": {"file": ENGINE_FILE, "format": "tensorrt"},
                "labels_file": "labels.txt", "num_classes": ncls,
                "architecture": {"family": "onnx", "resolution": input_spec["shape"][2]}, "input": input_spec,
                "outputs": outputs, "postprocess": {},
                "source": {"origin": "onnx", "weights": opts.onnx.name,
                           "weights_sha256": sha256_file(opts.onnx), "random_init": False},
                "warnings": [], "calibration": None, "reports": {"parity": None}, "files": {}}
    return manifest, labels, Normalization.from_dict(input_spec), opts.task, opset


def _torch_onnx(opts: BuildOptions, source: Optional[ModelSource], fp32: Path, opset: int,
                say: Callable[[str], None]) -> Tuple[Dict[str, Any], List[str], Any, Any]:
    """Our model exported to the fp32 ONNX and checked against PyTorch; its manifest so far."""
    from ...export import export_onnx
    from ...models.zoo import model_outputs
    from ..cpu.build import onnx_parity

    say("loading model")
    src = source if source is not None else resolve_source(opts)
    for note in src.notes:
        say(note)
    say(f"exporting ONNX (opset {opset}: TensorRT {'.'.join(map(str, SUPPORTED_MIN[:2]))} to 11.x parse it)")
    export_onnx(src.model, fp32, src.resolution, model_outputs(src.task), opset=opset)
    say("checking ONNX Runtime against PyTorch")
    manifest = base_manifest(src, "jetson", opts.precision, ENGINE_FILE, "tensorrt", onnx_input_spec(src),
                             onnx_output_specs(src))
    manifest["reports"]["parity"] = onnx_parity(src, fp32)
    return manifest, src.labels, src.normalization, src.task


def _int8(opts: BuildOptions, flow: Any, tmp: Path, manifest: Dict[str, Any], task: Any, labels: List[str],
          norm: Any) -> Dict[str, Any]:
    """The int8 flow with a Q/DQ ONNX as its calibration step; fills the manifest, returns the Q/DQ form check."""
    from ...calibration.qdq import quantize_qdq
    from ...calibration.qdq_check import require_conformant

    fp32, qdq = tmp / ONNX_FILES["fp32"], tmp / ONNX_FILES["qdq"]

    def calibrate(images: List[np.ndarray]) -> Dict[str, Any]:
        info = quantize_qdq(fp32, qdq, images, norm)
        return {"method": f"explicit Q/DQ: {info['tool']} ({info['calibrate_method']})", "quantization": info}

    result = flow.run(task, labels, calibrate, lambda: int8_predictors(task, fp32, qdq, manifest, labels, norm,
                                                                       opts.threads))
    result.report["evaluated_with"] = EVALUATED_WITH
    manifest["reports"]["accuracy"] = result.report
    manifest["calibration"] = result.calibration
    manifest["warnings"] = list(manifest.get("warnings") or []) + result.warnings
    return require_conformant(qdq, HOST_CHECK_TRT, "model.qdq.onnx").to_dict()
