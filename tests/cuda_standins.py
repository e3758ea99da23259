"""STAND-INS, not CUDA: small fake ``pycuda`` and ``cuda-python`` modules and their "device" memory, for tests.

Host memory plays device memory: an allocation is a numpy buffer and its address is the pointer the
runner binds. Used by tests/trt_standins.py (see there); every call is recorded in ``CALLS``.
"""

from __future__ import annotations

import ctypes
import enum
import threading
import types
from typing import Any, Dict, List, Tuple

import numpy as np

CALLS: List[str] = []  # every stand-in API call, for dispatch assertions

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


class HostMemory:
    """How a stand-in engine reads and writes "device" memory: here, host memory at that address."""

    @staticmethod
    def read(addr: int, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        return _view(addr, shape, dtype).copy()

    @staticmethod
    def write(addr: int, array: np.ndarray) -> None:
        np.copyto(_view(addr, array.shape, array.dtype), array)


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
                          get_version=lambda: (11, 4, 0), get_driver_version=lambda: 11040).items():
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
                          cudaRuntimeGetVersion=lambda: (ok, 12060), cudaDriverGetVersion=lambda: (ok, 12020),
                          cudaMallocHost=lambda n: (ok, _alloc(n)),
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
