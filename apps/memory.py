"""Keep a long camera run's resident memory flat: large buffers (frames) go straight to mmap.

glibc raises its mmap threshold dynamically once a large block has been freed; from then on frames
(~0.9 MB at 640x480), allocated on the capture thread and freed on another, come from per-thread
heap arenas whose fragmentation makes RSS creep up for minutes (``benchmarks/soak.py``: about
0.2 MB/min). Setting the threshold explicitly turns that adjustment off: such blocks are mapped and
returned to the system on free.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["map_large_buffers"]

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def map_large_buffers(threshold: int = 128 * 1024) -> bool:
    """Serve allocations of ``threshold`` bytes or more with mmap (glibc); False where it does not apply.

    Leaves the setting alone when ``MALLOC_MMAP_THRESHOLD_`` is set in the environment (the user's choice).
    """
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # absent on musl
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
