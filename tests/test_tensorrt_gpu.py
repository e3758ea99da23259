"""On a real NVIDIA GPU without TensorRT (marker ``gpu``): the CUDA plumbing TensorRT engines run on.

* each CUDA backend (pycuda, cuda-python) round-trips data: page-locked host -> device -> host;
* the TensorRT runner drives a STAND-IN engine whose execution reads and writes the bound device
  buffers with real CUDA copies, so the runner's pointers, stream and copies run on real device memory.

Skips cleanly without a GPU or CUDA bindings. Run: ``python -m pytest -q -m gpu tests/test_tensorrt_gpu.py``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import trt_standins as standin

pytestmark = pytest.mark.gpu
BACKENDS = ["pycuda", "cuda-python"]


def _backend(name):
    from edgemnv2.errors import EdgeError
    from edgemnv2.targets.jetson.runner import cuda_backend

    if importlib.util.find_spec("pycuda" if name == "pycuda" else "cuda") is None:
        pytest.skip(f"{name} is not installed here")
    try:
        backend = cuda_backend(prefer=name)
    except EdgeError as e:
        pytest.skip(f"no usable CUDA device: {e}")
    if backend.name != name:
        backend.close()
        pytest.skip(f"{name} is not usable here")
    return backend


class CudaMemory:
    """Synchronous device copies through one backend (after a device-wide sync: the runner's stream first)."""

    def __init__(self, backend):
        self.b = backend

    def _sync_device(self):
        if self.b.name == "pycuda":
            self.b.cuda.Context.synchronize()
        else:
            self.b._call(self.b.rt.cudaDeviceSynchronize(), "cudaDeviceSynchronize")

    def read(self, addr, shape, dtype):
        self._sync_device()
        host = np.empty(shape, dtype)
        if self.b.name == "pycuda":
            self.b.cuda.memcpy_dtoh(host, int(addr))
        else:
            kind = self.b.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
            self.b._call(self.b.rt.cudaMemcpy(host.ctypes.data, int(addr), host.nbytes, kind), "cudaMemcpy")
        return host

    def write(self, addr, array):
        array = np.ascontiguousarray(array)
        if self.b.name == "pycuda":
            self.b.cuda.memcpy_htod(int(addr), array)
        else:
            kind = self.b.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
            self.b._call(self.b.rt.cudaMemcpy(int(addr), array.ctypes.data, array.nbytes, kind), "cudaMemcpy")
        self._sync_device()


@pytest.mark.parametrize("name", BACKENDS)
def test_cuda_backend_round_trip(name):
    backend = _backend(name)
    try:
        with backend.active():
            info = backend.info()
            assert info["gpu"] and info["cuda_runtime"] and info["cuda_driver"] and info["cuda_bindings"] == name
            src = backend.host_empty((2, 3, 64, 64), np.float32)
            src[...] = np.random.default_rng(0).standard_normal(src.shape)
            dst = backend.host_empty(src.shape, np.float32)
            dst[...] = 0
            dev = backend.alloc(src.nbytes)
            stream = backend.stream()
            backend.htod(dev, src, stream)
            backend.dtoh(dst, dev, stream)
            backend.sync(stream)
            np.testing.assert_array_equal(dst, src)
            backend.free([dev], [src, dst], stream)
    finally:
        backend.close()


@pytest.mark.parametrize("name", BACKENDS)
def test_runner_on_real_device_memory(name, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.predictor import Predictor
    from edgemnv2.targets.cpu.runner import OnnxRuntimeRunner
    from edgemnv2.targets.jetson.engine import finish_jetson_bundle
    from edgemnv2.targets.jetson.export import build_jetson_bundle

    backend = _backend(name)
    monkeypatch.setenv("EDGEMNV2_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "b"
    build_jetson_bundle(BuildOptions(task="classify", out=root, target="jetson", width_mult=0.35, resolution=96,
                                     num_classes=10, precision="fp16"))
    try:
        standin.install(monkeypatch, "10.3.0.30", cuda="real", memory=CudaMemory(backend))
        eng = finish_jetson_bundle(root)["model"]["engine"]  # device facts from the real GPU
        assert eng["cuda_driver"] and eng["gpu"] == backend.info()["gpu"]
        image = np.random.default_rng(1).integers(0, 255, (90, 120, 3), dtype=np.uint8)
        with Predictor.from_bundle(root, runner_kw={"cuda": name}) as pred:
            feeds = pred.preprocess(image)
            outs = [pred.runner.infer(feeds) for _ in range(3)]
            assert pred.runner.describe()["cuda_bindings"] == name
        with OnnxRuntimeRunner(root / "model.onnx") as ref:
            want = ref.infer(feeds)["logits"]
        for out in outs:
            np.testing.assert_allclose(out["logits"], want, rtol=0, atol=1e-5)
    finally:
        backend.close()
