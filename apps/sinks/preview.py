"""Live views: an OpenCV window and an MJPEG preview server (127.0.0.1 unless another host is given)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional

import numpy as np

from ...errors import EdgeError
from .base import Sink, SinkItem

__all__ = ["display_available", "WindowSink", "MjpegSink"]


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


def _bind_error(host: str, port: int, e: OSError) -> EdgeError:
    """Say whether the host or the port was wrong (an unknown address is not a port problem)."""
    where = f"cannot serve the MJPEG preview on {host}:{port}"
    if isinstance(e, socket.gaierror):
        return EdgeError(f"{where}: '{host}' is not a valid address ({e.strerror})",
                         "pass an address of this machine to --mjpeg-host, e.g. 127.0.0.1 or 0.0.0.0")
    if e.errno == errno.EADDRNOTAVAIL:
        return EdgeError(f"{where}: {host} is not an address of this machine",
                         "pass an address of this machine to --mjpeg-host, e.g. 127.0.0.1 or 0.0.0.0")
    if e.errno == errno.EADDRINUSE:
        return EdgeError(f"{where}: port {port} is in use", "pick another --mjpeg port (0 = any free port)")
    if e.errno == errno.EACCES:
        return EdgeError(f"{where}: permission denied", "ports below 1024 need root: pick e.g. --mjpeg 8080")
    return EdgeError(f"{where}: {e.strerror or e}", "check --mjpeg-host and --mjpeg")


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
            raise _bind_error(self.host, self.port, e) from None
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
