"""``open_source(spec)``: parse a ``--source`` spec into the right Source and start it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from ...errors import EdgeError
from ...imageio import IMAGE_SUFFIXES
from .base import Source, display_name, qint, query
from .capture import CaptureSource, csi_pipeline, cv2_module, stream_backends
from .files import ImageFolderSource
from .picam import PicameraSource
from .synthetic import SyntheticSource

__all__ = ["open_source", "STREAM_SCHEMES"]

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")


def open_source(spec: str | os.PathLike, *, realtime: bool = False, reconnect_timeout: float = 10.0,
                width: Optional[int] = None, height: Optional[int] = None, fps: Optional[float] = None,
                start: bool = True) -> Source:
    """Parse ``spec`` into a Source and (by default) start it. Raises EdgeError naming the backends tried.

    ``realtime``: pace a file at its frame rate and keep only the newest frame, as a camera would.
    ``width``/``height``/``fps``: requested capture size and rate for cameras (ignored for files).
    """
    src = _make_source(str(spec), realtime, reconnect_timeout, width, height, fps)
    return src.start() if start else src


def _make_source(spec: str, realtime: bool, reconnect_timeout: float, width: Optional[int],
                 height: Optional[int], fps: Optional[float]) -> Source:
    cv2 = cv2_module()
    spec = spec.strip()
    if not spec:
        raise EdgeError("empty --source", "pass a camera index, /dev/videoN, a file, a folder, a URL or synthetic://")
    scheme = urlsplit(spec).scheme.lower() if "://" in spec else ""
    props: Dict[int, float] = {}
    if width:
        props[cv2.CAP_PROP_FRAME_WIDTH] = width
    if height:
        props[cv2.CAP_PROP_FRAME_HEIGHT] = height
    if fps:
        props[cv2.CAP_PROP_FPS] = fps

    if scheme == "synthetic":
        q = query(spec)
        if width or height:
            q.setdefault("width", str(width or 640))
            q.setdefault("height", str(height or 480))
        if fps is not None:
            q["fps"] = str(fps)
        src = SyntheticSource("synthetic://?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else spec)
        if realtime and not src.live:
            src.live, src.pace, src.fps = True, True, 30.0
        return src
    if scheme == "picam":
        return PicameraSource(spec, reconnect_timeout)
    if scheme == "csi":
        parts = urlsplit(spec)
        q = query(spec)
        try:
            sensor = int(parts.netloc or 0)
        except ValueError:
            raise EdgeError(f"source {spec}: sensor id '{parts.netloc}' is not an integer", "use csi://0") from None
        pipe = csi_pipeline(sensor, width or qint(q, "width", 1280, spec), height or qint(q, "height", 720, spec),
                            int(fps or qint(q, "fps", 30, spec)), qint(q, "flip", 0, spec))
        return CaptureSource(spec, pipe, [("GStreamer", cv2.CAP_GSTREAMER)], True, "CSI camera",
                             "needs OpenCV with GStreamer and nvarguscamerasrc (JetPack); check 'gst-inspect-1.0 "
                             "nvarguscamerasrc' and the camera cable", reconnect_timeout)
    if scheme in STREAM_SCHEMES:
        if scheme in ("rtsp", "rtsps"):  # RTSP over TCP: no smeared frames from lost UDP packets (override: set it)
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        return CaptureSource(spec, spec, stream_backends(spec), True,
                             "stream", "check the URL, that the server is up and reachable, and the credentials",
                             reconnect_timeout)
    if scheme:
        raise EdgeError(f"unknown source scheme '{scheme}://' in {display_name(spec)}",
                        "use a camera index, /dev/videoN, a file, a folder, rtsp://, http://, csi://N, picam://N "
                        "or synthetic://")
    if "!" in spec:  # a raw GStreamer pipeline
        return CaptureSource(spec, spec, [("GStreamer", cv2.CAP_GSTREAMER)], True, "GStreamer pipeline",
                             "check the pipeline with gst-launch-1.0 and end it with 'appsink drop=1 max-buffers=1'",
                             reconnect_timeout)
    if spec.isdigit() or spec.startswith("/dev/video"):
        index: Any = int(spec) if spec.isdigit() else spec
        if isinstance(index, str) and not Path(spec).exists():
            raise EdgeError(f"camera {spec} does not exist: tried V4L2 device node (not found)",
                            "list cameras with 'v4l2-ctl --list-devices' or run 'edgemnv2 doctor'")
        return CaptureSource(spec, index, [("V4L2", cv2.CAP_V4L2), ("ANY", cv2.CAP_ANY)], True, "camera",
                             "is the camera connected and free? list cameras with 'v4l2-ctl --list-devices'; on a "
                             "Pi camera use picam://0, on a Jetson CSI camera csi://0", reconnect_timeout, props)
    path = Path(spec)
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        src = ImageFolderSource(path, fps=fps or 0.0)
    elif path.is_file():
        src = CaptureSource(spec, str(path), [("FFMPEG", cv2.CAP_FFMPEG), ("ANY", cv2.CAP_ANY)], False,
                            "video file", "is it a video OpenCV can decode (e.g. MP4/H.264, AVI/MJPG)? check it "
                            "plays with ffplay", reconnect_timeout)
    else:
        raise EdgeError(f"source {spec} does not exist: tried file, folder, camera index, URL and pipeline",
                        "pass a video file, image folder, camera index (0), /dev/videoN, rtsp:// or http:// URL, "
                        "csi://N, picam://N or synthetic://")
    if realtime:
        src.live, src.pace = True, True
        if not src.fps:
            src.fps = 30.0
    return src
