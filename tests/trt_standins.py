"""STAND-INS, not TensorRT: small fake ``tensorrt``, ``pycuda`` and ``cuda-python`` modules for tests.

TensorRT cannot be installed on the machines this project is developed and tested on. These
stand-ins reproduce the *API surface* of TensorRT 8.2, 8.5, 10.x and 11.x (which attributes exist
in which version, as NVIDIA's docs and migration guides list them) so that tests can check OUR
version dispatch: that the builder and runner call only what each version has. They do not test
TensorRT. Attributes a version removed are absent, so calling them raises AttributeError, as the
real module would.

The "engine" a stand-in builds is a JSON header plus the ONNX bytes; "executing" it reads the
inputs from the addresses the runner bound, runs the ONNX with ONNX Runtime, and writes the outputs
back to the bound addresses, so the runner's buffer plumbing (names, shapes, dtypes, copies,
stream order) is exercised for real. "Device memory" is host memory here, unless ``memory=`` gives
real CUDA copies (tests/test_tensorrt_gpu.py: the runner's pointers and stream on a real GPU).

They also FAIL WHERE TENSORRT FAILS; each such behaviour cites the NVIDIA source it mirrors:
TensorRT 8.5's ``nptype`` and numpy 1.24, a dynamic input without an optimization profile, no DLA
on a desktop GPU, ``execute_async_v3`` with an unbound tensor, a refused timing cache.
"""

from __future__ import annotations

import enum
import json
import sys
import types
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from cuda_standins import CALLS, HostMemory, make_cuda_python, make_pycuda
from standin_onnx import layer_precisions, onnx_io, onnx_layers, static_output_shapes

try:  # captured now, so tests can hide onnx/onnxruntime from the code under test (a Jetson without them)
    import onnx as _onnx
    import onnxruntime as _ort
except ImportError:  # pragma: no cover
    _onnx = _ort = None

MAGIC = b"EDGEMNV2-STANDIN-TRT\n"
_MAX_OPSET = {8: 17, 10: 20, 11: 24}  # the stand-in parser's limits (8.2 -> 13 below)
#: The numpy TensorRT's own ``nptype`` sees; tests swap in ``Numpy124()`` to be JetPack 5's numpy 1.24.
NUMPY: Any = np


class Numpy124:
    """numpy as 1.24-1.26 look to ``np.bool``: missing (removed in 1.24, back in 2.0). All else is numpy."""

    def __getattr__(self, name: str) -> Any:
        if name == "bool":
            raise AttributeError("module 'numpy' has no attribute 'bool'.")
        return getattr(np, name)


__all__ = ["CALLS", "NUMPY", "Numpy124", "MAGIC", "HostMemory", "make_tensorrt", "make_pycuda", "make_cuda_python",
           "install"]


# -- tensorrt ----------------------------------------------------------------------------------------------
def make_tensorrt(version: str, dla_cores: int = 2, memory: Any = HostMemory) -> types.ModuleType:
    """A stand-in ``tensorrt`` module with the API surface of TensorRT ``version``.

    ``dla_cores``: ``Builder.num_DLA_cores`` (0 on a desktop GPU and Orin Nano, 2 on Xavier/AGX Orin);
    ``memory``: reads/writes the engine's I/O buffers (``HostMemory``, or real CUDA copies).
    """
    major, minor = (int(p) for p in version.split(".")[:2])
    s = types.SimpleNamespace(version=version, v=(major, minor), major=major, dla_cores=dla_cores, memory=memory)
    for part in (_types, _parser, _builder, _context, _engine):
        vars(s).update(part(s))
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.__standin__ = True
    for name in ("Logger", "DataType", "nptype", "BuilderFlag", "DeviceType", "Builder", "OnnxParser", "Runtime",
                 "ErrorCode", "ProfilingVerbosity", "IProfiler", "LayerInformationFormat", "MemoryPoolType",
                 "NetworkDefinitionCreationFlag", "TensorIOMode"):
        if s.__dict__.get(name) is not None:
            setattr(trt, name, getattr(s, name))
    if s.v < (8, 5):
        del trt.TensorIOMode
    return trt


def _types(s: Any) -> Dict[str, Any]:
    """Logger, DataType + nptype, and the enums of version ``s.version``."""
    v, major = s.v, s.major

    severity = enum.IntEnum("Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"], start=0)

    class Logger:
        Severity = severity
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = list(severity)

        def __init__(self, min_severity: Any = severity.WARNING) -> None:
            self.min_severity = min_severity

    class DataType(enum.Enum):
        FLOAT = "float32"
        HALF = "float16"
        INT8 = "int8"
        INT32 = "int32"
        BOOL = "bool"

    def nptype(dt: DataType) -> Any:
        # NVIDIA/TensorRT python/packaging/tensorrt/__init__.py (8.2-8.5): the table is built on each call
        # with ``bool: np.bool``, so every call raises AttributeError on numpy 1.24-1.26 (np.bool removed;
        # numpy 2 has it again). Fixed in 8.6 with np.bool_ (NVIDIA/TensorRT#2557).
        npm = NUMPY
        table = {DataType.FLOAT: npm.float32, DataType.HALF: npm.float16, DataType.INT8: npm.int8,
                 DataType.INT32: npm.int32, DataType.BOOL: npm.bool if v < (8, 6) else npm.bool_}
        if dt in table:
            return table[dt]
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")

    flags_builder = ["GPU_FALLBACK", "REFIT", "DEBUG"]
    if major < 11:
        flags_builder += ["FP16", "INT8"] + (["STRICT_TYPES"] if major < 10 else [])
    BuilderFlag = enum.Enum("BuilderFlag", flags_builder)
    MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM"]) if v >= (8, 4) else None
    ProfilingVerbosity = enum.Enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "NONE", "DETAILED"])  # 8.2+
    LayerInformationFormat = enum.Enum("LayerInformationFormat", ["ONELINE", "JSON"])  # 8.2+
    DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])
    net_flags = ["EXPLICIT_BATCH"] if major < 11 else []
    if major >= 10:
        net_flags.append("STRONGLY_TYPED")
    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag",
                                                 {n: i for i, n in enumerate(net_flags)}) if net_flags else None

    class ErrorCode(enum.Enum):
        SUCCESS = 0
        INTERNAL_ERROR = 1
        INVALID_NODE = 6
        UNSUPPORTED_NODE = 8

    class TensorIOMode(enum.Enum):
        NONE = 0
        INPUT = 1
        OUTPUT = 2

    return dict(Logger=Logger, DataType=DataType, nptype=nptype, BuilderFlag=BuilderFlag,
                MemoryPoolType=MemoryPoolType, ProfilingVerbosity=ProfilingVerbosity,
                LayerInformationFormat=LayerInformationFormat, DeviceType=DeviceType,
                NetworkDefinitionCreationFlag=NetworkDefinitionCreationFlag, ErrorCode=ErrorCode,
                TensorIOMode=TensorIOMode)


def _parser(s: Any) -> Dict[str, Any]:
    """The ONNX parser and the network it fills."""
    v, major = s.v, s.major
    DataType, ErrorCode, NetworkDefinitionCreationFlag = s.DataType, s.ErrorCode, s.NetworkDefinitionCreationFlag

    class ParserError:
        def __init__(self, node: int, desc: str, code: ErrorCode, name: str = "", op: str = "") -> None:
            self._node, self._desc, self._code, self._name, self._op = node, desc, code, name, op

        def node(self) -> int:
            return self._node

        def desc(self) -> str:
            return self._desc

        def code(self) -> ErrorCode:
            return self._code

        def __str__(self) -> str:
            return f"In node {self._node}: {self._desc}"

    if major >= 10:
        ParserError.node_name = lambda self: self._name
        ParserError.node_operator = lambda self: self._op

    class Tensor:
        def __init__(self, name: str, shape: Tuple[int, ...], dtype: DataType) -> None:
            self.name, self.shape, self.dtype = name, tuple(shape), dtype

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.inputs: List[Tensor] = []
            self.outputs: List[Tensor] = []
            self.onnx: bytes = b""
            self.has_qdq = False
            self.layers: List[Tuple[str, str, bool]] = []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        @property
        def num_outputs(self) -> int:
            return len(self.outputs)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        def get_output(self, i: int) -> Tensor:
            return self.outputs[i]

    _onnx_types = {1: DataType.FLOAT, 10: DataType.HALF, 3: DataType.INT8, 6: DataType.INT32}

    class OnnxParser:
        def __init__(self, network: Network, logger: Any) -> None:
            self.network = network
            self.errors: List[ParserError] = []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> ParserError:
            return self.errors[i]

        def parse(self, data: bytes) -> bool:
            CALLS.append("OnnxParser.parse")
            if major < 10 and not self.network.flags & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)):
                self.errors.append(ParserError(-1, "network must be created with the EXPLICIT_BATCH flag",
                                               ErrorCode.INTERNAL_ERROR))
                return False
            try:
                model = _onnx.load_from_string(data)
            except Exception as e:  # noqa: BLE001
                self.errors.append(ParserError(-1, f"failed to parse ONNX protobuf: {e}", ErrorCode.INTERNAL_ERROR))
                return False
            opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
            limit = 13 if v < (8, 5) else _MAX_OPSET[max(k for k in _MAX_OPSET if k <= major)]
            if opset > limit:
                self.errors.append(ParserError(-1, f"opset {opset} is not supported (max {limit})",
                                               ErrorCode.UNSUPPORTED_NODE))
                return False
            for i, n in enumerate(model.graph.node):
                if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
                    self.network.has_qdq = True
                if n.op_type == "Hardmax":  # not in onnx-tensorrt's operator list
                    self.errors.append(ParserError(i, f"No importer registered for op: {n.op_type}",
                                                   ErrorCode.UNSUPPORTED_NODE, n.name, n.op_type))
            if self.errors:
                return False
            for name, shape, elem, is_input in onnx_io(model):
                (self.network.inputs if is_input else self.network.outputs).append(
                    Tensor(name, shape, _onnx_types[elem]))
            self.network.layers = onnx_layers(model)
            self.network.onnx = data
            return True

    return dict(Network=Network, OnnxParser=OnnxParser)


def _builder(s: Any) -> Dict[str, Any]:
    """Builder, its config and the timing cache."""
    v, major, version = s.v, s.major, s.version
    DeviceType, ProfilingVerbosity, Network, dla_cores = s.DeviceType, s.ProfilingVerbosity, s.Network, s.dla_cores

    cache_tag = b"standin-timing-cache " + version.encode()

    class TimingCache:
        def __init__(self, blob: bytes) -> None:
            self.blob = bytes(blob)

        def serialize(self) -> bytes:
            return cache_tag + b" " + str(len(self.blob)).encode()

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: List[str] = []
            self.pools: Dict[Any, int] = {}
            self.default_device_type = DeviceType.GPU
            self.DLA_core = -1
            self.profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
            self._cache: Optional[TimingCache] = None

        def set_flag(self, flag: Any) -> None:
            CALLS.append(f"BuilderConfig.set_flag({flag.name})")
            self.flags.append(flag.name)

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            return TimingCache(blob)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            # IBuilderConfig::setTimingCache returns bool (python/src/infer/pyCore.cpp binds it directly, 8.5
            # and 10.x): false for a cache made by another TensorRT/device unless ignore_mismatch.
            CALLS.append("BuilderConfig.set_timing_cache")
            if cache.blob and not cache.blob.startswith(cache_tag) and not ignore_mismatch:
                return False
            self._cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self._cache or TimingCache(b"")

    if v >= (8, 4):
        def set_memory_pool_limit(self: BuilderConfig, pool: Any, size: int) -> None:
            CALLS.append("BuilderConfig.set_memory_pool_limit")
            self.pools[pool] = size

        BuilderConfig.set_memory_pool_limit = set_memory_pool_limit
    if major < 10:
        BuilderConfig.max_workspace_size = 0  # deprecated in 8.4, still settable until 10

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            CALLS.append(f"Builder.create_network({flags})")
            return Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> Optional[bytes]:
            CALLS.append("Builder.build_serialized_network")
            if major < 11 and network.has_qdq and "INT8" not in config.flags:
                return None  # explicit quantization needs the INT8 flag before 11
            if any(d < 0 for t in network.inputs for d in t.shape):
                # "Network has dynamic or shape inputs, but no optimization profile has been defined."
                # (TensorRT developer guide, "Working with Dynamic Shapes": a dynamic input needs a profile;
                # buildSerializedNetwork returns nullptr -> None in Python, 8.x-10.x)
                return None
            outputs = static_output_shapes(network)  # TensorRT infers the outputs' dims from static inputs
            header = {"version": version, "flags": config.flags,
                      "dla": config.DLA_core if config.default_device_type == DeviceType.DLA else None,
                      "detailed": config.profiling_verbosity == ProfilingVerbosity.DETAILED,
                      "layers": layer_precisions(network, config.flags, major >= 11),
                      "io": [[t.name, list(t.shape), t.dtype.value, True] for t in network.inputs]
                      + [[t.name, list(s), t.dtype.value, False] for t, s in zip(network.outputs, outputs)]}
            return MAGIC + json.dumps(header).encode() + b"\n" + network.onnx

    if major < 11:
        Builder.platform_has_fast_fp16 = True
        Builder.platform_has_fast_int8 = True
    return dict(Builder=Builder)


def _context(s: Any) -> Dict[str, Any]:
    """The execution context (its execution runs the ONNX with ONNX Runtime on the bound buffers)."""
    v, major, memory = s.v, s.major, s.memory

    class IProfiler:
        """Base class of user profilers (subclasses call ``IProfiler.__init__`` and define report_layer_time)."""

        def __init__(self) -> None:
            pass

    class Context:
        def __init__(self, engine: Any) -> None:
            self.engine = engine
            self.addresses: Dict[str, int] = {}
            self.profiler: Optional[IProfiler] = None

        def _run(self, addresses: Dict[str, int]) -> bool:
            ort = _ort

            if self.engine.session is None:
                so = ort.SessionOptions()
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                so.log_severity_level = 3
                self.engine.session = ort.InferenceSession(self.engine.onnx, so, providers=["CPUExecutionProvider"])
            feeds = {n: memory.read(addresses[n], tuple(s), np.dtype(dt)) for n, s, dt, inp in self.engine.io if inp}
            outs = self.engine.session.run(None, feeds)
            names = [n for n, _, _, inp in self.engine.io if not inp]
            for (n, s, dt, _), o in zip([x for x in self.engine.io if not x[3]], outs):
                memory.write(addresses[n], np.ascontiguousarray(o.astype(dt).reshape(s)))
            CALLS.append("execute")
            if self.profiler is not None:  # IProfiler: once per layer per execution (made-up times)
                for i, (name, _) in enumerate(self.engine.header["layers"]):
                    self.profiler.report_layer_time(name, 0.01 * (1 + i % 3))
            return bool(names)

    if v >= (8, 5):
        def set_tensor_address(self: Context, name: str, ptr: int) -> bool:
            # returns bool (python/src/infer/pyCore.cpp lambdas::set_tensor_address, 8.5 and 10.x); false when
            # the name is not an I/O tensor (include/NvInferRuntime.h, setTensorAddress)
            CALLS.append("Context.set_tensor_address")
            if name not in {x[0] for x in self.engine.io}:
                return False
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self: Context, stream_handle: int) -> bool:
            # enqueueV3 returns false when a tensor has no address: "Before calling enqueueV3(), each input
            # must have a non-null address and each output must have a non-null address or an
            # IOutputAllocator" (include/NvInferRuntime.h, setTensorAddress, 8.5-10.x)
            CALLS.append("Context.execute_async_v3")
            if any(not self.addresses.get(x[0]) for x in self.engine.io):
                return False
            return self._run(self.addresses)

        def set_input_shape(self: Context, name: str, shape: Any) -> bool:
            return True

        Context.set_tensor_address = set_tensor_address
        Context.execute_async_v3 = execute_async_v3
        Context.set_input_shape = set_input_shape
    if major < 10:
        def execute_async_v2(self: Context, bindings: List[int], stream_handle: int) -> bool:
            CALLS.append("Context.execute_async_v2")
            return self._run({x[0]: int(p) for x, p in zip(self.engine.io, bindings)})

        def execute_v2(self: Context, bindings: List[int]) -> bool:
            CALLS.append("Context.execute_v2")
            return self._run({x[0]: int(p) for x, p in zip(self.engine.io, bindings)})

        Context.execute_async_v2 = execute_async_v2
        Context.execute_v2 = execute_v2

    return dict(IProfiler=IProfiler, Context=Context)


def _engine(s: Any) -> Dict[str, Any]:
    """The deserialized engine, its inspector, and the runtime that loads it."""
    v, major, version = s.v, s.major, s.version
    Context, DataType, TensorIOMode = s.Context, s.DataType, s.TensorIOMode

    class Engine:
        def __init__(self, header: Dict[str, Any], onnx_bytes: bytes) -> None:
            self.header = header
            self.io = header["io"]
            self.onnx = onnx_bytes
            self.session = None

        def create_execution_context(self) -> Context:
            return Context(self)

        def create_engine_inspector(self) -> Any:
            return EngineInspector(self)

    class EngineInspector:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine

        def get_engine_information(self, fmt: Any) -> str:
            # JSON "Layers": names only unless built with ProfilingVerbosity.DETAILED (EngineInspector docs, 8.2+)
            layers = self.engine.header["layers"]
            if not self.engine.header["detailed"]:
                return json.dumps({"Layers": [n for n, _ in layers]})
            return json.dumps({"Layers": [{"Name": n, "LayerType": "standin", "Outputs": [
                {"Name": n + ":out", "Format/Datatype": f}]} for n, f in layers]})

    if v >= (8, 5):
        Engine.num_io_tensors = property(lambda self: len(self.io))
        Engine.get_tensor_name = lambda self, i: self.io[i][0]
        Engine.get_tensor_mode = lambda self, name: TensorIOMode.INPUT if self._by(name)[3] else TensorIOMode.OUTPUT
        Engine.get_tensor_shape = lambda self, name: tuple(self._by(name)[1])
        Engine.get_tensor_dtype = lambda self, name: DataType(self._by(name)[2])
        Engine._by = lambda self, name: next(x for x in self.io if x[0] == name)
    if major < 10:
        Engine.num_bindings = property(lambda self: len(self.io))
        Engine.binding_is_input = lambda self, i: self.io[i][3]
        Engine.get_binding_name = lambda self, i: self.io[i][0]
        Engine.get_binding_shape = lambda self, i: tuple(self.io[i][1])
        Engine.get_binding_dtype = lambda self, i: DataType(self.io[i][2])

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes) -> Optional[Engine]:
            CALLS.append("Runtime.deserialize_cuda_engine")
            if not data.startswith(MAGIC):
                return None
            head, _, onnx_bytes = data[len(MAGIC):].partition(b"\n")
            header = json.loads(head)
            if header["version"] != version:  # "Version tag does not match"
                return None
            return Engine(header, onnx_bytes)

    return dict(Runtime=Runtime)


def install(monkeypatch: Any, version: str, cuda: str = "pycuda", gpu: str = "Orin (stand-in)",
            cc: Tuple[int, int] = (8, 7), memory: Any = HostMemory) -> types.ModuleType:
    """Put stand-in modules in ``sys.modules`` (undone by ``monkeypatch``); returns the stand-in tensorrt.

    ``cuda``: "pycuda" / "cuda-python" stand-ins, or "real" to leave the installed CUDA bindings alone
    (with ``memory`` doing real device copies). The stand-in builder has 2 DLA cores on Xavier / Orin
    (compute 7.2 / 8.7) and none elsewhere, as a desktop GPU reports ``num_DLA_cores`` 0.
    """
    trt = make_tensorrt(version, dla_cores=2 if tuple(cc) in ((7, 2), (8, 7)) else 0, memory=memory)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    if cuda == "real":
        pass
    elif cuda == "pycuda":
        pkg, drv = make_pycuda(gpu, cc)
        monkeypatch.setitem(sys.modules, "pycuda", pkg)
        monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
        for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
            monkeypatch.setitem(sys.modules, name, None)
    else:
        monkeypatch.setitem(sys.modules, "pycuda", None)
        monkeypatch.setitem(sys.modules, "pycuda.driver", None)
        for name, mod in make_cuda_python(gpu.encode(), cc).items():
            monkeypatch.setitem(sys.modules, name, mod)
    import importlib.machinery

    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)  # find_spec("tensorrt") sees it
    CALLS.clear()
    return trt
