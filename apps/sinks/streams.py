"""Sinks for runs with several sources: one file sink per stream, or a mosaic for the live views.

``for_streams(sinks, n)`` turns the sinks of a one-source run into those of an ``n``-source run:
a video (``out.mp4``) becomes ``out-0.mp4``, ``out-1.mp4``, ... and snapshots go to ``DIR/stream-0``, ...
(``PerStream`` routes each frame by ``Frame.stream``); the window and the MJPEG preview show a
``Mosaic`` of the newest annotated frame of every stream; JSON lines stay one file whose records
carry ``"stream"``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .base import Sink, SinkItem, close_all
from .files import SnapshotSink, VideoSink
from .preview import MjpegSink, WindowSink

__all__ = ["PerStream", "Mosaic", "for_streams", "stream_path"]


def stream_path(path: Path, i: int) -> Path:
    """``out.mp4`` -> ``out-<i>.mp4``."""
    return path.with_name(f"{path.stem}-{i}{path.suffix}")


class PerStream(Sink):
    """One inner sink per stream; each frame goes to the sink of its stream."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self.name = self.sinks[0].name
        self.needs_image = any(s.needs_image for s in self.sinks)
        self._opened: List[Sink] = []

    def open(self) -> None:
        for s in self.sinks:
            s.open()
            self._opened.append(s)

    def write(self, item: SinkItem) -> None:
        self.sinks[item.frame.stream].write(item)

    def close(self) -> None:
        error = close_all(self._opened)
        if error is not None:
            raise error

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name, "streams": [s.describe() for s in self.sinks]}


class Mosaic(Sink):
    """Wraps a live view: shows a grid of the newest annotated frame of each of ``n`` streams.

    Tiles take the size of stream 0's first frame; a stream with no frame yet is a black tile.
    """

    def __init__(self, inner: Sink, n: int) -> None:
        self.inner, self.n = inner, int(n)
        self.name, self.needs_image = inner.name, True
        self.cols = math.ceil(math.sqrt(self.n))
        self.rows = math.ceil(self.n / self.cols)
        self.tile: Optional[tuple] = None  # (width, height)
        self.canvas: Optional[np.ndarray] = None

    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        return self.inner.stop_requested

    def open(self) -> None:
        self.inner.open()

    def write(self, item: SinkItem) -> None:
        import cv2

        img = item.image
        if img is None:
            return
        if self.tile is None:
            self.tile = (img.shape[1], img.shape[0])
            self.canvas = np.zeros((self.tile[1] * self.rows, self.tile[0] * self.cols, 3), np.uint8)
        assert self.canvas is not None
        tw, th = self.tile
        if (img.shape[1], img.shape[0]) != self.tile:
            img = cv2.resize(img, self.tile, interpolation=cv2.INTER_AREA)
        r, c = divmod(item.frame.stream, self.cols)
        self.canvas[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = img
        # a copy: the MJPEG server encodes the frame it holds on its own threads
        self.inner.write(dataclasses.replace(item, image=self.canvas.copy()))

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> Dict[str, Any]:
        return dict(self.inner.describe(), mosaic=[self.rows, self.cols])

    def __getattr__(self, name: str) -> Any:  # e.g. MjpegSink.url, .port
        return getattr(self.inner, name)


def for_streams(sinks: Sequence[Sink], n: int) -> List[Sink]:
    """The sinks of a one-source run adapted to ``n`` sources (see the module docstring)."""
    if n <= 1:
        return list(sinks)
    out: List[Sink] = []
    for s in sinks:
        if isinstance(s, VideoSink):
            out.append(PerStream([VideoSink(stream_path(s.path, i), s.fps, s.fourcc, s.segment_s, s.timed)
                                  for i in range(n)]))
        elif isinstance(s, SnapshotSink):
            out.append(PerStream([SnapshotSink(s.folder / f"stream-{i}", s.every, s.quality) for i in range(n)]))
        elif isinstance(s, (WindowSink, MjpegSink)):
            out.append(Mosaic(s, n))
        else:
            out.append(s)
    return out
