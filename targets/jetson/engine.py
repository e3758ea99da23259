"""Jetson bundles, device side: build the TensorRT engine (``edgemnv2 build --target jetson --bundle DIR``).

Runs where TensorRT and a GPU are: parse the ONNX the TensorRT version needs, build and serialise
the engine with the API that version has (``versions``), record the engine manifest and keep a
timing cache keyed by TensorRT version + GPU. int8 is refused on GPUs without fast int8 (Jetson
Nano, TX2), a dynamic input shape (no optimization profile) with one line. ``finish_command`` is the one
"finish this bundle" command every hint prints. Imports nothing host-only (no torch, TensorFlow or onnx):
``tests/test_import_hygiene.py`` finishes a bundle with them blocked.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ...bundle import load_bundle, write_manifest
from ...errors import EdgeError
from ...fileio import atomic_write_bytes, ensure_writable_dir, sha256_file
from ...sysinfo import now_iso
from .files import ENGINE_FILE, ONNX_FILES, finish_command, pending_engine_error
from .versions import (
    SUPPORTED_MIN,
    engine_precision_plan,
    fast_fp16,
    fast_int8,
    features,
    has_dla,
    jetson_model,
    max_onnx_opset,
    numpy_dtype,
    parse_version,
    timing_cache_name,
)

__all__ = ["finish_jetson_bundle", "ONNX_FILES", "ENGINE_FILE", "HOST_CHECK_TRT", "tensorrt_here",
           "min_trt_for_opset", "timing_cache_dir", "build_engine", "describe_parser_error", "finish_command",
           "pending_engine_error"]

Progress = Optional[Callable[[str], None]]

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

    Every version-dependent call is decided by ``versions.features(trt.__version__)``.
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
    dynamic = [(t.name, [int(d) for d in t.shape]) for t in (network.get_input(i) for i in range(network.num_inputs))
               if any(int(d) < 0 for d in t.shape)]
    if dynamic:  # TensorRT needs an optimization profile for these; edgemnv2 bundles are static
        raise EdgeError(f"{onnx_name} has a dynamic input shape {dynamic[0][1]} ('{dynamic[0][0]}'): edgemnv2 builds "
                        "static engines", "rebuild the bundle on the host with this edgemnv2, which fixes the shape")
    config = builder.create_builder_config()
    # layer names, types and precisions in the engine inspector's JSON (TensorRT 8.2+; the default is names only)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if f.memory_pool_limit:
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
    use_cache = f.timing_cache and _set_timing_cache(config, cache_blob)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeError(f"TensorRT {vtext} failed to build an engine from {onnx_name}",
                        "see the TensorRT messages above; a larger --workspace may help")
    io = []
    for is_input, count, get in ((True, network.num_inputs, network.get_input),
                                 (False, network.num_outputs, network.get_output)):
        for i in range(count):
            t = get(i)
            dtype = numpy_dtype(t.dtype)
            io.append({"name": t.name, "mode": "input" if is_input else "output",
                       "shape": [int(d) for d in t.shape], "dtype": dtype.name if dtype is not None else str(t.dtype)})
    new_cache = bytes(config.get_timing_cache().serialize()) if use_cache else None
    return bytes(plan), io, new_cache


def _set_timing_cache(config: Any, blob: Optional[bytes]) -> bool:
    """Give the builder the saved timing cache, or a fresh one; False when TensorRT takes neither.

    ``set_timing_cache`` returns False when it refuses a cache (one made by another TensorRT or GPU, with
    ``ignore_mismatch`` False): then a fresh cache; if that is refused too, the build runs without one.
    """
    if blob and config.set_timing_cache(config.create_timing_cache(blob), False):
        return True
    return bool(config.set_timing_cache(config.create_timing_cache(b""), False))


def _finish(root: Path, manifest: Dict[str, Any], workspace_mb: int, dla_core: Optional[int],
            say: Callable[[str], None], final_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Build ``model.engine`` in bundle directory ``root`` and rewrite its manifest (engine written first)."""
    from .runner import cuda_backend, device_facts, import_tensorrt

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
        "tensorrt": version, "cuda_runtime": facts.get("cuda_runtime"), "cuda_driver": facts.get("cuda_driver"),
        "cuda_bindings": facts.get("cuda_bindings"),
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
        from ...calibration.qdq_check import require_conformant
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
