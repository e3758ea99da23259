"""Installed runtimes and libraries (versions from importlib.metadata) and what each target still needs."""

from __future__ import annotations

import importlib.util
from typing import Any, Dict, List, Optional

__all__ = ["PACKAGES", "NEEDS", "package_version", "installed_packages", "target_readiness"]

#: module name -> distribution names to ask for a version
PACKAGES = {
    "numpy": ["numpy"], "cv2": ["opencv-python-headless", "opencv-python", "opencv-contrib-python"],
    "onnxruntime": ["onnxruntime", "onnxruntime-gpu"], "ai_edge_litert": ["ai-edge-litert"],
    "tflite_runtime": ["tflite-runtime"], "tensorflow": ["tensorflow-cpu", "tensorflow"], "torch": ["torch"],
    "onnx": ["onnx"], "tensorrt": ["tensorrt"], "pycuda": ["pycuda"], "cuda": ["cuda-python"],
    "picamera2": ["picamera2"], "matplotlib": ["matplotlib"], "faster_coco_eval": ["faster-coco-eval"],
    "psutil": ["psutil"], "jtop": ["jetson-stats"],
}

#: what -> (alternatives, each a list of modules that must all be present; how to install)
NEEDS = {
    "cpu (run)": ([["onnxruntime", "cv2"]], "pip install 'edgemnv2[host]' (or onnxruntime opencv-python-headless)"),
    "pi (run)": ([["ai_edge_litert", "cv2"], ["tflite_runtime", "cv2"], ["tensorflow", "cv2"]],
                 "pip install 'edgemnv2[pi]'"),
    "jetson (run)": ([["tensorrt", "pycuda", "cv2"], ["tensorrt", "cuda", "cv2"]],
                     "use JetPack's TensorRT (venv with --system-site-packages) and pip install 'edgemnv2[jetson]'"),
    "host build cpu": ([["torch", "onnx", "onnxruntime"]], "pip install 'edgemnv2[host]'"),
    "host build pi": ([["torch", "onnx", "tensorflow", "ai_edge_litert"]], "pip install 'edgemnv2[host]'"),
    "host build jetson (ONNX/Q-DQ)": ([["torch", "onnx", "onnxruntime"]], "pip install 'edgemnv2[host]'"),
    "jetson engine build": ([["tensorrt"]],
                            "run on a Jetson with JetPack (TensorRT) or a machine with the tensorrt package"),
}


def package_version(module: str) -> Optional[str]:
    """The installed version of ``module``'s distribution, "present" when unknown, None when missing."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    from importlib.metadata import PackageNotFoundError, version

    for dist in PACKAGES.get(module, [module]):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "present"


def installed_packages() -> Dict[str, Optional[str]]:
    return {m: package_version(m) for m in PACKAGES}


def target_readiness(packages: Dict[str, Optional[str]]) -> Dict[str, Dict[str, Any]]:
    """Per target: ready, the modules missing from the closest alternative, and how to install them."""
    out = {}
    for name, (alternatives, install) in NEEDS.items():
        missing: List[str] = min(([m for m in alt if not packages.get(m)] for alt in alternatives), key=len)
        out[name] = {"ready": not missing, "missing": missing, "install": None if not missing else install}
    return out
