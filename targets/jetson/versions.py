"""What each TensorRT version offers: pure functions and tables, no TensorRT import (testable anywhere).

Every decision the Jetson builder and runner make about the TensorRT API goes through this module,
so that a new TensorRT release means a change here and a test, not a hunt through the code.

Facts (from NVIDIA's TensorRT docs, release notes, migration guides and onnx-tensorrt's operators.md;
none of them was checked against a GPU by this project):

* 8.x: networks need the ``EXPLICIT_BATCH`` creation flag; from 10 it is deprecated and ignored,
  and 11 has strongly typed networks only (no flags needed).
* workspace: ``config.max_workspace_size`` up to 8.3, ``config.set_memory_pool_limit(WORKSPACE, n)``
  from 8.4 (``max_workspace_size`` is gone in 10).
* ``builder.build_serialized_network`` from 8.0 (``build_engine`` is gone in 10).
* precision flags ``BuilderFlag.FP16/INT8``, the int8 calibrators and ``platform_has_fast_*`` exist up
  to 10.x (implicit calibration deprecated in 10.1); 11 removed them: precision is baked into the
  ONNX (Q/DQ for int8, an fp16 ONNX for fp16) and networks are strongly typed.
* I/O: the bindings API (``num_bindings``, ``execute_async_v2``) up to 9.x; the name API
  (``num_io_tensors``, ``set_tensor_address``, ``execute_async_v3``) from 8.5; 10 removed bindings.
* ONNX parser opsets: 13 (8.0-8.4), 17 (8.5-8.6), 19 (9.x), 20 (10.0 and later 10.x; later 10.x
  releases accept more, 20 is the value every 10.x accepts), 24 (11.x).
* fast int8 needs compute capability 6.1 or 7.0+ (not 6.0, 6.2 TX2, 5.3 Nano); fast fp16 needs 5.3,
  6.0, 6.2 or 7.0+; DLA exists on 7.2 (Xavier) and 8.7 (Orin); 11.x does not support DLA/JetPack.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

__all__ = ["Version", "parse_version", "TrtFeatures", "features", "max_onnx_opset", "fast_int8", "fast_fp16",
           "has_dla", "jetson_model", "engine_precision_plan", "PrecisionPlan", "SUPPORTED_MIN", "timing_cache_name",
           "check_engine_compat", "export_opset_for_jetson", "JETPACK_TRT"]

Version = Tuple[int, int, int]

SUPPORTED_MIN: Version = (8, 2, 0)  # JetPack 4.6 (Nano); 8.5 (JetPack 5) is the main target

#: JetPack release -> TensorRT it ships (for messages and docs).
JETPACK_TRT = {"4.6": "8.2", "5.1": "8.5", "6.0": "10.3", "6.1": "10.3", "6.2": "10.3"}


def parse_version(text: Any) -> Version:
    """'8.5.2.2' / '10.3.0.30' / '11.0.0b1' / (10, 3) -> (major, minor, patch); ValueError when unreadable."""
    if isinstance(text, (tuple, list)):
        parts = [int(p) for p in list(text)[:3]]
    else:
        m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
        if not m:
            raise ValueError(f"not a TensorRT version: {text!r}")
        parts = [int(g) for g in m.groups() if g is not None]
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


def max_onnx_opset(version: Any) -> int:
    """The newest ONNX opset the ONNX parser of this TensorRT version accepts (conservative)."""
    v = parse_version(version)
    if v < (8, 0, 0):
        return 11
    if v < (8, 5, 0):
        return 13
    if v < (9, 0, 0):
        return 17
    if v < (10, 0, 0):
        return 19
    if v < (11, 0, 0):
        return 20
    return 24


def export_opset_for_jetson() -> int:
    """Opset of the ONNX files in a Jetson bundle: the newest one every supported TensorRT parses.

    13 covers TensorRT 8.2 (JetPack 4.6) through 11.x and is the first opset with per-axis Q/DQ.
    """
    return max_onnx_opset(SUPPORTED_MIN)


def _cc(cc: Any) -> Tuple[int, int]:
    if isinstance(cc, str):
        major, _, minor = cc.partition(".")
        return int(major), int(minor or 0)
    return int(cc[0]), int(cc[1])


def fast_int8(compute_capability: Any) -> bool:
    """INT8 kernels exist for this GPU (TensorRT support matrix): 6.1 and 7.0+; not Nano (5.3), TX2 (6.2)."""
    cc = _cc(compute_capability)
    return cc == (6, 1) or cc >= (7, 0)


def fast_fp16(compute_capability: Any) -> bool:
    """FP16 kernels exist for this GPU: 5.3 (Nano), 6.0, 6.2 (TX2), 7.0+; not 6.1 (P4, GTX 10xx)."""
    cc = _cc(compute_capability)
    return cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0)


def has_dla(compute_capability: Any) -> bool:
    """Deep Learning Accelerator cores exist on Xavier (7.2) and Orin (8.7)."""
    return _cc(compute_capability) in ((7, 2), (8, 7))


def jetson_model(compute_capability: Any) -> Optional[str]:
    """The Jetson family for a compute capability (None for a desktop/server GPU)."""
    return {(5, 3): "Jetson Nano / TX1", (6, 2): "Jetson TX2", (7, 2): "Jetson Xavier", (8, 7): "Jetson Orin"}.get(
        _cc(compute_capability))


@dataclass(frozen=True)
class TrtFeatures:
    """Which API to call for each step, for one TensorRT version."""

    version: Version
    explicit_batch_flag: bool  # create_network(1 << EXPLICIT_BATCH) needed (8.x)
    workspace_api: str  # "max_workspace_size" | "memory_pool_limit"
    build_serialized_network: bool
    precision_flags: bool  # BuilderFlag.FP16 / INT8 exist (weakly typed networks)
    strongly_typed_only: bool  # 11+: precision comes from the ONNX's types and Q/DQ
    implicit_int8_calibration: bool  # IInt8EntropyCalibrator2 usable (deprecated 10.1, removed 11)
    platform_has_fast_queries: bool  # builder.platform_has_fast_fp16/int8 exist
    name_api: bool  # num_io_tensors / set_tensor_address / execute_async_v3
    bindings_api: bool  # num_bindings / execute_async_v2
    max_onnx_opset: int
    qdq_requires_int8_flag: bool  # explicit quantization needs BuilderFlag.INT8 (8.x-10.x)
    dla_supported: bool
    timing_cache: bool
    parser_error_node_name: bool  # IParserError.node_name()/node_operator() (10+)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["version"] = ".".join(map(str, self.version))
        return d


def features(version: Any) -> TrtFeatures:
    """The feature table for a TensorRT version (tuple or version string)."""
    v = parse_version(version)
    major = v[0]
    return TrtFeatures(
        version=v,
        explicit_batch_flag=major < 10,
        workspace_api="max_workspace_size" if v < (8, 4, 0) else "memory_pool_limit",
        build_serialized_network=v >= (8, 0, 0),
        precision_flags=major < 11,
        strongly_typed_only=major >= 11,
        implicit_int8_calibration=major < 10,  # usable until 10.0; we do not use the deprecated path on 10.x
        platform_has_fast_queries=major < 11,
        name_api=v >= (8, 5, 0),
        bindings_api=major < 10,
        max_onnx_opset=max_onnx_opset(v),
        qdq_requires_int8_flag=major < 11,
        dla_supported=major < 11,
        timing_cache=v >= (8, 0, 0),
        parser_error_node_name=major >= 10,
    )


def use_name_api(version: Any) -> bool:
    """The runner's I/O API: the name API from 8.5 on; the bindings API only before 8.5."""
    return features(version).name_api


@dataclass(frozen=True)
class PrecisionPlan:
    """How to get a precision out of one TensorRT version."""

    onnx: str  # which bundle ONNX to parse: "fp32" | "fp16" | "qdq"
    flags: Tuple[str, ...]  # BuilderFlag names to set
    method: str  # recorded in the manifest


def engine_precision_plan(version: Any, precision: str, dla: bool = False) -> PrecisionPlan:
    """Which ONNX to parse and which builder flags to set for ``precision`` on this TensorRT.

    int8 is explicit quantization (a Q/DQ ONNX) on every version: with the INT8 flag (plus FP16 so
    the layers left in float may run in fp16) up to 10.x, strongly typed on 11. fp16 uses the FP16
    flag up to 10.x and an fp16 ONNX on 11. DLA needs GPU_FALLBACK for layers it cannot run.
    """
    f = features(version)
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"unknown precision {precision!r}")
    if dla and not f.dla_supported:
        raise ValueError(f"TensorRT {'.'.join(map(str, f.version))} does not support DLA")
    if dla and precision == "fp32":
        raise ValueError("DLA runs fp16 or int8 only")
    if dla and precision == "int8":
        # The DLA runs implicitly quantized int8 only: not explicitly quantized (Q/DQ) networks, on any
        # version (NVIDIA/TensorRT#2222; Model-Optimizer: "DLA still only supports IQ").
        raise ValueError(f"the DLA does not run explicitly quantized (Q/DQ) int8 (TensorRT "
                         f"{'.'.join(map(str, f.version))}); put fp16 on the DLA (--precision fp16 --dla-core N) "
                         "or run int8 on the GPU")
    extra = ("GPU_FALLBACK",) if dla else ()
    if precision == "fp32":
        return PrecisionPlan("fp32", (), "fp32")
    if precision == "fp16":
        if f.strongly_typed_only:
            return PrecisionPlan("fp16", extra, "fp16 ONNX, strongly typed")
        return PrecisionPlan("fp32", ("FP16",) + extra, "BuilderFlag.FP16")
    if f.strongly_typed_only:
        return PrecisionPlan("qdq", extra, "explicit Q/DQ, strongly typed")
    return PrecisionPlan("qdq", ("INT8", "FP16") + extra, "explicit Q/DQ + BuilderFlag.INT8/FP16")


def timing_cache_name(trt_version: Any, gpu_name: str, compute_capability: Any) -> str:
    """File name of the timing cache, keyed by TensorRT version and GPU (caches do not transfer)."""
    v = ".".join(map(str, parse_version(trt_version)))
    major, minor = _cc(compute_capability)
    cc = f"{major}{minor}"
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    return f"timing-trt{v}-{gpu}-sm{cc}.cache"


def check_engine_compat(recorded: Dict[str, Any], current: Dict[str, Any]) -> Optional[str]:
    """Why an engine built with ``recorded`` (manifest ``model.engine``) cannot run here, or None.

    Plans do not deserialize across TensorRT versions (full version) or GPU models (compute capability
    and name); this turns the opaque "version tag does not match" into one line.
    """
    rv, cv = recorded.get("tensorrt"), current.get("tensorrt")
    if rv and cv and _four(rv) != _four(cv):
        return f"the engine was built with TensorRT {rv}, this device has TensorRT {cv}"
    rcc, ccc = recorded.get("compute_capability"), current.get("compute_capability")
    if rcc and ccc and _cc(rcc) != _cc(ccc):
        return (f"the engine was built for {recorded.get('gpu') or 'another GPU'} (compute {rcc}), this device is "
                f"{current.get('gpu') or 'a different GPU'} (compute {ccc})")
    rg, cg = recorded.get("gpu"), current.get("gpu")
    if rg and cg and rg != cg:
        return f"the engine was built on {rg}, this device is {cg}"
    return None


def _four(v: Any) -> Tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(v))[:4])
