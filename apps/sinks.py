"""Where camera-app results go: window, video file, snapshots, JSON lines, MJPEG preview, none.

Every sink is opened before the first frame (so a bad path fails at once with one clear line),
gets one ``SinkItem`` per processed frame, and is closed at the end of the run, also after Ctrl-C,
SIGTERM or an error. Files are written under a temporary name beside the target and renamed on
close, so a video or JSON-lines file is either complete (and playable) or absent, never
half-written. The MJPEG preview binds 127.0.0.1 unless another host is given.
Device side: numpy + OpenCV + the standard library.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Dict, List, Optional

import numpy as np

from ..errors import EdgeError
from ..fileio import _umask, atomic_write_bytes, ensure_writable_dir
from ..tasks.base import Task
from .sources import Frame

__all__ = ["SinkItem", "Sink", "NullSink", "VideoSink", "JsonLinesSink", "SnapshotSink", "WindowSink", "MjpegSink",
           "frame_record", "FRAME_RECORD_SCHEMA", "display_available", "sink_from_spec", "VIDEO_CODECS"]

VIDEO_CODECS = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}


@dataclass
class SinkItem:
    """One processed frame as the sinks see it."""

    frame: Frame
    result: Any  # edgemnv2.predictor.TaskResult
    seq: int  # 0-based count of processed frames
    image: Optional[np.ndarray] = None  # annotated BGR frame (None when no sink needs pixels)
    stage_ms: Dict[str, float] = field(default_factory=dict)
    t0: float = 0.0  # perf_counter at pipeline start


class Sink:
    """Base sink: ``open()`` before the run, ``write(item)`` per frame, ``close()`` to finalise."""

    name = "none"
    needs_image = False  # wants the annotated frame
    stop_requested = False  # a sink may ask the app to stop (window closed, 'q' pressed)

    def open(self) -> None:
        pass

    def write(self, item: SinkItem) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name}


class NullSink(Sink):
    """Results are computed and profiled, nothing is written (``--sink none``); ``render`` draws anyway."""

    def __init__(self, render: bool = False) -> None:
        self.needs_image = render


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------
def _temp_beside(path: Path, what: str) -> Path:
    """Create (and return) an empty temp file beside ``path`` keeping its suffix; EdgeError if not writable."""
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), f"{what} directory")
    if path.is_dir():
        raise EdgeError(f"{what} {path} is a directory", "pass a file path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                   dir=str(path.parent or Path(".")))
    except OSError as e:
        raise EdgeError(f"cannot write {what} {path}: {e.strerror}", "choose a writable path") from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    except OSError:
        pass
    return Path(tmp)


class VideoSink(Sink):
    """Annotated frames to a video file (cv2.VideoWriter), written to a temp file and renamed on close."""

    name = "video"
    needs_image = True

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, fourcc: Optional[str] = None) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        suffix = self.path.suffix.lower()
        if fourcc is None and suffix not in VIDEO_CODECS:
            raise EdgeError(f"video output {self.path}: unknown container '{suffix or '(none)'}'",
                            f"use one of {', '.join(VIDEO_CODECS)}")
        self.fourcc = fourcc or VIDEO_CODECS[suffix]
        self.frames = 0
        self.size: Optional[tuple] = None
        self._tmp: Optional[Path] = None
        self._writer: Any = None

    def open(self) -> None:
        self._tmp = _temp_beside(self.path, "video output")

    def write(self, item: SinkItem) -> None:
        import cv2

        img = item.image
        if img is None:
            return
        if self._writer is None:
            h, w = img.shape[:2]
            self.size = (w, h)
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise EdgeError(f"OpenCV cannot write {self.fourcc} video to {self.path}",
                                f"try another container ({', '.join(VIDEO_CODECS)}) or --video-codec")
        if (img.shape[1], img.shape[0]) != self.size:  # image folders may mix sizes: keep the first
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(img)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is None:
            return
        tmp, self._tmp = self._tmp, None
        if self.frames:
            os.replace(tmp, self.path)
        else:  # nothing to play: leave no file behind (the run summary says no frames were processed)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name, "path": str(self.path), "fourcc": self.fourcc, "fps": self.fps,
                "frames": self.frames}


class JsonLinesSink(Sink):
    """One JSON object per processed frame (``frame_record``); ``-`` writes to stdout."""

    name = "json"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path) if str(path) != "-" else None
        self.lines = 0
        self._tmp: Optional[Path] = None
        self._f: Optional[IO[str]] = None

    def open(self) -> None:
        if self.path is None:
            self._f = sys.stdout
            return
        self._tmp = _temp_beside(self.path, "JSON output")
        self._f = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, item: SinkItem) -> None:
        assert self._f is not None, "open() first"
        self._f.write(json.dumps(frame_record(item), separators=(",", ":")) + "\n")
        self.lines += 1
        if self.path is None:
            self._f.flush()

    def close(self) -> None:
        f, self._f = self._f, None
        if f is None or self.path is None:
            return
        f.flush()
        os.fsync(f.fileno())
        f.close()
        if self._tmp is not None:
            os.replace(self._tmp, self.path)
            self._tmp = None

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
        self.written: List[Path] = []

    def open(self) -> None:
        ensure_writable_dir(self.folder, "snapshot directory")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeError(f"cannot create snapshot directory {self.folder}: {e.strerror}",
                            "choose a writable path") from None

    def write(self, item: SinkItem) -> None:
        if item.image is None or item.seq % self.every:
            return
        import cv2

        ok, jpg = cv2.imencode(".jpg", item.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            path = self.folder / f"frame_{item.frame.index:06d}.jpg"
            atomic_write_bytes(path, jpg.tobytes())
            self.written.append(path)

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name, "folder": str(self.folder), "every": self.every, "written": len(self.written)}


# ---------------------------------------------------------------------------------------------------
# Window and MJPEG preview
# ---------------------------------------------------------------------------------------------------
def display_available() -> bool:
    """True when a window can be shown: a display is set and OpenCV has a GUI backend."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import cv2

        info = cv2.getBuildInformation()
    except ImportError:
        return False
    gui = [ln for ln in info.splitlines() if ln.strip().startswith("GUI:")]
    return not gui or "NONE" not in gui[0].upper()


class WindowSink(Sink):
    """An OpenCV window (press q or Esc to stop)."""

    name = "window"
    needs_image = True

    def __init__(self, title: str = "edgemnv2") -> None:
        self.title = title
        self._shown = False

    def open(self) -> None:
        if not display_available():
            raise EdgeError("no display for --sink window (DISPLAY unset or OpenCV without GUI support)",
                            "use --no-window, --video-out FILE or --mjpeg PORT")

    def write(self, item: SinkItem) -> None:
        import cv2

        if item.image is None:
            return
        cv2.imshow(self.title, item.image)
        self._shown = True
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            self.stop_requested = True

    def close(self) -> None:
        if self._shown:
            import cv2

            with contextlib.suppress(Exception):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)


class MjpegSink(Sink):
    """A tiny HTTP server: ``/`` page, ``/stream`` multipart MJPEG, ``/snapshot.jpg``; 127.0.0.1 by default.

    ``write`` only keeps a reference to the newest frame; each client's thread encodes JPEGs itself, so
    the preview costs the pipeline nothing when nobody watches. ``port=0`` picks a free port (see ``.port``).
    """

    name = "mjpeg"
    needs_image = True

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", quality: int = 80) -> None:
        self.host, self.port, self.quality = host, int(port), int(quality)
        self._cond = threading.Condition()
        self._image: Optional[np.ndarray] = None
        self._seq = 0
        self._closing = False
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def open(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?")[0]
                if path == "/":
                    body = (b"<html><head><title>edgemnv2</title></head><body style='margin:0;background:#111'>"
                            b"<img src='/stream' style='max-width:100%'></body></html>")
                    self._send(200, "text/html", body)
                elif path == "/snapshot.jpg":
                    jpg = sink._next_jpeg(-1, timeout=5.0)
                    if jpg is None:
                        self._send(503, "text/plain", b"no frame yet\n")
                    else:
                        self._send(200, "image/jpeg", jpg[1])
                elif path == "/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    seen = 0
                    try:
                        while True:
                            got = sink._next_jpeg(seen, timeout=1.0)
                            if got is None:
                                if sink._closing:
                                    return
                                continue
                            seen, jpg = got
                            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                             + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        return
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as e:
            raise EdgeError(f"cannot serve the MJPEG preview on {self.host}:{self.port}: {e.strerror}",
                            "pick another --mjpeg port") from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mjpeg", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _next_jpeg(self, seen: int, timeout: float) -> Optional[tuple]:
        """Wait for a frame newer than ``seen`` (any frame if -1) and return (seq, JPEG bytes)."""
        import cv2

        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._image is None or (seen >= 0 and self._seq <= seen)) and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            if self._image is None or (seen >= 0 and self._seq <= seen):
                return None
            img, seq = self._image, self._seq
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return (seq, jpg.tobytes()) if ok else None

    def write(self, item: SinkItem) -> None:
        if item.image is None:
            return
        with self._cond:
            self._image = item.image
            self._seq += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name, "url": self.url}


# ---------------------------------------------------------------------------------------------------
# JSON records
# ---------------------------------------------------------------------------------------------------
def frame_record(item: SinkItem) -> Dict[str, Any]:
    """The JSON-lines record of one frame: TaskResult.to_json plus frame index, timing and COCO boxes."""
    res = item.result
    rec: Dict[str, Any] = {"frame": item.frame.index, "seq": item.seq,
                           "time_s": round(item.frame.timestamp - item.t0, 6),
                           "image_size": [int(v) for v in res.image_size]}
    body = res.to_json(None)
    body.pop("image", None)
    if res.task is Task.detect:  # COCO-style boxes: [x, y, width, height] in pixels
        dets = []
        for d in body.get("detections", []):
            x1, y1, x2, y2 = d.pop("box")
            d["bbox"] = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
            dets.append(d)
        body["detections"] = dets
    rec.update(body)
    rec["latency_ms"] = {k: round(v, 3) for k, v in item.stage_ms.items()}
    rec["frame_age_ms"] = round((time.perf_counter() - item.frame.timestamp) * 1e3, 3)
    return rec


_NUM = {"type": "number"}
FRAME_RECORD_SCHEMA: Dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "edgemnv2 camera JSON-lines frame record",
    "type": "object",
    "required": ["frame", "seq", "time_s", "image_size", "task", "latency_ms", "frame_age_ms"],
    "properties": {
        "frame": {"type": "integer", "minimum": 0},
        "seq": {"type": "integer", "minimum": 0},
        "time_s": _NUM,
        "image_size": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
        "task": {"enum": ["classify", "detect", "segment"]},
        "top": {"type": "array", "items": {"type": "object", "required": ["index", "label", "score"],
                                           "properties": {"index": {"type": "integer"}, "label": {"type": "string"},
                                                          "score": _NUM}}},
        "detections": {"type": "array", "items": {
            "type": "object", "required": ["index", "label", "score", "bbox"],
            "properties": {"index": {"type": "integer"}, "label": {"type": "string"}, "score": _NUM,
                           "bbox": {"type": "array", "items": _NUM, "minItems": 4, "maxItems": 4}},
            "additionalProperties": False}},
        "classes": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "latency_ms": {"type": "object", "additionalProperties": _NUM},
        "frame_age_ms": _NUM,
    },
    "allOf": [
        {"if": {"properties": {"task": {"const": "classify"}}}, "then": {"required": ["top"]}},
        {"if": {"properties": {"task": {"const": "detect"}}}, "then": {"required": ["detections"]}},
        {"if": {"properties": {"task": {"const": "segment"}}}, "then": {"required": ["classes"]}},
    ],
}


# ---------------------------------------------------------------------------------------------------
# --sink specs
# ---------------------------------------------------------------------------------------------------
def sink_from_spec(spec: str, video_fps: float = 30.0, snapshot_every: int = 30) -> Sink:
    """``window``, ``none``, ``video:FILE``, ``json:FILE`` (``json:-`` = stdout), ``snapshots:DIR[:EVERY]``,
    ``mjpeg:PORT`` or ``mjpeg:HOST:PORT``."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "none":
        return NullSink()
    if kind == "window":
        return WindowSink(arg or "edgemnv2")
    if kind == "video" and arg:
        return VideoSink(arg, video_fps)
    if kind == "json" and arg:
        return JsonLinesSink(arg)
    if kind == "snapshots" and arg:
        folder, _, every = arg.rpartition(":") if arg.rsplit(":", 1)[-1].isdigit() else (arg, "", "")
        return SnapshotSink(folder, int(every) if every else snapshot_every)
    if kind == "mjpeg" and arg:
        host, _, port = arg.rpartition(":")
        if not port.isdigit():
            raise EdgeError(f"--sink {spec}: port '{port}' is not a number", "e.g. --sink mjpeg:8080")
        return MjpegSink(int(port), host or "127.0.0.1")
    raise EdgeError(f"unknown --sink '{spec}'",
                    "use window, none, video:FILE, json:FILE, snapshots:DIR[:EVERY] or mjpeg:[HOST:]PORT")
