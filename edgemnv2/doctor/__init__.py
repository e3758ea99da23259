"""``edgemnv2 doctor``'s findings, one module per concern; ``edgemnv2/cli/doctor.py`` only prints them.

* ``packages``: which runtimes and libraries are installed (versions) and what each target still needs;
* ``accelerators``: Jetson (L4T / JetPack, through the Jetson target's one L4T parser), board, GPU tools;
* ``cameras``: V4L2 devices, Picamera2, OpenCV's GStreamer support;
* the TFLite int8 delegation note comes from the Pi target (``targets/pi/delegation.py``).

Imports nothing heavy: packages are found with importlib.util.find_spec and importlib.metadata.
"""

from __future__ import annotations

import os
import platform
from typing import Any, Dict

from .accelerators import accelerators
from .cameras import cameras
from .packages import installed_packages, target_readiness

__all__ = ["collect"]


def collect() -> Dict[str, Any]:
    """Everything doctor reports, as one JSON-able dict."""
    from ..targets.pi.delegation import int8_delegation_note

    packages = installed_packages()
    return {
        "system": {"os": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
                   "cpus": os.cpu_count()},
        "packages": packages, "accelerators": accelerators(), "cameras": cameras(packages),
        "targets": target_readiness(packages), "tflite_int8_delegation": int8_delegation_note(),
    }
