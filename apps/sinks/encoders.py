"""Video encoders behind ``VideoSink``: H.264 for .mp4/.mov, OpenCV's writers for the rest.

H.264 (``yuv420p``, ``+faststart``: plays in browsers) is written with PyAV's bundled libx264, or on a
Jetson whose OpenCV has GStreamer with the hardware encoder ``nvv4l2h264enc`` (``jetson_h264_pipeline``;
the string is unit-tested here, the encoder itself is not: no Jetson). MJPG/mp4v go through
``cv2.VideoWriter`` as before. Every writer has ``write(bgr)`` and ``release()``.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Tuple

import numpy as np

from ...errors import EdgeError, MissingDependency

__all__ = ["H264", "open_writer", "jetson_h264_pipeline"]

H264 = "h264"


def jetson_h264_pipeline(path: str | os.PathLike, bitrate: int = 8_000_000) -> str:
    """GStreamer pipeline for ``cv2.VideoWriter(..., cv2.CAP_GSTREAMER, ...)``: BGR frames -> NVENC H.264 -> MP4."""
    return (f"appsrc ! video/x-raw,format=BGR ! videoconvert ! video/x-raw,format=BGRx ! nvvidconv ! "
            f"video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc bitrate={int(bitrate)} insert-sps-pps=true ! "
            f"h264parse ! qtmux faststart=true ! filesink location={Path(path)}")


class AvH264Writer:
    """libx264 through PyAV: BGR frames -> H.264 yuv420p in an MP4/MOV (odd sizes are cropped to even)."""

    def __init__(self, path: Path, fps: float, size: Tuple[int, int]) -> None:
        try:
            import av
        except ImportError:
            raise MissingDependency("av", purpose="H.264 video output (.mp4/.mov)") from None
        self.av = av
        self.w, self.h = size[0] // 2 * 2, size[1] // 2 * 2
        self.container = av.open(str(path), "w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate,
                                                options={"preset": "veryfast", "crf": "23"})
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.w, self.h, "yuv420p"
        self.n = 0

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoWriter's name
        return True

    def write(self, bgr: np.ndarray) -> None:
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:self.h, :self.w]), format="bgr24")
        frame.pts = self.n
        self.n += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def release(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()


def open_writer(path: Path, fourcc: str, fps: float, size: Tuple[int, int], shown: Path) -> Any:
    """A writer for ``path`` (``shown`` is the name used in errors). H.264: NVENC on a Jetson when OpenCV
    has GStreamer, else PyAV's libx264; other codecs: ``cv2.VideoWriter``."""
    import cv2

    if fourcc == H264:
        from ..sources.capture import _has_gstreamer, is_jetson

        if is_jetson() and _has_gstreamer():
            w = cv2.VideoWriter(jetson_h264_pipeline(path), cv2.CAP_GSTREAMER, 0, fps, size)
            if w.isOpened():
                return w
        return AvH264Writer(path, fps, size)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise EdgeError(f"OpenCV cannot write {fourcc} video to {shown}",
                        "try another container (.mp4 H.264, .avi MJPG, .mkv MJPG)")
    return writer
