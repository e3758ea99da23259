"""Cameras: V4L2 devices, Picamera2, and whether OpenCV was built with GStreamer (CSI cameras need it)."""

from __future__ import annotations

import glob
from typing import Any, Dict, Optional

__all__ = ["cameras", "opencv_has_gstreamer"]


def opencv_has_gstreamer() -> Optional[bool]:
    """True/False from OpenCV's build information; None when OpenCV is missing or broken."""
    try:
        import cv2

        info = cv2.getBuildInformation()
    except Exception:  # noqa: BLE001 - missing or broken OpenCV install
        return None
    return any("GStreamer" in line and "YES" in line for line in info.splitlines())


def cameras(packages: Dict[str, Any]) -> Dict[str, Any]:
    return {"v4l2": sorted(glob.glob("/dev/video*")), "picamera2": packages.get("picamera2"),
            "opencv_gstreamer": opencv_has_gstreamer() if packages.get("cv2") else None}
