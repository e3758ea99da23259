"""Sources OpenCV's ``VideoCapture`` opens: V4L2 cameras, video files, network streams, GStreamer
pipelines (including the Jetson CSI camera's ``nvarguscamerasrc`` pipeline)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...errors import EdgeError, MissingDependency
from .base import Lost, Source, display_name

__all__ = ["CaptureSource", "csi_pipeline", "cv2_module", "rtsp_hw_pipeline", "stream_backends", "is_jetson"]

_QUIET = False


def cv2_module():  # noqa: ANN202
    try:
        import cv2
    except ImportError:
        raise MissingDependency("opencv-python-headless", purpose="camera and video sources") from None
    global _QUIET
    if not _QUIET:  # backend probing logs WARN lines for every backend tried; our error names them instead
        _QUIET = True
        try:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:  # pragma: no cover - very old OpenCV
            pass
    return cv2


def _has_gstreamer() -> bool:
    cv2 = cv2_module()
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def _open_capture(target: Any, backends: List[Tuple[Any, ...]], tried: List[str],
                  params: Optional[List[int]] = None) -> Any:
    """Try ``cv2.VideoCapture(target, api[, params])`` per backend ``(name, api[, own target])``; return the
    first opened one or None."""
    cv2 = cv2_module()
    for entry in backends:
        name, api = entry[0], entry[1]
        target_here = entry[2] if len(entry) > 2 else target
        if name == "GStreamer" and not _has_gstreamer():
            tried.append("OpenCV GStreamer (this OpenCV was built without GStreamer)")
            continue
        tried.append(f"OpenCV {name}")
        try:
            cap = cv2.VideoCapture(target_here, api, params) if params else cv2.VideoCapture(target_here, api)
        except cv2.error:
            continue
        if cap is not None and cap.isOpened():
            return cap
        if cap is not None:
            cap.release()
    return None


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0) -> str:
    """The nvarguscamerasrc pipeline for a Jetson CSI camera, ending in a one-buffer dropping appsink."""
    flip_part = f" flip-method={int(flip)}" if flip else ""
    return (f"nvarguscamerasrc sensor-id={int(sensor_id)} ! video/x-raw(memory:NVMM),width={int(width)},"
            f"height={int(height)},framerate={int(fps)}/1 ! nvvidconv{flip_part} ! video/x-raw,format=BGRx ! "
            f"videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1")


def rtsp_hw_pipeline(url: str) -> str:
    """Jetson: an H.264 RTSP stream decoded by NVDEC (``nvv4l2decoder``), no jitter buffer (``latency=0``)."""
    return (f"rtspsrc location={url} latency=0 protocols=tcp ! rtph264depay ! h264parse ! nvv4l2decoder ! "
            f"nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
            f"appsink drop=1 max-buffers=1 sync=false")


def is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").exists()


def stream_backends(url: str) -> List[Tuple[Any, ...]]:
    """Backends for a network stream: on a Jetson whose OpenCV has GStreamer, RTSP tries NVDEC first."""
    cv2 = cv2_module()
    first: List[Tuple[Any, ...]] = []
    if url.lower().startswith(("rtsp://", "rtsps://")) and is_jetson() and _has_gstreamer():
        first = [("GStreamer NVDEC", cv2.CAP_GSTREAMER, rtsp_hw_pipeline(url))]
    return first + [("FFMPEG", cv2.CAP_FFMPEG), ("GStreamer", cv2.CAP_GSTREAMER)]


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: cameras, files, network streams, GStreamer pipelines."""

    def __init__(self, name: str, target: Any, backends: List[Tuple[Any, ...]], live: bool, kind: str,
                 hint: str, reconnect_timeout: float = 10.0, props: Optional[Dict[int, float]] = None) -> None:
        super().__init__(name, live, reconnect_timeout)
        self.kind = kind
        self.target, self.backends, self.hint = target, backends, hint
        self.props = props or {}
        self.is_file = not live  # stays True when a file is played --realtime (its end is the end)
        self.backend = ""
        self._cap: Any = None
        self._failures = 0
        self.frame_count = 0

    def _open(self) -> None:
        tried: List[str] = []
        cv2 = cv2_module()
        params = None
        if self.kind == "stream":  # a stalled network stream counts as lost (and is reopened) after 5 s
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
        cap = _open_capture(self.target, self.backends, tried, params)
        if cap is None:
            raise EdgeError(f"cannot open {self.kind} {display_name(self.name)}: tried {', '.join(tried)}", self.hint)
        for prop, value in self.props.items():
            cap.set(prop, value)
        if not self.is_file:  # keep the driver-side buffer short where the backend allows it
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap
        self.backend = tried[-1]
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if math.isfinite(fps) and 0 < fps <= 1000:
            self.fps = fps
        self.frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)

    def _grab(self) -> Optional[np.ndarray]:
        cap = self._cap
        if cap is None:
            raise Lost("not open")
        while True:
            ok, image = cap.read()
            if ok and image is not None and image.size:
                self.skipped += self._failures  # undecodable frames followed by a good one were skipped
                self._failures = 0
                if image.ndim == 2 or image.shape[2] != 3:
                    from ...imageio import to_rgb8

                    image = cv2_module().cvtColor(to_rgb8(image)[0], cv2_module().COLOR_RGB2BGR)
                return image
            if not self.is_file:
                raise Lost("no frame from the backend")
            # a file: a corrupt frame before the known end is passed over; several failures in a row end it
            pos = int(cap.get(cv2_module().CAP_PROP_POS_FRAMES) or 0)
            self._failures += 1
            if self.frame_count and pos < self.frame_count and self._failures <= 5:
                continue
            return None

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d["backend"] = self.backend
        if self.frame_count and self.is_file:
            d["frame_count"] = self.frame_count
        return d
