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
stream order) is exercised for real. "Device memory" is host memory here.
"""

from __future__ import annotations

import ctypes
import enum
import json
import sys
import threading
import types
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

try:  # captured now, so tests can hide onnx/onnxruntime from the code under test (a Jetson without them)
    import onnx as _onnx
    import onnxruntime as _ort
except ImportError:  # pragma: no cover
    _onnx = _ort = None

MAGIC = b"EDGEMNV2-STANDIN-TRT\n"
_MAX_OPSET = {8: 17, 10: 20, 11: 24}  # the stand-in parser's limits (8.2 -> 13 below)
CALLS: List[str] = []  # every stand-in API call, for dispatch assertions


def _version_tuple(v: str) -> Tuple[int, int]:
    major, minor = v.split(".")[:2]
    return int(major), int(minor)


# -- "device" memory -----------------------------------------------------------------------------------
_BUFFERS: Dict[int, np.ndarray] = {}


def _alloc(nbytes: int) -> int:
    buf = np.zeros(max(int(nbytes), 1), np.uint8)
    addr = buf.ctypes.data
    _BUFFERS[addr] = buf
    return addr


def _view(addr: int, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    count = int(np.prod(shape)) if shape else 1
    raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(addr)
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


# -- tensorrt ----------------------------------------------------------------------------------------------
def make_tensorrt(version: str) -> types.ModuleType:
    """A stand-in ``tensorrt`` module with the API surface of TensorRT ``version``."""
    major, minor = _version_tuple(version)
    v = (major, minor)
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.__standin__ = True

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
        return np.dtype(dt.value).type

    flags_builder = ["GPU_FALLBACK", "REFIT", "DEBUG"]
    if major < 11:
        flags_builder += ["FP16", "INT8", "STRICT_TYPES"] if major < 10 else ["FP16", "INT8", "STRONGLY_TYPED_UNUSED"]
    BuilderFlag = enum.Enum("BuilderFlag", flags_builder)
    MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM"])
    DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])
    net_flags = ["EXPLICIT_BATCH"] if major < 11 else []
    if major >= 10:
        net_flags.append("STRONGLY_TYPED")
    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag",
                                                 {n: i for i, n in enumerate(net_flags)}) if net_flags else None

    class ErrorCode(enum.Enum):
        SUCCESS = 0
        INTERNAL_ERROR = 1
        INVALID_NODE = 4
        UNSUPPORTED_NODE = 8

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
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network = network
            self.errors: List[ParserError] = []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> ParserError:
            return self.errors[i]

        def parse(self, data: bytes) -> bool:
            CALLS.append("OnnxParser.parse")
            onnx = _onnx

            if major < 10 and not self.network.flags & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)):
                self.errors.append(ParserError(-1, "network must be created with the EXPLICIT_BATCH flag",
                                               ErrorCode.INTERNAL_ERROR))
                return False
            try:
                model = onnx.load_from_string(data)
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
            inits = {t.name for t in model.graph.initializer}
            for vi in model.graph.input:
                if vi.name not in inits:
                    dims = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
                    self.network.inputs.append(Tensor(vi.name, dims,
                                                      _onnx_types[vi.type.tensor_type.elem_type]))
            for vi in model.graph.output:
                self.network.outputs.append(Tensor(vi.name, tuple(d.dim_value for d in vi.type.tensor_type.shape.dim),
                                                   _onnx_types[vi.type.tensor_type.elem_type]))
            self.network.onnx = data
            return True

    class TimingCache:
        def __init__(self, blob: bytes) -> None:
            self.blob = bytes(blob)

        def serialize(self) -> bytes:
            return b"standin-timing-cache " + version.encode() + b" " + str(len(self.blob)).encode()

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: List[str] = []
            self.pools: Dict[Any, int] = {}
            self.default_device_type = DeviceType.GPU
            self.DLA_core = -1
            self._cache: Optional[TimingCache] = None

        def set_flag(self, flag: Any) -> None:
            CALLS.append(f"BuilderConfig.set_flag({flag.name})")
            self.flags.append(flag.name)

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            CALLS.append("BuilderConfig.set_memory_pool_limit")
            self.pools[pool] = size

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            return TimingCache(blob)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self._cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self._cache or TimingCache(b"")

    if major < 10:
        BuilderConfig.max_workspace_size = 0  # deprecated in 8.4, still settable until 10
    if major < 11:
        BuilderConfig.int8_calibrator = None

    class Builder:
        num_DLA_cores = 2

        def __init__(self, logger: Logger) -> None:
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
            header = {"version": version, "flags": config.flags,
                      "dla": config.DLA_core if config.default_device_type == DeviceType.DLA else None,
                      "io": [[t.name, list(t.shape), t.dtype.value, True] for t in network.inputs]
                      + [[t.name, list(t.shape), t.dtype.value, False] for t in network.outputs]}
            return MAGIC + json.dumps(header).encode() + b"\n" + network.onnx

    if major < 11:
        Builder.platform_has_fast_fp16 = True
        Builder.platform_has_fast_int8 = True
    if major < 10:
        Builder.build_engine = lambda self, network, config: None

    class Context:
        def __init__(self, engine: Any) -> None:
            self.engine = engine
            self.addresses: Dict[str, int] = {}

        def _run(self, addresses: Dict[str, int]) -> bool:
            ort = _ort

            if self.engine.session is None:
                so = ort.SessionOptions()
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                so.log_severity_level = 3
                self.engine.session = ort.InferenceSession(self.engine.onnx, so, providers=["CPUExecutionProvider"])
            feeds = {n: _view(addresses[n], tuple(s), np.dtype(dt)).copy() for n, s, dt, inp in self.engine.io if inp}
            outs = self.engine.session.run(None, feeds)
            names = [n for n, _, _, inp in self.engine.io if not inp]
            for (n, s, dt, _), o in zip([x for x in self.engine.io if not x[3]], outs):
                np.copyto(_view(addresses[n], tuple(s), np.dtype(dt)), o.astype(dt))
            CALLS.append("execute")
            return bool(names)

    if v >= (8, 5):
        def set_tensor_address(self: Context, name: str, ptr: int) -> bool:
            CALLS.append("Context.set_tensor_address")
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self: Context, stream_handle: int) -> bool:
            CALLS.append("Context.execute_async_v3")
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

        Context.execute_async_v2 = execute_async_v2

    class TensorIOMode(enum.Enum):
        NONE = 0
        INPUT = 1
        OUTPUT = 2

    class Engine:
        def __init__(self, header: Dict[str, Any], onnx_bytes: bytes) -> None:
            self.header = header
            self.io = header["io"]
            self.onnx = onnx_bytes
            self.session = None

        def create_execution_context(self) -> Context:
            return Context(self)

    if v >= (8, 5):
        Engine.num_io_tensors = property(lambda self: len(self.io))
        Engine.get_tensor_name = lambda self, i: self.io[i][0]
        Engine.get_tensor_mode = lambda self, name: TensorIOMode.INPUT if self._by(name)[3] else TensorIOMode.OUTPUT
        Engine.get_tensor_shape = lambda self, name: tuple(self._by(name)[1])
        Engine.get_tensor_dtype = lambda self, name: DataType(self._by(name)[2])
        Engine._by = lambda self, name: next(x for x in self.io if x[0] == name)
        trt.TensorIOMode = TensorIOMode
    if major < 10:
        Engine.num_bindings = property(lambda self: len(self.io))
        Engine.binding_is_input = lambda self, i: self.io[i][3]
        Engine.get_binding_name = lambda self, i: self.io[i][0]
        Engine.get_binding_shape = lambda self, i: tuple(self.io[i][1])
        Engine.get_binding_dtype = lambda self, i: DataType(self.io[i][2])

    class Runtime:
        def __init__(self, logger: Logger) -> None:
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

    for name, obj in dict(Logger=Logger, DataType=DataType, nptype=nptype, BuilderFlag=BuilderFlag,
                          MemoryPoolType=MemoryPoolType, DeviceType=DeviceType, Builder=Builder,
                          OnnxParser=OnnxParser, Runtime=Runtime, ErrorCode=ErrorCode).items():
        setattr(trt, name, obj)
    if NetworkDefinitionCreationFlag is not None:
        trt.NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag
    if major < 11:
        trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {"__init__": lambda self: None})
    return trt


# -- pycuda ----------------------------------------------------------------------------------------------
class _CtxState(threading.local):
    def __init__(self) -> None:
        self.stack: List[Any] = []


def make_pycuda(gpu: str = "Orin (stand-in)", cc: Tuple[int, int] = (8, 7)) -> Tuple[types.ModuleType,
                                                                                     types.ModuleType]:
    """Stand-in ``pycuda`` and ``pycuda.driver`` (host memory plays device memory)."""
    pkg = types.ModuleType("pycuda")
    drv = types.ModuleType("pycuda.driver")
    state = _CtxState()
    drv.pushes = []

    class Ctx:
        def push(self) -> None:
            state.stack.append(self)
            drv.pushes.append(threading.get_ident())

    class Context:
        @staticmethod
        def pop() -> None:
            state.stack.pop()

        @staticmethod
        def depth() -> int:
            return len(state.stack)

    class Device:
        def __init__(self, i: int) -> None:
            self.i = i

        def name(self) -> str:
            return gpu

        def compute_capability(self) -> Tuple[int, int]:
            return cc

        def retain_primary_context(self) -> Ctx:
            return Ctx()

    class DeviceAllocation:
        def __init__(self, n: int) -> None:
            self.addr = _alloc(n)

        def __int__(self) -> int:
            return self.addr

        def free(self) -> None:
            _BUFFERS.pop(self.addr, None)

    class Stream:
        handle = 0xC0FFEE

        def synchronize(self) -> None:
            CALLS.append("Stream.synchronize")

    def _need_ctx() -> None:
        if not state.stack:
            raise RuntimeError("stand-in pycuda: no current context in this thread (push one first)")

    def mem_alloc(n: int) -> DeviceAllocation:
        _need_ctx()
        return DeviceAllocation(n)

    def memcpy_htod_async(dst: Any, src: np.ndarray, stream: Any = None) -> None:
        _need_ctx()
        CALLS.append("memcpy_htod_async")
        ctypes.memmove(int(dst), src.ctypes.data, src.nbytes)

    def memcpy_dtoh_async(dst: np.ndarray, src: Any, stream: Any = None) -> None:
        _need_ctx()
        CALLS.append("memcpy_dtoh_async")
        ctypes.memmove(dst.ctypes.data, int(src), dst.nbytes)

    for name, obj in dict(init=lambda: None, Device=Device, Context=Context, Stream=Stream, mem_alloc=mem_alloc,
                          pagelocked_empty=lambda shape, dtype: np.empty(shape, dtype),
                          memcpy_htod_async=memcpy_htod_async, memcpy_dtoh_async=memcpy_dtoh_async,
                          get_version=lambda: (11, 4, 0)).items():
        setattr(drv, name, obj)
    pkg.driver = drv
    return pkg, drv


# -- cuda-python ---------------------------------------------------------------------------------------------
def make_cuda_python(gpu: bytes = b"Orin (stand-in)", cc: Tuple[int, int] = (8, 7)) -> Dict[str, types.ModuleType]:
    """Stand-in ``cuda``, ``cuda.bindings`` and ``cuda.bindings.runtime`` (every call returns (err, ...))."""
    rt = types.ModuleType("cuda.bindings.runtime")

    class cudaError_t(enum.Enum):  # noqa: N801 - mirrors cuda-python's name
        cudaSuccess = 0
        cudaErrorInvalidValue = 1

    class cudaMemcpyKind(enum.Enum):  # noqa: N801
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    class Props:
        name = gpu
        major, minor = cc

    class StreamT:
        def __int__(self) -> int:
            return 0xBEEF

    ok = cudaError_t.cudaSuccess

    def memcpy(dst: int, src: int, n: int, kind: Any, stream: Any) -> Tuple[Any]:
        CALLS.append("cudaMemcpyAsync")
        ctypes.memmove(int(dst), int(src), int(n))
        return (ok,)

    for name, obj in dict(cudaError_t=cudaError_t, cudaMemcpyKind=cudaMemcpyKind,
                          cudaSetDevice=lambda d: (ok,), cudaGetDeviceProperties=lambda d: (ok, Props()),
                          cudaRuntimeGetVersion=lambda: (ok, 12020), cudaMallocHost=lambda n: (ok, _alloc(n)),
                          cudaMalloc=lambda n: (ok, _alloc(n)), cudaStreamCreate=lambda: (ok, StreamT()),
                          cudaMemcpyAsync=memcpy, cudaStreamSynchronize=lambda s: (ok,),
                          cudaFree=lambda p: (ok,), cudaFreeHost=lambda p: (ok,),
                          cudaStreamDestroy=lambda s: (ok,)).items():
        setattr(rt, name, obj)
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = rt
    cuda.bindings = bindings
    return {"cuda": cuda, "cuda.bindings": bindings, "cuda.bindings.runtime": rt}


def install(monkeypatch: Any, version: str, cuda: str = "pycuda", gpu: str = "Orin (stand-in)",
            cc: Tuple[int, int] = (8, 7)) -> types.ModuleType:
    """Put stand-in modules in ``sys.modules`` (undone by ``monkeypatch``); returns the stand-in tensorrt."""
    trt = make_tensorrt(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    if cuda == "pycuda":
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
