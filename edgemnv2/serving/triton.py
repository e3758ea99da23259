"""A Triton Inference Server model repository entry from a bundle (``edgemnv2 export --triton REPO``).

Layout (Triton's model repository docs): ``REPO/<name>/config.pbtxt`` and ``REPO/<name>/1/<model file>``.
The backend follows the bundle's model format:

* cpu bundles (ONNX): ``platform: "onnxruntime_onnx"``, ``1/model.onnx``;
* Jetson bundles with an engine: ``platform: "tensorrt_plan"``, ``1/model.plan`` (an engine only runs
  with the TensorRT version and GPU it was built for: serve it from Triton on that device);
* Pi bundles (TFLite): ``backend: "armnn_tflite"``, ``1/model.tflite`` (Triton's TFLite backend, built
  for linux arm64 only).

Our models have a static batch of 1 in their shapes, so ``max_batch_size: 0`` and the dims include
the batch. The text is checked by parsing it with Triton's own ``ModelConfig`` protobuf schema
(``tritonclient.grpc.model_config_pb2``) when ``tritonclient`` is installed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..bundle import Bundle
from ..errors import EdgeError

__all__ = ["TritonModel", "triton_model", "config_text", "parse_config", "write_triton"]

_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "uint8": "TYPE_UINT8", "int8": "TYPE_INT8",
           "int32": "TYPE_INT32", "int64": "TYPE_INT64"}


@dataclass(frozen=True)
class TritonModel:
    """What config.pbtxt says: the backend, the file in the version folder and the tensors."""

    name: str
    backend_line: str  # 'platform: "..."' or 'backend: "..."'
    model_file: str
    source: Path
    inputs: List[Dict[str, Any]]
    outputs: List[Dict[str, Any]]
    instance_kind: str


def _tensor(spec: Dict[str, Any], name_key: str = "name") -> Dict[str, Any]:
    dtype = str(spec["dtype"])
    if dtype not in _DTYPES:
        raise EdgeError(f"tensor {spec.get('name')} has dtype {dtype}, which this exporter does not map to Triton")
    return {"name": spec.get(name_key) or spec["name"], "data_type": _DTYPES[dtype],
            "dims": [int(d) for d in spec["shape"]]}


def triton_model(bundle: Bundle, name: Optional[str] = None) -> TritonModel:
    """Describe ``bundle`` as a Triton model (refuses a Jetson bundle whose engine is still to be built)."""
    from ..targets.jetson.engine import finish_command

    name = name or bundle.root.resolve().name
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise EdgeError(f"model name '{name}' has characters Triton's repository layout does not allow",
                        "pass --name with letters, digits, '.', '_' or '-'")
    fmt = bundle.model_format
    model = bundle.manifest["model"]
    if fmt == "tensorrt" and model.get("pending"):
        raise EdgeError(f"bundle {bundle.root} has no TensorRT engine yet",
                        f"build it on the Jetson first: {finish_command(bundle.root)}")
    table = {"onnx": ('platform: "onnxruntime_onnx"', "model.onnx", "KIND_CPU"),
             "tensorrt": ('platform: "tensorrt_plan"', "model.plan", "KIND_GPU"),
             "tflite": ('backend: "armnn_tflite"', "model.tflite", "KIND_CPU")}
    if fmt not in table:
        raise EdgeError(f"bundle {bundle.root} has model format '{fmt}', which Triton cannot serve")
    backend, file, kind = table[fmt]
    inputs = [_tensor(bundle.input)]
    outputs = [_tensor(o, "runtime_name") for o in bundle.outputs]
    return TritonModel(name, backend, file, bundle.model_path, inputs, outputs, kind)


def _tensor_text(kind: str, t: Dict[str, Any]) -> str:
    dims = ", ".join(str(d) for d in t["dims"])
    return f'{kind} [\n  {{\n    name: "{t["name"]}"\n    data_type: {t["data_type"]}\n    dims: [ {dims} ]\n  }}\n]'


def config_text(m: TritonModel) -> str:
    parts = [f'name: "{m.name}"', m.backend_line, "max_batch_size: 0",
             *(_tensor_text("input", t) for t in m.inputs), *(_tensor_text("output", t) for t in m.outputs),
             f"instance_group [\n  {{\n    count: 1\n    kind: {m.instance_kind}\n  }}\n]",
             f'default_model_filename: "{m.model_file}"']
    return "\n".join(parts) + "\n"


def parse_config(text: str) -> Any:
    """Parse config.pbtxt with Triton's ``ModelConfig`` schema (needs the ``tritonclient[grpc]`` package)."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except (ImportError, RuntimeError):
        raise EdgeError("tritonclient is not installed, so the config cannot be checked against Triton's schema",
                        "pip install 'tritonclient[grpc]'") from None
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise EdgeError(f"config.pbtxt does not parse as Triton's ModelConfig: {e}") from None


def write_triton(bundle: Bundle, repo: Path, name: Optional[str] = None, check: bool = True) -> Path:
    """Write ``repo/<name>/`` (config.pbtxt, labels.txt, ``1/<model file>``); refuses an existing entry."""
    from ..fileio import staged_dir

    m = triton_model(bundle, name)
    text = config_text(m)
    if check:
        parse_config(text)
    final = repo / m.name
    if final.exists():
        raise EdgeError(f"{final} already exists in the model repository", "remove it or pass another --name")
    repo.mkdir(parents=True, exist_ok=True)
    with staged_dir(final, overwrite=False) as tmp:
        (tmp / "1").mkdir()
        shutil.copyfile(m.source, tmp / "1" / m.model_file)
        (tmp / "config.pbtxt").write_text(text)
        if bundle.labels:
            (tmp / "labels.txt").write_text("\n".join(bundle.labels) + "\n")
    return final
