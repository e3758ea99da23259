"""ONNX Runtime runner: the CPU reference for every target (``--target cpu``)."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

import numpy as np

from ...errors import EdgeError, MissingDependency
from ..base import Runner, TensorSpec

__all__ = ["OnnxRuntimeRunner", "ORT_DTYPES"]

ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64",
}


class OnnxRuntimeRunner(Runner):
    """``optimize=False`` disables graph optimisations (Q/DQ evaluated in float, the TensorRT proxy)."""

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: Optional[int] = None, optimize: bool = True,
                 providers: Optional[list] = None) -> None:
        super().__init__(path, threads)
        self.optimize = optimize
        self.providers = providers or ["CPUExecutionProvider"]
        self._session: Any = None

    def _load(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependency("onnxruntime", purpose="running .onnx models") from None
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = int(self.threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if not self.optimize:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=self.providers)
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EdgeError(f"ONNX Runtime cannot load {self.path.name}: {first[:200]}",
                            "is it a valid .onnx file? re-export it with edgemnv2 build") from None
        self._inputs = [self._spec(i) for i in self._session.get_inputs()]
        self._outputs = [self._spec(o) for o in self._session.get_outputs()]
        self._names = [o.name for o in self._session.get_outputs()]

    @staticmethod
    def _spec(node: Any) -> TensorSpec:
        # A named (dynamic) batch dimension runs with 1; other dynamic dimensions stay -1 (unknown).
        shape = tuple(int(d) if isinstance(d, int) and d > 0 else (1 if i == 0 else -1)
                      for i, d in enumerate(node.shape))
        return TensorSpec(node.name, shape, ORT_DTYPES.get(node.type, "float32"))

    def _unload(self) -> None:
        self._session = None

    def _infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        outs = self._session.run(self._names, feeds)
        return dict(zip(self._names, outs))

    def describe(self) -> Dict[str, Any]:
        import onnxruntime as ort

        return {"runtime": self.runtime, "version": ort.__version__, "threads": self.threads,
                "providers": list(self.providers), "graph_optimizations": self.optimize}
