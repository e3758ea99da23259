"""``edgemnv2 doctor``: which runtimes, accelerators, cameras and versions are here; what each target lacks.

Imports nothing heavy: packages are found with importlib.util.find_spec and importlib.metadata.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import sys
from typing import Any, Dict, Optional

import typer

from ..sysinfo import read_sys_file as _read
from ..targets.pi.delegation import int8_delegation_note

_PACKAGES = {
    # module name -> distribution names to ask for a version
    "numpy": ["numpy"], "cv2": ["opencv-python-headless", "opencv-python", "opencv-contrib-python"],
    "onnxruntime": ["onnxruntime", "onnxruntime-gpu"], "ai_edge_litert": ["ai-edge-litert"],
    "tflite_runtime": ["tflite-runtime"], "tensorflow": ["tensorflow-cpu", "tensorflow"], "torch": ["torch"],
    "onnx": ["onnx"], "tensorrt": ["tensorrt"], "pycuda": ["pycuda"], "cuda": ["cuda-python"],
    "picamera2": ["picamera2"], "matplotlib": ["matplotlib"], "faster_coco_eval": ["faster-coco-eval"],
    "psutil": ["psutil"], "jtop": ["jetson-stats"],
}

# target -> list of alternatives; each alternative is a list of modules that must all be present.
_NEEDS = {
    "cpu (run)": [["onnxruntime", "cv2"]],
    "pi (run)": [["ai_edge_litert", "cv2"], ["tflite_runtime", "cv2"], ["tensorflow", "cv2"]],
    "jetson (run)": [["tensorrt", "pycuda", "cv2"], ["tensorrt", "cuda", "cv2"]],
    "host build cpu": [["torch", "onnx", "onnxruntime"]],
    "host build pi": [["torch", "onnx", "tensorflow", "ai_edge_litert"]],
    "host build jetson (ONNX/Q-DQ)": [["torch", "onnx", "onnxruntime"]],
    "jetson engine build": [["tensorrt"]],
}
_INSTALL = {
    "cpu (run)": "pip install 'edgemnv2[host]' (or onnxruntime opencv-python-headless)",
    "pi (run)": "pip install 'edgemnv2[pi]'",
    "jetson (run)": "use JetPack's TensorRT (venv with --system-site-packages) and pip install 'edgemnv2[jetson]'",
    "host build cpu": "pip install 'edgemnv2[host]'",
    "host build pi": "pip install 'edgemnv2[host]'",
    "host build jetson (ONNX/Q-DQ)": "pip install 'edgemnv2[host]'",
    "jetson engine build": "run on a Jetson with JetPack (TensorRT) or a machine with the tensorrt package",
}


def _version(module: str) -> Optional[str]:
    import importlib.util

    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return "present"
    for dist in _PACKAGES.get(module, [module]):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "present"


def collect() -> Dict[str, Any]:
    packages = {m: _version(m) for m in _PACKAGES}
    accel: Dict[str, Any] = {
        "jetson_l4t": _read("/etc/nv_tegra_release"),
        "board_model": _read("/proc/device-tree/model"),
        "nvidia_smi": shutil.which("nvidia-smi"),
        "tegrastats": shutil.which("tegrastats"),
        "vcgencmd": shutil.which("vcgencmd"),
        "nvidia_devices": sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/nvhost-ctrl*"))[:8],
    }
    cams: Dict[str, Any] = {"v4l2": sorted(glob.glob("/dev/video*")), "picamera2": packages.get("picamera2")}
    gst = None
    if packages.get("cv2"):
        try:
            import cv2

            info = cv2.getBuildInformation()
            gst = any("GStreamer" in line and "YES" in line for line in info.splitlines())
        except Exception:  # pragma: no cover - broken OpenCV install
            gst = None
    cams["opencv_gstreamer"] = gst
    targets = {}
    for name, alternatives in _NEEDS.items():
        missing_per_alt = [[m for m in alt if not packages.get(m)] for alt in alternatives]
        best = min(missing_per_alt, key=len)
        targets[name] = {"ready": not best, "missing": best, "install": None if not best else _INSTALL[name]}
    return {
        "system": {"os": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
                   "cpus": os.cpu_count()},
        "packages": packages, "accelerators": accel, "cameras": cams, "targets": targets,
        "tflite_int8_delegation": int8_delegation_note(),
    }


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON.")) -> None:
    """Check this machine: runtimes, accelerators, cameras, versions, and what each target still needs."""
    info = collect()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    c = Console(width=None if sys.stdout.isatty() else 140)
    s = info["system"]
    c.print(f"[bold]system[/bold] {s['os']} ({s['machine']}), Python {s['python']}, {s['cpus']} CPUs")
    t = Table(title="packages")
    t.add_column("module")
    t.add_column("version")
    for m, v in info["packages"].items():
        t.add_row(m, v or "[dim]missing[/dim]")
    c.print(t)
    a = info["accelerators"]
    c.print(f"[bold]accelerators[/bold] Jetson L4T: {a['jetson_l4t'] or 'no'}; board: {a['board_model'] or 'unknown'};"
            f" nvidia-smi: {a['nvidia_smi'] or 'no'}; vcgencmd: {a['vcgencmd'] or 'no'}")
    cams = info["cameras"]
    c.print(f"[bold]cameras[/bold] V4L2: {', '.join(cams['v4l2']) or 'none'}; Picamera2: "
            f"{cams['picamera2'] or 'no'}; OpenCV GStreamer: {cams['opencv_gstreamer']}")
    t = Table(title="targets")
    t.add_column("what")
    t.add_column("ready")
    t.add_column("missing / how to fix")
    for name, st in info["targets"].items():
        t.add_row(name, "[green]yes[/green]" if st["ready"] else "[red]no[/red]",
                  "" if st["ready"] else escape(f"{', '.join(st['missing'])}: {st['install']}"))
    c.print(t)
    if info["tflite_int8_delegation"]:
        c.print(f"[bold yellow]warning:[/bold yellow] {escape(info['tflite_int8_delegation'])}")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
