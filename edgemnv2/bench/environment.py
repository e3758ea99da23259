"""What the benchmark ran on: board, CPU, OS, kernel, Python, runtime and library versions, power mode.

Nothing here imports a heavy runtime: versions come from importlib.metadata. Device side.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
from typing import Any, Dict, Optional

from ..sysinfo import library_versions, read_sys_file
from ..targets.jetson.versions import L4T_TO_JETPACK, parse_l4t
from . import telemetry_pi as tp

__all__ = ["collect_environment", "L4T_TO_JETPACK", "jetpack_from_l4t"]

_DISTS = ("numpy", "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "tflite-runtime", "tensorflow",
          "tensorflow-cpu", "tensorrt", "pycuda", "cuda-python", "opencv-python-headless", "opencv-python",
          "opencv-contrib-python", "psutil", "matplotlib", "faster-coco-eval", "pycocotools", "jetson-stats",
          "picamera2", "typer", "rich")


def _os_name() -> str:
    text = read_sys_file("/etc/os-release")
    if text:
        for line in text.splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()


def _cpu_model() -> Optional[str]:
    text = read_sys_file("/proc/cpuinfo") or ""
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                value = line.split(":", 1)[1].strip()
                if value:
                    return value
    parts = []
    for line in text.splitlines():  # ARM cores often list only implementer/part numbers
        if line.startswith("CPU part") and ":" in line:
            parts.append(line.split(":", 1)[1].strip())
    if parts:
        return "ARM CPU part " + ",".join(sorted(set(parts)))
    return platform.processor() or None


def jetpack_from_l4t(l4t: Optional[str]) -> Optional[Dict[str, str]]:
    """``# R36 (release), REVISION: 4.3, ...`` -> ``{"l4t": "36.4.3", "jetpack": "6"}`` (the Jetson target's parser)."""
    return parse_l4t(l4t)


def _memory_mb() -> Optional[float]:
    try:
        import psutil

        return psutil.virtual_memory().total / 2**20
    except ImportError:
        text = read_sys_file("/proc/meminfo") or ""
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0
    return None


def collect_environment(device_state: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The ``environment`` block of a report; ``id`` is a short stable hash of the machine identity."""
    l4t = read_sys_file("/etc/nv_tegra_release")
    board = tp.board_model() or read_sys_file("/sys/class/dmi/id/product_name")
    env: Dict[str, Any] = {
        "hostname": socket.gethostname(),
        "board": board,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "memory_mb": _memory_mb(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "jetson": jetpack_from_l4t(l4t),
        "libraries": library_versions(*_DISTS),
    }
    state = device_state or {}
    power_mode = None
    if state.get("nvpmodel"):
        power_mode = f"nvpmodel {state['nvpmodel'].get('mode')}"
        if (state.get("jetson_clocks") or {}).get("locked") is not None:
            power_mode += ", jetson_clocks " + ("on" if state["jetson_clocks"]["locked"] else "off")
    elif state.get("cpufreq_governor"):
        power_mode = f"cpufreq governor {state['cpufreq_governor']}"
    env["power_mode"] = power_mode
    env["device_state"] = state
    ident = json.dumps([env["hostname"], env["board"], env["cpu_model"], env["machine"], env["os"], env["kernel"],
                        env["python"], sorted(env["libraries"].items())])  # machine + software stack
    env["id"] = hashlib.sha256(ident.encode()).hexdigest()[:12]
    env["label"] = f"{env['hostname']} ({board or env['cpu_model'] or env['machine']})"
    return env
