"""Jetson bundles (``edgemnv2 build --target jetson``): ONNX on the host, the TensorRT engine on the device.

Host (no TensorRT needed): export the fp32 ONNX (opset 13, parsed by TensorRT 8.2 to 11.x), check
it against PyTorch and against what TensorRT's parser accepts; for fp16 add an fp16 ONNX (what
TensorRT 11's strongly typed networks need); for int8 calibrate a Q/DQ ONNX on the user's images
(``calibration/qdq.py``), check its form (``calibration/qdq_check.py``), measure fp32 vs Q/DQ in
task terms with ONNX Runtime's graph optimisations disabled (Q/DQ simulated in float, the proxy for
TensorRT's int8) and apply ``--max-drop``. Without TensorRT the manifest's model is
``{"file": "model.engine", "format": "tensorrt", "pending": true}``.

Device (``edgemnv2 build --target jetson --bundle DIR``, or the same machine when TensorRT and a
GPU are there): parse the ONNX the TensorRT version needs, build and serialise the engine with the
API that version has (``tensorrt_version``), record the engine manifest and keep a timing cache
keyed by TensorRT version + GPU. int8 is refused on GPUs without fast int8 (Jetson Nano, TX2).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..bundle import library_versions, load_bundle, now_iso, write_manifest
from ..errors import EdgeError
from ..fileio import atomic_write_bytes, atomic_write_text, ensure_writable_dir, sha256_file, staged_dir
from ..source import BuildOptions, ModelSource, base_manifest, onnx_input_spec, onnx_output_specs, resolve_source
from .tensorrt_version import (
    SUPPORTED_MIN,
    engine_precision_plan,
    export_opset_for_jetson,
    fast_fp16,
    fast_int8,
    features,
    has_dla,
    jetson_model,
    max_onnx_opset,
    parse_version,
    timing_cache_name,
)

__all__ = ["build_jetson_bundle", "finish_jetson_bundle", "ONNX_FILES", "ENGINE_FILE", "HOST_CHECK_TRT",
           "min_trt_for_opset", "timing_cache_dir", "build_engine", "describe_parser_error"]

Progress = Optional[Callable[[str], None]]

ONNX_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "qdq": "model.qdq.onnx"}
ENGINE_FILE = "model.engine"
#: The int8 Q/DQ ONNX is checked on the host against JetPack 5's TensorRT, the strictest we build int8 for.
HOST_CHECK_TRT = "8.5"
_KNOWN_TRT = ("8.2", "8.5", "10.0", "11.0")


def _say(progress: Progress) -> Callable[[str], None]:
    return progress or (lambda _m: None)


def min_trt_for_opset(opset: int) -> str:
    """The oldest TensorRT (of those users have) whose ONNX parser takes ``opset``."""
    for v in _KNOWN_TRT:
        if max_onnx_opset(v) >= opset:
            return v
    return "newer than 11.x"


def timing_cache_dir() -> Path:
    return Path(os.environ.get("EDGEMNV2_CACHE_DIR") or Path.home() / ".cache" / "edgemnv2") / "tensorrt"


def finish_command(bundle_dir: Any) -> str:
    return f"edgemnv2 build --target jetson --bundle {bundle_dir}"


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
    from .onnxruntime_runner import OnnxRuntimeRunner

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
    from ..calibration.quality import compare
    from ..predictor import Predictor
    from .onnxruntime_runner import OnnxRuntimeRunner

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
    from ..calibration.images import load_calibration_images
    from ..calibration.qdq import quantize_qdq
    from ..calibration.qdq_check import require_conformant
    from ..calibration.quality import check_max_drop, folder_class_targets, split_holdout
    from ..labels import labels_text
    from .cpu_build import onnx_parity

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
            from .onnx_source import copy_onnx_model

            say(f"taking {opts.onnx.name} as-is (no PyTorch reference: parity not checked)")
            input_spec, outputs, labels, ncls = copy_onnx_model(opts, fp32)
            import onnx

            opset = next((o.version for o in onnx.load(str(fp32)).opset_import if o.domain in ("", "ai.onnx")), 0)
            from ..tasks.preprocess import Normalization

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
            from ..export import export_onnx
            from ..models.zoo import model_outputs

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
                from ..calibration.quality import labelled_eval_set

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


def tensorrt_here() -> bool:
    try:
        return importlib.util.find_spec("tensorrt") is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------------
# device side (TensorRT)
# ---------------------------------------------------------------------------------------------------
def describe_parser_error(err: Any, node_names: bool) -> str:
    """One line from an ``IParserError``: node index (and name/operator on TensorRT 10+), description, code."""
    parts = []
    try:
        node = int(err.node())
    except Exception:  # noqa: BLE001 - binding differences
        node = -1
    where = f"node {node}" if node >= 0 else "model"
    if node_names:
        try:
            name, op = err.node_name(), err.node_operator()
            if name or op:
                where += f" ({op} '{name}')"
        except AttributeError:
            pass
    parts.append(where)
    desc = str(err.desc()).strip()
    code = str(err.code()).split(".")[-1]
    return f"{where}: {desc} [{code}]"


def build_engine(trt: Any, onnx_bytes: bytes, onnx_name: str, precision_flags: Tuple[str, ...], workspace_mb: int,
                 dla_core: Optional[int], cache_blob: Optional[bytes]) -> Tuple[bytes, List[Dict[str, Any]],
                                                                                Optional[bytes]]:
    """Parse and build with the API of the running TensorRT; returns (plan, I/O tensors, timing cache).

    Every version-dependent call is decided by ``tensorrt_version.features(trt.__version__)``.
    """
    f = features(trt.__version__)
    vtext = ".".join(map(str, f.version))
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = (1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)) if f.explicit_batch_flag else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [describe_parser_error(parser.get_error(i), f.parser_error_node_name)
                  for i in range(parser.num_errors)]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise EdgeError(f"TensorRT {vtext} cannot parse {onnx_name}: {errors[0] if errors else 'unknown error'}{more}",
                        "rebuild the bundle with this edgemnv2; if it persists, report it with "
                        "'edgemnv2 selftest --target jetson'")
    config = builder.create_builder_config()
    if f.workspace_api == "memory_pool_limit":
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    else:
        config.max_workspace_size = int(workspace_mb) << 20
    for name in precision_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if dla_core is not None:
        cores = int(getattr(builder, "num_DLA_cores", 0))
        if not 0 <= int(dla_core) < cores:
            raise EdgeError(f"--dla-core {dla_core}: this device has {cores} DLA core(s)"
                            + (f" (0..{cores - 1})" if cores else " (Orin Nano and desktop GPUs have none)"),
                            "pick an existing core, or leave --dla-core out to build for the GPU")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(dla_core)
    if f.timing_cache:
        cache = config.create_timing_cache(cache_blob or b"")
        if not config.set_timing_cache(cache, False):  # a cache from elsewhere: start a fresh one
            config.set_timing_cache(config.create_timing_cache(b""), False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeError(f"TensorRT {vtext} failed to build an engine from {onnx_name}",
                        "see the TensorRT messages above; a larger --workspace may help")
    io = []
    for is_input, count, get in ((True, network.num_inputs, network.get_input),
                                 (False, network.num_outputs, network.get_output)):
        for i in range(count):
            t = get(i)
            io.append({"name": t.name, "mode": "input" if is_input else "output",
                       "shape": [int(d) for d in t.shape], "dtype": np.dtype(trt.nptype(t.dtype)).name})
    new_cache = bytes(config.get_timing_cache().serialize()) if f.timing_cache else None
    return bytes(plan), io, new_cache


def _finish(root: Path, manifest: Dict[str, Any], workspace_mb: int, dla_core: Optional[int],
            say: Callable[[str], None], final_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Build ``model.engine`` in bundle directory ``root`` and rewrite its manifest (engine written first)."""
    from .tensorrt_runner import cuda_backend, device_facts, import_tensorrt

    trt = import_tensorrt()
    version = str(trt.__version__)
    v = parse_version(version)
    vtext = ".".join(map(str, v))
    if v < SUPPORTED_MIN:
        raise EdgeError(f"TensorRT {version} is older than edgemnv2 supports ({'.'.join(map(str, SUPPORTED_MIN))})",
                        "upgrade JetPack")
    bundle_dir = final_dir or root
    prec = str(manifest["precision"])
    jetson = dict((manifest.get("extra") or {}).get("jetson") or {})
    dla = dla_core if dla_core is not None else jetson.get("dla_core")
    backend = cuda_backend()
    try:
        with backend.active():
            facts = device_facts(trt, backend)
            cc = facts["compute_capability"]
            gpu = f"{facts['gpu']} (compute {cc}{', ' + jetson_model(cc) if jetson_model(cc) else ''})"
            if prec == "int8" and not fast_int8(cc):
                raise EdgeError(f"int8 needs a GPU with fast int8 kernels; {gpu} has none",
                                "build this model with --precision fp16, which runs well on this GPU")
            if prec == "fp16" and not fast_fp16(cc):
                say(f"warning: {gpu} has no fast fp16 kernels; TensorRT will pick fp32 ones where faster")
            if dla is not None:
                if not has_dla(cc):
                    raise EdgeError(f"--dla-core {dla}: {gpu} has no DLA", "leave out --dla-core")
                if not features(v).dla_supported:
                    raise EdgeError(f"TensorRT {vtext} does not support DLA", "leave out --dla-core")
            try:
                plan = engine_precision_plan(v, prec, dla is not None)
            except ValueError as e:
                raise EdgeError(str(e), "check --precision / --dla-core") from None
            onnx_files = dict(manifest["model"].get("onnx") or {"fp32": ONNX_FILES["fp32"]})
            onnx_name = onnx_files.get(plan.onnx)
            if onnx_name is None or not (root / onnx_name).is_file():
                raise EdgeError(f"TensorRT {vtext} builds {prec} from the {plan.onnx} ONNX, which this bundle lacks",
                                "rebuild the bundle on the host with this version of edgemnv2")
            opset = int(manifest["model"].get("opset") or 0)
            if opset > features(v).max_onnx_opset:
                raise EdgeError(f"{onnx_name} uses ONNX opset {opset}; TensorRT {vtext} parses up to "
                                f"{features(v).max_onnx_opset}", f"export with opset <= {features(v).max_onnx_opset}")
            check = _device_check(root / onnx_name, v, prec)
            cache_file = timing_cache_dir() / timing_cache_name(v, facts["gpu"], cc)
            blob = cache_file.read_bytes() if cache_file.is_file() else None
            say(f"building the {prec} TensorRT {vtext} engine on {gpu} from {onnx_name} ({plan.method}"
                f"{f', DLA core {dla}' if dla is not None else ''}); this takes a few minutes")
            engine, io, new_cache = build_engine(trt, (root / onnx_name).read_bytes(), onnx_name, plan.flags,
                                                 workspace_mb, dla, blob)
    finally:
        backend.close()
    atomic_write_bytes(root / ENGINE_FILE, engine)
    if new_cache:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cache_file, new_cache)
        except (OSError, EdgeError) as e:
            say(f"warning: could not save the timing cache {cache_file}: {e}")
    calibration = manifest.get("calibration") or {}
    engine_info = {
        "tensorrt": version, "cuda": facts.get("cuda"), "cuda_bindings": facts.get("cuda_bindings"),
        "l4t": facts.get("l4t"), "gpu": facts["gpu"], "compute_capability": cc, "precision": prec,
        "method": plan.method, "builder_flags": list(plan.flags), "io": io,
        "dla": {"core": int(dla), "gpu_fallback": True} if dla is not None else None,
        "workspace_mb": int(workspace_mb), "onnx_file": onnx_name, "onnx_sha256": sha256_file(root / onnx_name),
        "calibration_sha256": calibration.get("image_list_sha256"), "timing_cache": cache_file.name,
        "conformance": check, "built": now_iso(),
    }
    model = {k: v for k, v in manifest["model"].items() if k not in ("pending", "sha256", "engine")}
    manifest = dict(manifest, model=dict(model, file=ENGINE_FILE, format="tensorrt", engine=engine_info))
    manifest["files"] = {name: "" for name in onnx_files.values()}
    manifest["versions"] = dict(manifest.get("versions") or {}, tensorrt=version)
    manifest["warnings"] = [w for w in manifest.get("warnings") or [] if "no engine yet" not in w]
    manifest["extra"] = dict(manifest.get("extra") or {}, jetson=dict(jetson, dla_core=dla, workspace_mb=workspace_mb))
    manifest = write_manifest(root, manifest)
    say(f"engine written: {bundle_dir}/{ENGINE_FILE} ({len(engine) / 1e6:.1f} MB)")
    return manifest


def _device_check(onnx_path: Path, version: Tuple[int, int, int], precision: str) -> Dict[str, Any]:
    """Re-run the conformance check against the TensorRT that is here (needs the onnx package)."""
    try:
        from ..calibration.qdq_check import require_conformant
    except ImportError:
        return {"checked": False}
    try:
        rep = require_conformant(onnx_path, version, onnx_path.name)
    except EdgeError as e:
        if e.message.startswith("onnx is not installed"):
            return {"checked": False, "note": "the onnx package is not installed here; the host checked the form"}
        raise
    return dict(rep.to_dict(), checked=True)


def finish_jetson_bundle(bundle_dir: Any, workspace_mb: int = 1024, dla_core: Optional[int] = None,
                         progress: Progress = None) -> Dict[str, Any]:
    """Build (or rebuild) the engine of a Jetson bundle on this device; returns the new manifest.

    The engine is written next to the ONNX before the manifest is replaced, so a failed build leaves
    the bundle as it was.
    """
    say = _say(progress)
    bundle = load_bundle(bundle_dir)
    if bundle.target != "jetson":
        raise EdgeError(f"bundle {bundle.root} is a {bundle.target} bundle, not a Jetson one",
                        "build one with edgemnv2 build --target jetson")
    if workspace_mb <= 0:
        raise EdgeError(f"--workspace must be positive, not {workspace_mb}", "use e.g. --workspace 1024")
    ensure_writable_dir(bundle.root, "bundle directory")
    return _finish(bundle.root, dict(bundle.manifest), workspace_mb, dla_core, say)
