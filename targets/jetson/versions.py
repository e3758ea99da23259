"""What each TensorRT version offers: pure functions and tables, no TensorRT import (testable anywhere),
plus the one reader of the Jetson's L4T release (``jetson_release``).

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
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = ["Version", "parse_version", "TrtFeatures", "features", "max_onnx_opset", "fast_int8", "fast_fp16",
           "has_dla", "jetson_model", "engine_precision_plan", "PrecisionPlan", "SUPPORTED_MIN", "timing_cache_name",
           "check_engine_compat", "export_opset_for_jetson", "JETPACK_TRT", "L4T_TO_JETPACK", "parse_l4t",
           "numpy_dtype", "check_dla_precision", "jetson_release", "NV_TEGRA_RELEASE"]

Version = Tuple[int, int, int]

SUPPORTED_MIN: Version = (8, 2, 0)  # JetPack 4.6 (Nano); 8.5 (JetPack 5) is the main target

#: JetPack release -> TensorRT it ships (NVIDIA's JetPack release notes; 6.1/6.2: CUDA 12.6, TensorRT 10.3).
JETPACK_TRT = {"4.6": "8.2", "5.1": "8.5", "6.0": "8.6", "6.1": "10.3", "6.2": "10.3"}
#: L4T (Jetson Linux) major release -> JetPack major (R32: JetPack 4, R35: 5, R36: 6).
L4T_TO_JETPACK = {"32": "4", "34": "5 (developer preview)", "35": "5", "36": "6", "38": "7"}
#: TensorRT ``DataType`` name -> numpy dtype. Our own table: TensorRT 8.5's ``trt.nptype`` builds its
#: table with ``np.bool``, which numpy 1.24-1.26 do not have (NVIDIA/TensorRT#2557, fixed in 8.6), and
#: pip gives JetPack 5's Python 3.8 numpy 1.24.4. BF16, FP8, INT4, FP4 have no numpy equivalent.
_NUMPY_DTYPES = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "BOOL": "bool",
                 "UINT8": "uint8", "INT64": "int64"}


def numpy_dtype(trt_dtype: Any) -> Optional[np.dtype]:
    """The numpy dtype of a TensorRT ``DataType`` (``trt.DataType.HALF`` -> float16), None when there is none."""
    name = getattr(trt_dtype, "name", None) or str(trt_dtype).rpartition(".")[2]
    found = _NUMPY_DTYPES.get(str(name).upper())
    return np.dtype(found) if found else None


NV_TEGRA_RELEASE = "/etc/nv_tegra_release"


def jetson_release(path: str = NV_TEGRA_RELEASE) -> Optional[Dict[str, str]]:
    """``parse_l4t`` of /etc/nv_tegra_release; None off a Jetson (no file)."""
    from ...sysinfo import read_sys_file

    return parse_l4t(read_sys_file(path))


def parse_l4t(text: Optional[str]) -> Optional[Dict[str, str]]:
    """``# R36 (release), REVISION: 4.3, ...`` (/etc/nv_tegra_release) -> ``{"l4t": "36.4.3", "jetpack": "6"}``.

    None without text; an unreadable first line is kept (80 characters) with JetPack "unknown".
    """
    if not text:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not m:
        return {"l4t": text.splitlines()[0][:80], "jetpack": "unknown"}
    return {"l4t": f"{m.group(1)}.{m.group(2).rstrip('.')}", "jetpack": L4T_TO_JETPACK.get(m.group(1), "unknown")}


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
    """Which API to call for each step, for one TensorRT version (each field is read by the builder or runner)."""

    version: Version
    explicit_batch_flag: bool  # create_network(1 << EXPLICIT_BATCH) needed (8.x)
    memory_pool_limit: bool  # config.set_memory_pool_limit(WORKSPACE, n) (8.4+); else max_workspace_size
    strongly_typed_only: bool  # 11+: precision comes from the ONNX's types and Q/DQ
    name_api: bool  # num_io_tensors / set_tensor_address / execute_async_v3
    max_onnx_opset: int
    dla_supported: bool
    timing_cache: bool
    parser_error_node_name: bool  # IParserError.node_name()/node_operator() (10+)


def features(version: Any) -> TrtFeatures:
    """The feature table for a TensorRT version (tuple or version string)."""
    v = parse_version(version)
    major = v[0]
    return TrtFeatures(
        version=v,
        explicit_batch_flag=major < 10,
        memory_pool_limit=v >= (8, 4, 0),
        strongly_typed_only=major >= 11,
        name_api=v >= (8, 5, 0),
        max_onnx_opset=max_onnx_opset(v),
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
    if dla:
        check_dla_precision(precision)
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


def check_dla_precision(precision: str) -> None:
    """ValueError unless ``precision`` can run on a DLA the way edgemnv2 builds it: fp16 only.

    fp32 does not run on a DLA; int8 does only as implicitly quantized (calibrated) int8, never as an
    explicitly quantized (Q/DQ) network, which is how edgemnv2 makes int8 on every version
    (NVIDIA/TensorRT#2222; Model-Optimizer: "DLA still only supports IQ"). Host and device both check.
    """
    if precision == "fp32":
        raise ValueError("the DLA runs fp16 or int8 only, not fp32")
    if precision == "int8":
        raise ValueError("the DLA does not run explicitly quantized (Q/DQ) int8, which is how edgemnv2 builds int8")


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
