"""Accelerators and their tools: Jetson (L4T / JetPack), board model, nvidia-smi, tegrastats, vcgencmd."""

from __future__ import annotations

import glob
import shutil
from typing import Any, Dict

__all__ = ["accelerators"]

def accelerators() -> Dict[str, Any]:
    from ..bench.telemetry_pi import board_model
    from ..targets.jetson.versions import jetson_release

    return {
        "jetson": jetson_release(),
        "board_model": board_model(),
        "nvidia_smi": shutil.which("nvidia-smi"),
        "tegrastats": shutil.which("tegrastats"),
        "vcgencmd": shutil.which("vcgencmd"),
        "nvidia_devices": sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/nvhost-ctrl*"))[:8],
    }
