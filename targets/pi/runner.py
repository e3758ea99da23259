"""TFLite / LiteRT runner (device side): the one runner for Pi bundles and bare ``.tflite`` files.

The interpreter comes from the first runtime that imports: ``ai_edge_litert`` (LiteRT, numpy 2),
then ``tflite_runtime`` (the last release, 2.14, needs numpy < 2), then TensorFlow's ``tf.lite``. XNNPACK
is on (the runtimes' default delegate); ``threads`` sets its thread count. Input and output
quantisation, shapes and dtypes are read from the model rather than assumed, so Coral's uint8
models and our own int8/fp32 bundles run through the same code. A dynamic input dimension is
reported as -1 (never the 1 the interpreter allocates) until ``resize_input`` fixes it. A model holding an operator the
installed runtime cannot run fails with one line naming the op, its version and the runtime.
``describe()`` records which ops XNNPACK really runs (:mod:`.delegation`).

Only numpy is imported at module level; the runtime is imported when the runner is activated.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...errors import EdgeError, MissingDependency
from ..base import Runner, TensorSpec
from .delegation import Delegation, analyse_delegation

__all__ = ["TFLiteRunner", "RUNTIMES", "load_interpreter_class", "runtime_version", "op_error"]

# (import name, distribution name, module holding Interpreter), in order of preference.
RUNTIMES: Tuple[Tuple[str, str, str], ...] = (
    ("ai_edge_litert", "ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite_runtime", "tflite-runtime", "tflite_runtime.interpreter"),
    # tf.lite is an API alias: the module named "tensorflow.lite" has no Interpreter (TF 2.21); this one does
    ("tensorflow", "tensorflow", "tensorflow.lite.python.interpreter"),
)

_OP_RE = re.compile(r"builtin opcode '([A-Za-z0-9_]+)' version '(\d+)'")
_CUSTOM_RE = re.compile(r"(?:unresolved custom op|custom op)[: ]+'?([A-Za-z0-9_]+)'?", re.IGNORECASE)


def runtime_version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - metadata can be missing in odd installs
        if dist == "tensorflow":
            for alt in ("tensorflow-cpu", "tf-nightly"):
                try:
                    from importlib.metadata import version

                    return version(alt)
                except Exception:  # noqa: BLE001
                    pass
        return "unknown"


def load_interpreter_class(prefer: Optional[str] = None) -> Tuple[Any, str, str]:
    """(Interpreter class, runtime name, runtime version) of the first TFLite runtime that imports.

    ``prefer`` ("ai_edge_litert", "tflite_runtime" or "tensorflow") forces one runtime.
    """
    import importlib

    order = [r for r in RUNTIMES if prefer is None or r[0] == prefer]
    if not order:
        raise EdgeError(f"unknown TFLite runtime '{prefer}'", "use ai_edge_litert, tflite_runtime or tensorflow")
    errors = []
    for name, dist, module in order:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - e.g. tflite_runtime 2.14 under numpy 2 ("_ARRAY_API not found")
            errors.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if not hasattr(mod, "Interpreter"):
            errors.append(f"{name}: {module} has no Interpreter")
            continue
        return mod.Interpreter, name, runtime_version(dist)
    if prefer is not None:
        raise EdgeError(f"TFLite runtime {prefer} cannot be imported ({errors[0]})", "install it or drop the choice")
    raise MissingDependency("ai-edge-litert", "pi", "running .tflite models")


def op_error(message: str, path: os.PathLike | str, runtime: str, version: str) -> Optional[EdgeError]:
    """An EdgeError naming the op the runtime lacks, when ``message`` is an op-resolution failure."""
    m = _OP_RE.search(message)
    name = os.path.basename(str(path))
    hint = "rebuild the model with edgemnv2 for this runtime, or install a newer one (pip install -U ai-edge-litert)"
    if m:
        return EdgeError(f"{name} uses op {m.group(1)} version {m.group(2)}, which {runtime} {version} cannot run",
                         hint)
    m = _CUSTOM_RE.search(message)
    if m and "custom" in message.lower():
        return EdgeError(f"{name} uses custom op {m.group(1)}, which {runtime} {version} cannot run", hint)
    return None


def _quant(detail: Dict[str, Any]) -> Optional[Tuple[float, int]]:
    """Per-tensor (scale, zero_point), or None for float tensors (and per-channel ones: not an I/O case)."""
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        return None
    return float(scale), int(zero)


def _spec(detail: Dict[str, Any], dynamic: bool = True) -> TensorSpec:
    """A tensor's spec; ``dynamic``: -1 where the shape signature says "any size" (the allocated shape is 1)."""
    shape = [int(v) for v in detail["shape"]]
    sig = detail.get("shape_signature")
    if dynamic and sig is not None and len(sig) == len(shape):
        shape = [-1 if int(s) < 0 else d for d, s in zip(shape, sig)]
    return TensorSpec(str(detail["name"]), tuple(shape), np.dtype(detail["dtype"]).name, _quant(detail))


class TFLiteRunner(Runner):
    """Runs a ``.tflite`` model with LiteRT / tflite-runtime / tensorflow.lite on the CPU (XNNPACK).

    ``runtime`` (or the environment variable ``EDGEMNV2_TFLITE_RUNTIME``) forces one of
    "ai_edge_litert", "tflite_runtime", "tensorflow"; ``xnnpack=False`` runs the reference kernels
    (slow; for debugging only).
    """

    runtime = "tflite"

    def __init__(self, path: str | os.PathLike, threads: Optional[int] = None, runtime: Optional[str] = None,
                 xnnpack: bool = True, **_ignored: Any) -> None:
        super().__init__(path, threads)
        self.prefer = runtime or os.environ.get("EDGEMNV2_TFLITE_RUNTIME") or None
        self.xnnpack = xnnpack
        self.runtime_name = ""
        self.runtime_version = ""
        self._interp: Any = None
        self._in_idx: List[int] = []
        self._out_idx: List[int] = []

    def _load(self) -> None:
        cls, self.runtime_name, self.runtime_version = load_interpreter_class(self.prefer)
        kw: Dict[str, Any] = {"model_path": str(self.path)}
        if self.threads:
            kw["num_threads"] = int(self.threads)
        if not self.xnnpack:
            import importlib

            mod = importlib.import_module(cls.__module__)
            kw["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interp = cls(**kw)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            err = op_error(str(e), self.path, self.runtime_name, self.runtime_version)
            if err is not None:
                raise err from None
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EdgeError(f"{self.path.name} cannot be loaded by {self.runtime_name} {self.runtime_version}: "
                            f"{first}", "is it a valid .tflite file?") from None
        self._interp = interp
        ins, outs = interp.get_input_details(), interp.get_output_details()
        self._in_idx = [int(d["index"]) for d in ins]
        self._out_idx = [int(d["index"]) for d in outs]
        self._inputs = [_spec(d) for d in ins]
        self._outputs = [_spec(d) for d in outs]

    def _unload(self) -> None:
        self._interp = None

    def resize_input(self, name: str, shape: Tuple[int, ...]) -> None:
        """Give a dynamic input a fixed shape (``resize_tensor_input``) and re-read every spec."""
        it = self._interp
        idx = self._in_idx[[s.name for s in self._inputs].index(name)]
        try:
            it.resize_tensor_input(idx, list(shape), strict=True)
            it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EdgeError(f"{self.path.name} cannot run at input shape {list(shape)}: {first}",
                            "pass a --resolution the model supports") from None
        self._inputs = [_spec(d, dynamic=False) for d in it.get_input_details()]
        self._outputs = [_spec(d, dynamic=False) for d in it.get_output_details()]

    def _infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        it = self._interp
        for idx, spec in zip(self._in_idx, self._inputs):
            it.set_tensor(idx, feeds[spec.name])
        it.invoke()
        # get_tensor copies, so results stay valid after the next invoke.
        return {spec.name: it.get_tensor(idx) for idx, spec in zip(self._out_idx, self._outputs)}

    def op_counts(self) -> Dict[str, int]:
        """Operator name -> count as the interpreter sees it ("DELEGATE" for nodes XNNPACK took)."""
        counts: Dict[str, int] = {}
        for op in self._interp._get_ops_details():  # noqa: SLF001 - the only public-ish op listing
            counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
        return counts

    def delegation(self) -> Optional[Delegation]:
        """Which ops XNNPACK runs and which the runtime's own kernels run (None without XNNPACK)."""
        if not self.xnnpack or self._interp is None:
            return None
        dtypes: Dict[int, str] = {}
        try:
            dtypes = {int(t["index"]): np.dtype(t["dtype"]).name for t in self._interp.get_tensor_details()}
        except (ValueError, RuntimeError, TypeError):  # some runtimes refuse odd tensors; dtypes only refine it
            pass
        try:
            ops = self._interp._get_ops_details()  # noqa: SLF001 - the only op listing the runtimes offer
        except (AttributeError, ValueError, RuntimeError):  # a runtime without it: delegation unknown
            return None
        return analyse_delegation(ops, dtypes, self.runtime_name, self.runtime_version)

    def describe(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"runtime": self.runtime_name or "tflite", "version": self.runtime_version,
                             "threads": self.threads, "delegate": "xnnpack" if self.xnnpack else "none"}
        deleg = self.delegation()
        if deleg is not None:
            d["delegation"] = deleg.to_dict()
        return d
