"""Optional legacy int8 path: TensorRT's implicit calibration (IInt8EntropyCalibrator2 + cache), TensorRT < 10 only.

edgemnv2's int8 is explicit quantization (a Q/DQ ONNX calibrated on the host, ``calibration/qdq.py``),
which works on every TensorRT we target. Implicit calibration is deprecated since TensorRT 10.1 and
removed in 11; this module exists for users of JetPack 5 (TensorRT 8.5) who want TensorRT's own
entropy calibration of the fp32 ONNX, e.g. to compare with the Q/DQ result. API only:

    calib = make_entropy_calibrator(trt, cuda, batches, cache_path)   # on the device
    config.set_flag(trt.BuilderFlag.INT8); config.int8_calibrator = calib

The calibrator class is defined inside the factory, so importing this module never imports TensorRT.
``batches`` are preprocessed inputs (``edgemnv2.tasks.preprocess.preprocess``, as everywhere).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from ..errors import EdgeError
from ..fileio import atomic_write_bytes
from ..targets.jetson.versions import features

__all__ = ["make_entropy_calibrator"]


def make_entropy_calibrator(trt: Any, cuda: Any, batches: Iterable[np.ndarray], cache_path: str | os.PathLike,
                            input_shape: Optional[tuple] = None) -> Any:
    """An ``IInt8EntropyCalibrator2`` feeding ``batches`` through device memory, with a calibration cache.

    ``cuda`` is a CUDA backend from ``targets.jetson.runner.cuda_backend`` (pycuda or cuda-python),
    used inside its ``active()`` context by the builder. When ``cache_path`` exists, TensorRT reads
    the scales from it and asks for no batches. Refused on TensorRT 10 and later.
    """
    f = features(trt.__version__)
    if not f.implicit_int8_calibration:
        raise EdgeError(f"implicit int8 calibration is not available on TensorRT {trt.__version__} "
                        "(deprecated in 10.1, removed in 11)", "use the Q/DQ int8 bundle (edgemnv2 build --precision "
                        "int8 --calib DIR), which works on every version")
    cache = Path(cache_path)
    it = iter(batches)

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.device: Any = None
            self.host: Optional[np.ndarray] = None
            self.stream = cuda.stream()
            self.count = 0

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: Any) -> Optional[list]:
            batch = next(it, None)
            if batch is None:
                return None
            batch = np.ascontiguousarray(batch, dtype=np.float32)
            if input_shape is not None and tuple(batch.shape) != tuple(input_shape):
                raise EdgeError(f"calibration batch shape {batch.shape} does not match the input {input_shape}")
            if self.host is None:
                self.host = cuda.host_empty(batch.shape, batch.dtype)
                self.device = cuda.alloc(self.host.nbytes)
            np.copyto(self.host, batch)
            cuda.htod(self.device, self.host, self.stream)
            cuda.sync(self.stream)
            self.count += 1
            return [cuda.ptr(self.device)]

        def read_calibration_cache(self) -> Optional[bytes]:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cache, bytes(data))

    return EntropyCalibrator()
