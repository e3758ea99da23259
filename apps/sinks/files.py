"""File sinks: annotated video (optionally in rolling segments), JSON lines, JPEG snapshots."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Dict, Optional

from ...errors import EdgeError
from ...fileio import atomic_write_bytes, ensure_writable_dir
from .base import Sink, SinkItem, temp_beside
from .encoders import H264, open_writer
from .records import frame_record

__all__ = ["VideoSink", "JsonLinesSink", "SnapshotSink", "VIDEO_CODECS"]

VIDEO_CODECS = {".avi": "MJPG", ".mp4": H264, ".mov": H264, ".mkv": "MJPG"}


class VideoSink(Sink):
    """Annotated frames to a video file, written to a temp file and renamed on close.

    .mp4/.mov: H.264 (PyAV's libx264, or NVENC on a Jetson; ``encoders``), .avi/.mkv: MJPG (OpenCV).

    ``segment_s`` > 0 rolls a new file every that many seconds of video, named ``STEM_0000.SUFFIX``,
    ``STEM_0001.SUFFIX``, ... (existing names are skipped, never overwritten); each is renamed into
    place when complete, so a power cut loses at most the segment being written.
    ``timed``: place each frame on the ``fps`` grid by its capture time (live sources), repeating a
    frame over the slots of dropped ones, so the video plays at real speed; otherwise every frame is
    one slot (files: every frame in order at the source's rate).
    """

    name = "video"
    needs_image = True

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, fourcc: Optional[str] = None,
                 segment_s: float = 0.0, timed: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise EdgeError(f"video output {self.path} is a directory",
                            f"pass a file path, e.g. {self.path / 'out.avi'}")
        self.fps = float(fps) if fps and fps > 0 else 30.0
        suffix = self.path.suffix.lower()
        if fourcc is None and suffix not in VIDEO_CODECS:
            raise EdgeError(f"video output {self.path}: unknown container '{suffix or '(none)'}'",
                            f"use one of {', '.join(VIDEO_CODECS)}")
        if segment_s < 0 or segment_s != segment_s:
            raise EdgeError(f"--video-segment must be >= 0 seconds, got {segment_s}", "0 writes one file")
        self.fourcc = fourcc or VIDEO_CODECS[suffix]
        self.segment_s, self.timed = float(segment_s), timed
        self.frames = 0  # video frames written (with ``timed``, repeated frames included)
        self.size: Optional[tuple] = None
        self.finished = 0  # files renamed into place
        self.first: Optional[Path] = None
        self.last: Optional[Path] = None
        self._tmp: Optional[Path] = None
        self._target: Optional[Path] = None
        self._writer: Any = None
        self._seg_frames = 0
        self._next_index = 0
        self._t0: Optional[float] = None
        self._slot = -1  # last grid slot written (timed)

    def _next_target(self) -> Path:
        if not self.segment_s:
            return self.path
        while True:
            p = self.path.with_name(f"{self.path.stem}_{self._next_index:04d}{self.path.suffix}")
            self._next_index += 1
            if not p.exists():
                return p

    def open(self) -> None:
        self._target = self._next_target()
        self._tmp = temp_beside(self._target, "video output")

    def _start_writer(self, w: int, h: int) -> None:
        if self._tmp is None:  # a new segment
            self.open()
        assert self._tmp is not None
        self._writer = open_writer(self._tmp, self.fourcc, self.fps, (w, h), self.path)
        self._seg_frames = 0

    def _repeats(self, t: float) -> int:
        """How many grid slots this frame fills (timed) or 1; 0 when its slot was already written."""
        if not self.timed:
            return 1
        if self._t0 is None:
            self._t0 = t
        slot = int(round((t - self._t0) * self.fps))
        n = slot - self._slot
        if n <= 0:
            return 0
        self._slot = slot
        return n

    def write(self, item: SinkItem) -> None:
        import cv2

        img = item.image
        if img is None:
            return
        if self.size is None:
            self.size = (img.shape[1], img.shape[0])
        if (img.shape[1], img.shape[0]) != self.size:  # image folders may mix sizes: keep the first
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        for _ in range(self._repeats(item.frame.timestamp)):
            if self._writer is None:
                self._start_writer(*self.size)
            self._writer.write(img)
            self.frames += 1
            self._seg_frames += 1
            if self.segment_s and self._seg_frames >= self.segment_s * self.fps:
                self._finish_file()

    def _finish_file(self) -> None:
        """Release the writer and rename the temp file into place (or remove it when it holds no frame)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            return
        if self._seg_frames and self._target is not None:
            os.replace(tmp, self._target)
            self.finished += 1
            self.first = self.first or self._target
            self.last = self._target
        else:  # nothing to play: leave no file behind (the run summary says no frames were processed)
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._seg_frames = 0

    def close(self) -> None:
        self._finish_file()

    def describe(self) -> Dict[str, Any]:
        d = {"sink": self.name, "path": str(self.path), "fourcc": self.fourcc, "fps": self.fps,
             "frames": self.frames, "timed": self.timed}
        if self.segment_s:
            d.update(segment_s=self.segment_s, segments=self.finished, first=str(self.first or ""),
                     last=str(self.last or ""))
        return d


class JsonLinesSink(Sink):
    """One JSON object per processed frame (``frame_record``); ``-`` writes to stdout.

    Lines are appended to the named file (an existing file is kept and added to, never truncated) and
    flushed after every frame, so ``tail -f`` shows them as they come and a SIGKILL loses nothing
    written; the file is fsynced at most once a second (a power cut loses at most about a second).
    """

    name = "json"
    sync_every_s = 1.0

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path) if str(path) != "-" else None
        if self.path is not None and self.path.is_dir():
            raise EdgeError(f"JSON output {self.path} is a directory",
                            f"pass a file path, e.g. {self.path / 'out.jsonl'}")
        self.lines = 0
        self._f: Optional[IO[str]] = None
        self._synced = 0.0

    def open(self) -> None:
        if self.path is None:
            self._f = sys.stdout
            return
        ensure_writable_dir(self.path.parent if str(self.path.parent) else Path("."), "JSON output directory")
        cut = False  # appending to a file whose last line a crash cut: start ours on a new line
        try:
            if self.path.is_file() and self.path.stat().st_size:
                with open(self.path, "rb") as g:
                    g.seek(-1, os.SEEK_END)
                    cut = g.read(1) != b"\n"
            f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise EdgeError(f"cannot write JSON output {self.path}: {e.strerror}", "choose a writable path") from None
        if cut:
            f.write("\n")
        self._f = f

    def write(self, item: SinkItem) -> None:
        assert self._f is not None, "open() first"
        self._f.write(json.dumps(frame_record(item), separators=(",", ":")) + "\n")
        self._f.flush()
        self.lines += 1
        now = time.monotonic()
        if self.path is not None and now - self._synced >= self.sync_every_s:
            os.fsync(self._f.fileno())
            self._synced = now

    def close(self) -> None:
        f, self._f = self._f, None
        if f is None or self.path is None:
            return
        f.flush()
        os.fsync(f.fileno())
        f.close()

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name, "path": str(self.path or "-"), "lines": self.lines}


class SnapshotSink(Sink):
    """Every ``every``-th annotated frame as ``frame_<source index>.jpg`` in a folder (atomic writes)."""

    name = "snapshots"
    needs_image = True

    def __init__(self, folder: str | os.PathLike, every: int = 30, quality: int = 90) -> None:
        if every < 1:
            raise EdgeError(f"--snapshot-every must be >= 1, got {every}")
        self.folder = Path(folder)
        self.every = int(every)
        self.quality = int(quality)
        self.written = 0
        self._seen = 0
        self.last: Optional[Path] = None

    def open(self) -> None:
        ensure_writable_dir(self.folder, "snapshot directory")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeError(f"cannot create snapshot directory {self.folder}: {e.strerror}",
                            "choose a writable path") from None

    def write(self, item: SinkItem) -> None:
        seen, self._seen = self._seen, self._seen + 1  # frames this sink was given (per stream: its own)
        if item.image is None or seen % self.every:
            return
        import cv2

        ok, jpg = cv2.imencode(".jpg", item.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            path = self.folder / f"frame_{item.frame.index:06d}.jpg"
            atomic_write_bytes(path, jpg.tobytes())
            self.written += 1
            self.last = path

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name, "folder": str(self.folder), "every": self.every, "written": self.written}
