"""``picam://N``: a Raspberry Pi camera through Picamera2 (imported lazily)."""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

import numpy as np

from ...errors import EdgeError
from .base import Lost, Source, qint, query

__all__ = ["PicameraSource"]


class PicameraSource(Source):
    """Raspberry Pi camera through Picamera2. Its ``RGB888`` format is BGR-ordered in memory: used as is."""

    kind = "picamera2"

    def __init__(self, spec: str, reconnect_timeout: float = 10.0) -> None:
        super().__init__(spec, live=True, reconnect_timeout=reconnect_timeout)
        parts = urlsplit(spec)
        q = query(spec)
        try:
            self.camera_num = int(parts.netloc or 0)
        except ValueError:
            raise EdgeError(f"source {spec}: camera number '{parts.netloc}' is not an integer",
                            "use picam://0") from None
        self.width = qint(q, "width", 640, spec)
        self.height = qint(q, "height", 480, spec)
        self.fps = float(q.get("fps", 30))
        self._cam: Any = None

    def _open(self) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError:
            raise EdgeError(f"cannot open {self.name}: tried Picamera2 (not installed)",
                            "sudo apt install python3-picamera2 and use a venv with --system-site-packages") from None
        try:
            cam = Picamera2(self.camera_num)
            config = cam.create_video_configuration(main={"size": (self.width, self.height), "format": "RGB888"},
                                                    controls={"FrameRate": self.fps})
            cam.configure(config)
            cam.start()
        except Exception as e:  # libcamera raises RuntimeError/IndexError for missing cameras
            raise EdgeError(f"cannot open {self.name}: tried Picamera2 ({type(e).__name__}: {e})",
                            "check the camera cable and 'rpicam-hello --list-cameras'") from None
        self._cam = cam

    def _grab(self) -> Optional[np.ndarray]:
        try:
            arr = self._cam.capture_array("main")
        except Exception as e:
            raise Lost(f"{type(e).__name__}: {e}") from None
        arr = np.asarray(arr)
        if arr.ndim == 3 and arr.shape[2] == 4:  # XRGB8888 / XBGR8888: drop the padding byte
            arr = arr[:, :, :3]
        return np.ascontiguousarray(arr)  # RGB888 = B, G, R bytes: already OpenCV's BGR

    def _close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            except Exception:
                pass
            self._cam = None
