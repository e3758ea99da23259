"""CPU reference bundle (``edgemnv2 build --target cpu``): fp32 ONNX run by ONNX Runtime (host side)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np

from ...build_options import BuildOptions, Precision
from ...bundle import write_manifest
from ...export import OPSET_FOR_TARGET, export_onnx
from ...fileio import atomic_write_text, staged_dir
from ...finite import check_finite_outputs, max_abs_diff
from ...labels import labels_text
from ...model_source import ModelSource, base_manifest, onnx_input_spec, onnx_output_specs, resolve_source
from ...models.zoo import model_outputs
from ...sysinfo import library_versions
from .runner import OnnxRuntimeRunner

__all__ = ["build_cpu_bundle", "onnx_parity", "export_source"]

Progress = Optional[Callable[[str], None]]


def export_source(src: ModelSource, path, target: str = "cpu") -> Dict[str, Any]:
    return export_onnx(src.model, path, src.resolution, model_outputs(src.task), opset=OPSET_FOR_TARGET[target])


def onnx_parity(src: ModelSource, onnx_path, n: int = 2, seed: int = 0) -> Dict[str, Any]:
    """Max abs difference of ONNX Runtime vs PyTorch outputs on the same random preprocessed inputs."""
    import torch

    from .runner import OnnxRuntimeRunner as _Ort

    rng = np.random.default_rng(seed)
    worst = 0.0
    with _Ort(onnx_path) as runner:
        names = [s.name for s in runner.output_specs()]
        for _ in range(n):
            x = rng.standard_normal((1, 3, src.resolution, src.resolution)).astype(np.float32)
            got = runner.infer({"images": x})
            with torch.no_grad():
                ref = src.model(torch.from_numpy(x))
            ref = ref if isinstance(ref, (tuple, list)) else (ref,)
            for name, r in zip(names, ref):
                worst = max(worst, max_abs_diff(got[name], r.numpy(), "ONNX Runtime parity check", name))
    return {"reference": "pytorch", "runtime": "onnxruntime", "inputs": n, "max_abs_diff": worst}


def build_cpu_bundle(opts: BuildOptions, progress: Progress = None) -> Dict[str, Any]:
    """Export, check parity with PyTorch, write the bundle atomically; returns the manifest."""
    say = progress or (lambda _m: None)
    if opts.onnx is not None:
        return _build_from_onnx(opts, say)
    say("loading model")
    src = resolve_source(opts)
    for note in src.notes:
        say(note)
    with staged_dir(opts.out) as tmp:
        say(f"exporting ONNX (opset {OPSET_FOR_TARGET['cpu']})")
        info = export_source(src, tmp / "model.onnx")
        atomic_write_text(tmp / "labels.txt", labels_text(src.labels))
        say("checking ONNX Runtime against PyTorch")
        parity = onnx_parity(src, tmp / "model.onnx")
        manifest = base_manifest(src, "cpu", Precision.fp32, "model.onnx", "onnx", onnx_input_spec(src),
                                 onnx_output_specs(src))
        manifest["model"].update(opset=info["opset"], simplified=info["simplified"])
        manifest["reports"]["parity"] = parity
        manifest["versions"] = library_versions("torch", "onnx", "onnxruntime", "onnxslim", "numpy")
        manifest = write_manifest(tmp, manifest)
    return manifest


def _build_from_onnx(opts: BuildOptions, say: Callable[[str], None]) -> Dict[str, Any]:
    """Take the user's ONNX file as-is: check it fits the task, copy it, record what it is."""
    from ...fileio import sha256_file
    from ...onnx_import import copy_onnx_model

    assert opts.onnx is not None
    say(f"taking {opts.onnx.name} as-is (no PyTorch reference: parity not checked)")
    with staged_dir(opts.out) as tmp:
        input_spec, outputs, labels, ncls = copy_onnx_model(opts, tmp / "model.onnx")
        atomic_write_text(tmp / "labels.txt", labels_text(labels))
        with OnnxRuntimeRunner(tmp / "model.onnx") as runner:  # it must load and run
            x = np.zeros(input_spec["shape"], np.float32)
            check_finite_outputs(runner.infer({input_spec["name"]: x}), f"{opts.onnx.name} on a zero image")
        res = input_spec["shape"][2] if input_spec["layout"] == "NCHW" else input_spec["shape"][1]
        manifest = {
            "task": opts.task.value, "target": "cpu",
            "precision": "fp32", "model": {"file": "model.onnx", "format": "onnx"}, "labels_file": "labels.txt",
            "num_classes": ncls, "architecture": {"family": "onnx", "resolution": res},
            "input": input_spec, "outputs": outputs, "postprocess": {},
            "source": {"origin": "onnx", "weights": opts.onnx.name, "weights_sha256": sha256_file(opts.onnx),
                       "random_init": False},
            "warnings": [], "calibration": None, "reports": {"parity": None}, "files": {},
            "versions": library_versions("onnx", "onnxruntime", "numpy"),
        }
        manifest = write_manifest(tmp, manifest)
    return manifest
