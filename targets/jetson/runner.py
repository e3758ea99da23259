"""TensorRT runner (device side, Jetson): runs a serialized engine with page-locked buffers on a CUDA stream.

Python 3.8 compatible (JetPack 5). Imports TensorRT and CUDA bindings only when a runner is loaded.

* I/O API: the name API (``num_io_tensors``, ``set_tensor_address``, ``execute_async_v3``) from
  TensorRT 8.5 on; the bindings API (``execute_async_v2``) only before 8.5 (JetPack 4.6). The choice
  is ``versions.use_name_api(trt.__version__)``.
* CUDA: pycuda (``pagelocked_empty`` + ``mem_alloc`` + ``Stream``; async copies, one synchronize)
  with the device's primary context pushed around every call and popped after, so the thread that
  loads or runs the model owns the context while it works (safe in a camera app's worker thread);
  cuda-python's runtime API (``cuda.bindings.runtime`` / ``cuda.cudart``) where pycuda is missing.
* Load-time check: the manifest records the TensorRT version and GPU the engine was built with;
  a mismatch gives one line and the rebuild command instead of TensorRT's "version tag" failure.
* The bool results of ``set_tensor_address`` and ``execute_async_v3/v2`` are checked; tensor dtypes
  come from ``versions.numpy_dtype``, never ``trt.nptype`` (TensorRT 8.5's fails on numpy 1.24).
* ``layer_profile()``: per-layer times and precisions (``layers.py``; not verified on hardware).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ...errors import EdgeError
from ..base import Runner, TensorSpec
from .files import finish_command
from .layers import layer_report
from .versions import check_engine_compat, jetson_release, numpy_dtype, use_name_api

__all__ = ["TensorRTRunner", "cuda_backend", "device_facts", "l4t_release", "import_tensorrt"]

def import_tensorrt() -> Any:
    """``import tensorrt`` with a one-line error that says where TensorRT comes from."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgeError("TensorRT is not installed here (the tensorrt Python module is missing)",
                        "on a Jetson use JetPack's TensorRT: python3 -m venv --system-site-packages; "
                        "elsewhere pip install tensorrt") from None
    return trt


def l4t_release() -> Optional[str]:
    """'35.3.1' from /etc/nv_tegra_release; None off a Jetson or when unreadable."""
    found = jetson_release()
    return found["l4t"] if found and found["jetpack"] != "unknown" else None


def _cuda_version(v: int) -> str:
    """12020 -> '12.2' (CUDA's integer version encoding)."""
    return f"{int(v) // 1000}.{(int(v) % 1000) // 10}"


# -- CUDA backends ---------------------------------------------------------------------------------
class _PycudaBackend:
    """pycuda: the device's primary context, pushed for each piece of work and popped after."""

    name = "pycuda"

    def __init__(self, device: int = 0) -> None:
        import pycuda.driver as cuda

        self.cuda = cuda
        cuda.init()
        self.device = cuda.Device(device)
        self.ctx = self.device.retain_primary_context()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self.ctx.push()
        try:
            yield
        finally:
            self.cuda.Context.pop()

    def info(self) -> Dict[str, Any]:
        """GPU, compute capability; CUDA driver version and the CUDA toolkit pycuda was built against."""
        major, minor = self.device.compute_capability()
        return {"gpu": str(self.device.name()), "compute_capability": f"{major}.{minor}",
                "cuda_runtime": ".".join(str(v) for v in self.cuda.get_version()[:2]),
                "cuda_driver": _cuda_version(self.cuda.get_driver_version()), "cuda_bindings": "pycuda"}

    def host_empty(self, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.cuda.pagelocked_empty(tuple(shape), dtype)

    def alloc(self, nbytes: int) -> Any:
        return self.cuda.mem_alloc(max(int(nbytes), 1))

    @staticmethod
    def ptr(alloc: Any) -> int:
        return int(alloc)

    def stream(self) -> Any:
        return self.cuda.Stream()

    @staticmethod
    def stream_handle(stream: Any) -> int:
        return int(stream.handle)

    def htod(self, dst: Any, host: np.ndarray, stream: Any) -> None:
        self.cuda.memcpy_htod_async(dst, host, stream)

    def dtoh(self, host: np.ndarray, src: Any, stream: Any) -> None:
        self.cuda.memcpy_dtoh_async(host, src, stream)

    @staticmethod
    def sync(stream: Any) -> None:
        stream.synchronize()

    def free(self, allocs: List[Any], hosts: List[np.ndarray], stream: Any) -> None:
        for a in allocs:
            a.free()

    def close(self) -> None:
        self.ctx = None


class _CudaPythonBackend:
    """cuda-python's runtime API (NVIDIA's current samples); every call returns ``(err, ...)``."""

    name = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        try:
            from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        except ImportError:
            from cuda import cudart  # older cuda-python
        self.rt = cudart
        self.device = device
        self._host_ptrs: List[int] = []
        self._call(cudart.cudaSetDevice(device), "cudaSetDevice")

    def _call(self, result: Any, what: str) -> Any:
        err, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if err != self.rt.cudaError_t.cudaSuccess:
            raise EdgeError(f"CUDA call {what} failed: {err}", "check the GPU driver (nvidia-smi / tegrastats)")
        return rest[0] if len(rest) == 1 else rest

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self._call(self.rt.cudaSetDevice(self.device), "cudaSetDevice")  # per-thread current device
        yield

    def info(self) -> Dict[str, Any]:
        props = self._call(self.rt.cudaGetDeviceProperties(self.device), "cudaGetDeviceProperties")
        runtime = int(self._call(self.rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))
        driver = int(self._call(self.rt.cudaDriverGetVersion(), "cudaDriverGetVersion"))
        name = props.name.decode(errors="replace").rstrip("\x00") if isinstance(props.name, bytes) else str(props.name)
        return {"gpu": name, "compute_capability": f"{props.major}.{props.minor}",
                "cuda_runtime": _cuda_version(runtime), "cuda_driver": _cuda_version(driver),
                "cuda_bindings": "cuda-python"}

    def host_empty(self, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) if shape else 1
        nbytes = max(size * dtype.itemsize, 1)
        ptr = int(self._call(self.rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        self._host_ptrs.append(ptr)
        buf = (ctypes.c_byte * nbytes).from_address(ptr)
        return np.frombuffer(buf, dtype=dtype, count=size).reshape(shape)

    def alloc(self, nbytes: int) -> int:
        return int(self._call(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))

    @staticmethod
    def ptr(alloc: Any) -> int:
        return int(alloc)

    def stream(self) -> Any:
        return self._call(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    @staticmethod
    def stream_handle(stream: Any) -> int:
        return int(stream)

    def htod(self, dst: int, host: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self.rt.cudaMemcpyAsync(dst, host.ctypes.data, host.nbytes, kind, stream), "cudaMemcpyAsync")

    def dtoh(self, host: np.ndarray, src: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self.rt.cudaMemcpyAsync(host.ctypes.data, src, host.nbytes, kind, stream), "cudaMemcpyAsync")

    def sync(self, stream: Any) -> None:
        self._call(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def free(self, allocs: List[Any], hosts: List[np.ndarray], stream: Any) -> None:
        for a in allocs:
            self.rt.cudaFree(a)
        for p in self._host_ptrs:
            self.rt.cudaFreeHost(p)
        self._host_ptrs = []
        if stream is not None:
            self.rt.cudaStreamDestroy(stream)

    def close(self) -> None:
        pass


def cuda_backend(device: int = 0, prefer: Optional[str] = None) -> Any:
    """pycuda when importable, else cuda-python; EdgeError naming both when neither is there."""
    order = ["pycuda", "cuda-python"] if prefer != "cuda-python" else ["cuda-python", "pycuda"]
    missing = []
    for name in order:
        try:
            return _PycudaBackend(device) if name == "pycuda" else _CudaPythonBackend(device)
        except ImportError:
            missing.append(name)
        except EdgeError:
            raise
        except Exception as e:  # pycuda.driver.Error / RuntimeError: no driver, no device
            raise EdgeError(f"CUDA is not usable through {name}: {str(e).splitlines()[0][:160] if str(e) else e!r}",
                            "is this an NVIDIA GPU machine with a working driver? (nvidia-smi / tegrastats)") from None
    raise EdgeError("neither pycuda nor cuda-python is installed (needed to run TensorRT engines)",
                    "pip install 'edgemnv2[jetson]' (pycuda) or pip install cuda-python")


def device_facts(trt: Any, backend: Any) -> Dict[str, Any]:
    """TensorRT version, CUDA version, L4T release, GPU name and compute capability of this machine."""
    facts: Dict[str, Any] = {"tensorrt": str(getattr(trt, "__version__", "unknown"))}
    facts.update(backend.info())
    facts["l4t"] = l4t_release()
    return facts


def _np_dtype(dt: Any) -> np.dtype:
    found = numpy_dtype(dt)  # our table, not trt.nptype (TensorRT 8.5's fails on numpy 1.24)
    if found is None:
        raise EdgeError(f"engine tensor type {dt} has no numpy equivalent",
                        "rebuild the engine with edgemnv2 build (fp32 I/O)")
    return found


class _Tensor:
    def __init__(self, name: str, is_input: bool, shape: Tuple[int, ...], dtype: np.dtype) -> None:
        self.name = name
        self.is_input = is_input
        self.shape = shape
        self.dtype = dtype
        self.host: Any = None
        self.device: Any = None


class TensorRTRunner(Runner):
    """Runs a serialized TensorRT engine (``.engine``/``.plan``); ``manifest`` is the bundle manifest, if any."""

    runtime = "tensorrt"

    def __init__(self, path: str | os.PathLike, manifest: Optional[Dict[str, Any]] = None, device: int = 0,
                 cuda: Optional[str] = None, threads: Optional[int] = None) -> None:
        super().__init__(path, threads)
        self.manifest = manifest or {}
        self.device_index = device
        self.prefer_cuda = cuda
        self.facts: Dict[str, Any] = {}
        self._trt: Any = None
        self._cuda: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._runtime: Any = None
        self._tensors: List[_Tensor] = []
        self._bindings: List[int] = []
        self._name_api = True

    # -- loading --------------------------------------------------------------------------------------
    def _bundle_dir(self) -> Optional[str]:
        return str(self.path.parent) if self.manifest else None

    def _load(self) -> None:
        trt = self._trt = import_tensorrt()
        self._cuda = cuda_backend(self.device_index, self.prefer_cuda)
        try:
            self._load_engine(trt)
        except BaseException:
            self._unload()  # free what was allocated; the runner stays inactive
            raise
        self._inputs = [TensorSpec(t.name, t.shape, t.dtype.name) for t in self._tensors if t.is_input]
        self._outputs = [TensorSpec(t.name, t.shape, t.dtype.name) for t in self._tensors if not t.is_input]

    def _load_engine(self, trt: Any) -> None:
        with self._cuda.active():
            self.facts = device_facts(trt, self._cuda)
            recorded = (self.manifest.get("model") or {}).get("engine") or {}
            reason = check_engine_compat(recorded, self.facts) if recorded else None
            if reason:
                raise EdgeError(f"{self.path.name} cannot run here: {reason}",
                                f"rebuild it on this device: {finish_command(self._bundle_dir())}")
            logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(logger)
            dla = (recorded.get("dla") or {}).get("core")
            if dla is not None:  # an engine built for a DLA core must be deserialized onto that core
                self._runtime.DLA_core = int(dla)
            data = self.path.read_bytes()
            engine = self._runtime.deserialize_cuda_engine(data)
            if engine is None:
                raise EdgeError(f"TensorRT {self.facts['tensorrt']} cannot deserialize {self.path.name} (engines only "
                                "load on the TensorRT version and GPU they were built with)",
                                f"rebuild it on this device: {finish_command(self._bundle_dir())}")
            self._engine = engine
            self._context = engine.create_execution_context()
            if self._context is None:  # TensorRT returns None when it cannot allocate the context's memory
                raise EdgeError(f"TensorRT could not create an execution context for {self.path.name} (out of GPU "
                                "memory?)", "close other GPU programs (tegrastats shows memory use) and retry")
            self._name_api = use_name_api(self.facts["tensorrt"])
            self._tensors = self._io_name_api() if self._name_api else self._io_bindings_api()
            for t in self._tensors:
                if any(int(d) < 0 for d in t.shape):
                    raise EdgeError(f"{self.path.name}: tensor '{t.name}' has a dynamic shape {t.shape}",
                                    "edgemnv2 builds static engines; rebuild with edgemnv2 build")
                t.host = self._cuda.host_empty(t.shape, t.dtype)
                t.device = self._cuda.alloc(t.host.nbytes)
            self._stream = self._cuda.stream()
            if self._name_api:
                for t in self._tensors:  # returns False when TensorRT rejects the name or address
                    if not self._context.set_tensor_address(t.name, self._cuda.ptr(t.device)):
                        raise EdgeError(f"TensorRT refused the buffer address of tensor '{t.name}' of {self.path.name}",
                                        f"rebuild the engine: {finish_command(self._bundle_dir())}")
            else:
                self._bindings = [self._cuda.ptr(t.device) for t in self._tensors]

    def _io_name_api(self) -> List[_Tensor]:
        trt, eng = self._trt, self._engine
        out = []
        for i in range(eng.num_io_tensors):
            name = eng.get_tensor_name(i)
            is_input = eng.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            out.append(_Tensor(name, is_input, tuple(int(d) for d in eng.get_tensor_shape(name)),
                               _np_dtype(eng.get_tensor_dtype(name))))
        return out

    def _io_bindings_api(self) -> List[_Tensor]:
        eng = self._engine
        out = []
        for i in range(eng.num_bindings):
            shape = tuple(int(d) for d in eng.get_binding_shape(i))
            out.append(_Tensor(eng.get_binding_name(i), bool(eng.binding_is_input(i)), shape,
                               _np_dtype(eng.get_binding_dtype(i))))
        return out

    def _unload(self) -> None:
        if self._cuda is None:
            return
        try:
            with self._cuda.active():
                self._cuda.free([t.device for t in self._tensors if t.device is not None],
                                [t.host for t in self._tensors], self._stream)
                self._context = None
                self._engine = None
                self._runtime = None
                self._tensors = []
                self._stream = None
                self._bindings = []
        finally:
            self._cuda.close()
            self._cuda = None

    # -- inference --------------------------------------------------------------------------------------
    def _infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        cuda, stream = self._cuda, self._stream
        with cuda.active():
            for t in self._tensors:
                if t.is_input:
                    np.copyto(t.host, feeds[t.name])
                    cuda.htod(t.device, t.host, stream)
            handle = cuda.stream_handle(stream)
            if self._name_api:
                ok = self._context.execute_async_v3(handle)
            else:
                ok = self._context.execute_async_v2(self._bindings, handle)
            if ok is False:
                raise EdgeError(f"TensorRT failed to run {self.path.name}",
                                "run with --debug and check the TensorRT log")
            for t in self._tensors:
                if not t.is_input:
                    cuda.dtoh(t.host, t.device, stream)
            cuda.sync(stream)
            return {t.name: np.array(t.host, copy=True) for t in self._tensors if not t.is_input}

    def layer_profile(self, runs: int = 10) -> Optional[Dict[str, Any]]:
        """Per-layer times (``IProfiler``) and layer precisions (engine inspector), or None when not loaded.

        Runs on a second execution context bound to the same buffers (the inputs last copied in), so the
        timed context is never profiled. Not verified on hardware; never raises (an error is reported).
        """
        if self._engine is None:
            return None
        try:
            with self._cuda.active():
                return layer_report(self._trt, self._engine, self._run_profiled(runs), runs)
        except Exception as e:  # informational: a benchmark must not fail over it
            return {"error": (str(e).splitlines() or [repr(e)])[0][:200], "verified_on_hardware": False}

    def _run_profiled(self, runs: int) -> Any:
        def run(profiler: Any) -> None:
            ctx = self._engine.create_execution_context()
            ctx.profiler = profiler
            if not self._name_api:
                for _ in range(runs):
                    ctx.execute_v2(self._bindings)  # synchronous; profiled as executeV2
                return
            for t in self._tensors:
                if not ctx.set_tensor_address(t.name, self._cuda.ptr(t.device)):
                    raise RuntimeError(f"set_tensor_address refused '{t.name}'")
            for _ in range(runs):
                if not ctx.execute_async_v3(self._cuda.stream_handle(self._stream)):
                    raise RuntimeError("execute_async_v3 failed")
                self._cuda.sync(self._stream)
        return run

    def describe(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"runtime": self.runtime, "version": self.facts.get("tensorrt"),
                             "io_api": "name (execute_async_v3)" if self._name_api else "bindings (execute_async_v2)"}
        d.update({k: v for k, v in self.facts.items() if k != "tensorrt"})
        engine = (self.manifest.get("model") or {}).get("engine") or {}
        if engine:
            d["precision"] = engine.get("precision")
            d["dla_core"] = (engine.get("dla") or {}).get("core")
        return d
