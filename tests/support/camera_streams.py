"""Camera-app test helpers: videos written with OpenCV and a loopback MJPEG-over-HTTP server that can die."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional

import numpy as np

__all__ = ["write_video", "numbered_frames", "read_video", "MjpegServer"]


def numbered_frames(n: int, width: int = 160, height: int = 120) -> List[np.ndarray]:
    """``n`` distinct BGR frames from the synthetic scene (frame i shows '#i')."""
    from edgemnv2.apps.sources import SyntheticScene

    scene = SyntheticScene(width, height, seed=3)
    return [scene.render(i) for i in range(n)]


def write_video(path: Path, frames: List[np.ndarray], fps: float = 10.0, fourcc: str = "MJPG") -> Path:
    import cv2

    h, w = frames[0].shape[:2] if frames else (120, 160)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def read_video(path: Path) -> List[np.ndarray]:
    """Decode every frame of a video file (BGR)."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert cap.isOpened(), f"cannot open {path}"
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


class MjpegServer:
    """Serves ``/stream`` as multipart MJPEG on 127.0.0.1 from a synthetic scene at ``fps``.

    ``frames_per_connection`` ends each connection after that many frames (a drop the client can
    recover from by reconnecting); ``stop()`` kills the server (the stream is gone for good).
    """

    def __init__(self, fps: float = 30.0, frames_per_connection: Optional[int] = None, width: int = 160,
                 height: int = 120) -> None:
        from edgemnv2.apps.sources import SyntheticScene

        self.scene = SyntheticScene(width, height, seed=5)
        self.fps = fps
        self.limit = frames_per_connection
        self.sent = 0
        self.connections = 0
        self._dead = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:  # noqa: ANN002
                pass

            def do_GET(self) -> None:  # noqa: N802
                import cv2

                owner.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                n = 0
                try:
                    while not owner._dead.is_set() and (owner.limit is None or n < owner.limit):
                        ok, jpg = cv2.imencode(".jpg", owner.scene.render(owner.sent))
                        b = jpg.tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(b)
                                         + b + b"\r\n")
                        self.wfile.flush()
                        owner.sent += 1
                        n += 1
                        time.sleep(1.0 / owner.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._dead.set()
        self.server.shutdown()
        self.server.server_close()
