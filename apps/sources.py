"""Frame sources for the camera apps: cameras, files, folders, streams and a synthetic scene.

``open_source(spec)`` understands:

- ``0``, ``1``, ... or ``/dev/videoN``: a V4L2 camera (OpenCV V4L2, then any backend);
- a video file (OpenCV FFMPEG, then any backend), an image file, or a folder of images;
- ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http://``, ``https://``, ``udp://``: a network stream;
- ``csi://N``: a Jetson CSI camera through ``nvarguscamerasrc`` (GStreamer, ``appsink drop=1 max-buffers=1``);
- ``picam://N``: a Raspberry Pi camera through Picamera2 (``RGB888`` arrays are BGR-ordered, used as is);
- a raw GStreamer pipeline string (anything containing ``!``; it should end in ``appsink``);
- ``synthetic://``: a built-in moving scene (``?width=640&height=480&fps=30&frames=N&seed=0``;
  ``fps=0`` makes it a file-like source that yields frames as fast as they are asked for).

Every source is captured in its own thread. *Live* sources (cameras, streams, paced synthetic) keep
only the newest frame: a frame not taken before the next one arrives is counted as dropped, so the
app never works on a queue of stale frames. A lost live stream is reopened with exponential backoff
for up to ``reconnect_timeout`` seconds. *File* sources (video files, image folders, unpaced
synthetic) hand over every frame in order through a one-frame queue (no drops) unless ``realtime``
is asked for, which paces them at their frame rate and treats them as live. Frames are BGR uint8.
Device side: numpy + OpenCV only (Picamera2 imported lazily).
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..data.synthetic import MovingScene
from ..errors import EdgeError, MissingDependency
from ..imageio import IMAGE_SUFFIXES, list_images

__all__ = ["Frame", "Source", "open_source", "csi_pipeline", "SyntheticScene", "STREAM_SCHEMES",
           "display_name"]

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")
_END = object()
_QUIET = False


@dataclass
class Frame:
    """One captured frame: BGR uint8 image, its index from the source and its capture time."""

    image: np.ndarray
    index: int
    timestamp: float  # time.perf_counter() when the frame was captured
    capture_ms: float = float("nan")  # time the source spent producing it (read + decode)


class _Lost(Exception):
    """A live backend stopped delivering frames (raised by ``_grab``); the source may reconnect."""


# ---------------------------------------------------------------------------------------------------
# OpenCV helpers
# ---------------------------------------------------------------------------------------------------
def _cv2():  # noqa: ANN202
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
    cv2 = _cv2()
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def _open_capture(target: Any, backends: List[Tuple[str, int]], tried: List[str],
                  params: Optional[List[int]] = None) -> Any:
    """Try ``cv2.VideoCapture(target, api[, params])`` per backend; return the first opened one or None."""
    cv2 = _cv2()
    for name, api in backends:
        if name == "GStreamer" and not _has_gstreamer():
            tried.append("OpenCV GStreamer (this OpenCV was built without GStreamer)")
            continue
        tried.append(f"OpenCV {name}")
        try:
            cap = cv2.VideoCapture(target, api, params) if params else cv2.VideoCapture(target, api)
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


def _query(spec: str) -> Dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(spec).query).items()}


def _qint(q: Dict[str, str], key: str, default: int, spec: str) -> int:
    try:
        return int(float(q.get(key, default)))
    except ValueError:
        raise EdgeError(f"source {spec}: {key}={q[key]!r} is not a number") from None


def display_name(spec: str) -> str:
    """A source spec safe to print and record (passwords in URLs hidden)."""
    parts = urlsplit(spec)
    if parts.password:
        return spec.replace(f":{parts.password}@", ":***@")
    return spec


# ---------------------------------------------------------------------------------------------------
# Source: one capture thread, newest-frame slot (live) or one-frame queue (files)
# ---------------------------------------------------------------------------------------------------
class Source:
    """A started source hands out frames with ``read()``; ``None`` means the stream ended.

    Subclasses implement ``_open()``, ``_grab() -> image or None (end)`` (raising ``_Lost`` when a
    live backend fails) and ``_close()``. Counters: ``captured`` (frames obtained from the
    backend), ``dropped`` (live frames replaced by a newer one before being read), ``skipped``
    (unreadable frames or files passed over). ``error`` holds an EdgeError when a live stream was
    lost for good; ``fps`` is the backend's nominal rate when known.
    """

    kind = "source"

    def __init__(self, name: str, live: bool, reconnect_timeout: float = 10.0, fps: float = 0.0) -> None:
        self.name = name
        self.live = live
        self.reconnect_timeout = float(reconnect_timeout)
        self.fps = float(fps)
        self.pace = False  # sleep to the nominal fps between frames (realtime files, paced synthetic)
        self.captured = 0
        self.dropped = 0
        self.skipped = 0
        self.reconnects = 0
        self.error: Optional[EdgeError] = None
        self.end_reason = ""
        self.size: Optional[Tuple[int, int]] = None  # (height, width) of the first frame
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._slot: Optional[Frame] = None
        self._ended = False
        self._done = False
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread: Optional[threading.Thread] = None
        self._first: Optional[np.ndarray] = None
        self._index = 0
        self.started_at = 0.0  # perf_counter when start() began capturing
        # the current outage of a live stream: when it began and the next backoff delay; kept across
        # reconnect attempts (a reopen that gives no frame is not a recovery) until a frame is delivered
        self._t_lost: Optional[float] = None
        self._backoff = 0.25
        self._attempts = 0

    # -- subclass hooks ------------------------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _grab(self) -> Optional[np.ndarray]:
        raise NotImplementedError

    def _close(self) -> None:
        """Release the backend; must be idempotent (called after every loss and when capture ends)."""

    # -- public API ------------------------------------------------------------------------------------
    def start(self) -> Source:
        """Open the backend (raising EdgeError naming what was tried), check one frame, start the thread."""
        if self._thread is not None:
            return self
        self._open()
        t0 = time.perf_counter()
        try:
            first = self._grab()
        except _Lost:
            first = None
        if first is None:
            self._close()
            via = f" with {self.backend}" if getattr(self, "backend", "") else ""
            raise EdgeError(f"{self.kind} {display_name(self.name)} opened{via} but gave no frames",
                            "a video with zero frames or a camera/stream that sends nothing; check it plays "
                            "elsewhere (e.g. ffplay)")
        self.started_at = t0
        self._first = first
        self._first_ms = (time.perf_counter() - t0) * 1e3
        self.size = (int(first.shape[0]), int(first.shape[1]))
        self._thread = threading.Thread(target=self._run, name=f"capture:{self.kind}", daemon=True)
        self._thread.start()
        return self

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame (live: the newest one not yet read), or None at the end / after ``stop()``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.live:
            while True:
                if self._stop.is_set() and self._queue.empty():
                    self._done = True
                    return None
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if deadline is not None and time.monotonic() > deadline:
                        return None
                    continue
                if item is _END:
                    self._done = True
                    return None
                return item
        with self._cond:
            while self._slot is None and not self._ended and not self._stop.is_set():
                left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if left <= 0:
                    return None
                self._cond.wait(left)
            frame, self._slot = self._slot, None
            if frame is None:
                self._done = True
            return frame

    @property
    def finished(self) -> bool:
        """True once ``read`` has returned the end of the stream (or the source was stopped)."""
        return self._done or self._stop.is_set()

    def stop(self) -> None:
        """Stop capturing and release the backend (idempotent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            # unblock a file reader waiting on a full queue
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=5.0)
        else:
            # the capture thread releases the backend itself when it ends (even after a read that blocks
            # longer than this join waits); without a thread it is released here
            self._close()

    close = stop

    def __enter__(self) -> Source:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"source": display_name(self.name), "kind": self.kind, "live": self.live,
                             "captured": self.captured, "dropped": self.dropped, "skipped": self.skipped,
                             "reconnects": self.reconnects}
        if self.fps:
            d["nominal_fps"] = round(self.fps, 3)
        if self.size:
            d["height"], d["width"] = self.size
        return d

    # -- capture thread --------------------------------------------------------------------------------
    def _deliver(self, image: np.ndarray, capture_ms: float) -> bool:
        frame = Frame(image, self._index, time.perf_counter(), capture_ms)
        self._index += 1
        self.captured += 1
        if self.live:
            with self._cond:
                if self._slot is not None:
                    self.dropped += 1
                self._slot = frame
                self._cond.notify_all()
            return True
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _finish(self, reason: str) -> None:
        self.end_reason = self.end_reason or reason
        if self.live:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
        else:
            while not self._stop.is_set():
                try:
                    self._queue.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def _run(self) -> None:
        period = 1.0 / self.fps if (self.pace and self.fps > 0) else 0.0
        next_t = time.perf_counter()
        try:
            image: Optional[np.ndarray] = self._first
            ms = self._first_ms
            self._first = None
            while not self._stop.is_set():
                if image is None:
                    t0 = time.perf_counter()
                    try:
                        image = self._grab()
                    except _Lost as e:
                        if not self._reconnect(str(e)):
                            return
                        continue
                    ms = (time.perf_counter() - t0) * 1e3
                    if image is None:
                        self._finish("end of stream")
                        return
                if period:
                    next_t += period
                    delay = next_t - time.perf_counter()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        next_t = time.perf_counter()
                if not self._deliver(image, ms):
                    return
                image = None
                self._t_lost = None  # a frame got through: the outage (if any) is over
            self._finish("stopped")
        except EdgeError as e:
            self.error = e
            self._finish("error")
        except Exception as e:  # a backend bug must not hang the app: end the stream with the reason
            self.error = EdgeError(f"source {display_name(self.name)} failed: {type(e).__name__}: {e}")
            self._finish("error")
        finally:
            try:
                self._close()  # on this thread, so the device is released even when stop() gave up waiting
            except Exception:
                pass

    def _reconnect(self, why: str) -> bool:
        """Reopen a lost live stream with exponential backoff; False (and ``error`` set) when giving up."""
        from ..ui import warn

        self._close()
        if self.reconnect_timeout <= 0:
            self.error = EdgeError(f"live source {display_name(self.name)} was lost after {self.captured} frames "
                                   f"({why})", "reconnection is off (--reconnect-timeout 0)")
            self._finish("stream lost")
            return False
        if self._t_lost is None:  # a new outage: warn once, start the clock and the backoff
            warn(f"source {display_name(self.name)} lost ({why}); reconnecting for up to "
                 f"{self.reconnect_timeout:g} s")
            self._t_lost = time.monotonic()
            self._backoff, self._attempts = 0.25, 0
            wait_first = False
        else:  # reopened, but lost again before a frame came: the same outage, keep backing off
            wait_first = True
        while not self._stop.is_set():
            if wait_first:
                left = self.reconnect_timeout - (time.monotonic() - self._t_lost)
                if left <= 0:
                    break
                self._stop.wait(min(self._backoff, left))
                self._backoff = min(self._backoff * 2, 5.0)
                if self._stop.is_set():
                    break
            wait_first = True
            self._attempts += 1
            try:
                self._open()
                self.reconnects += 1
                return True
            except EdgeError:
                pass
        attempts = self._attempts
        if self._stop.is_set():
            self._finish("stopped")
            return False
        self.error = EdgeError(f"live source {display_name(self.name)} was lost after {self.captured} frames and did "
                               f"not come back within {self.reconnect_timeout:g} s ({attempts} reconnect attempts)",
                               "check the camera or network; raise --reconnect-timeout to wait longer")
        self._finish("stream lost")
        return False


# ---------------------------------------------------------------------------------------------------
# Concrete sources
# ---------------------------------------------------------------------------------------------------
class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: cameras, files, network streams, GStreamer pipelines."""

    def __init__(self, name: str, target: Any, backends: List[Tuple[str, int]], live: bool, kind: str,
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
        cv2 = _cv2()
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
            raise _Lost("not open")
        while True:
            ok, image = cap.read()
            if ok and image is not None and image.size:
                self.skipped += self._failures  # undecodable frames followed by a good one were skipped
                self._failures = 0
                if image.ndim == 2 or image.shape[2] != 3:
                    from ..imageio import to_rgb8

                    image = _cv2().cvtColor(to_rgb8(image)[0], _cv2().COLOR_RGB2BGR)
                return image
            if not self.is_file:
                raise _Lost("no frame from the backend")
            # a file: a corrupt frame before the known end is passed over; several failures in a row end it
            pos = int(cap.get(_cv2().CAP_PROP_POS_FRAMES) or 0)
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


class ImageFolderSource(Source):
    """Image files in name order (a folder, recursively, or one file); unreadable files are skipped."""

    kind = "images"

    def __init__(self, path: Path, fps: float = 0.0) -> None:
        super().__init__(str(path), live=False, fps=fps)
        self.paths = [path] if path.is_file() else list_images(path)
        self._pos = 0
        self.current_path: Optional[Path] = None

    def _open(self) -> None:
        if not self.paths:
            raise EdgeError(f"image folder {self.name} holds no images ({', '.join(IMAGE_SUFFIXES)})",
                            "pass a folder of JPEG/PNG/BMP files, a video file, a camera or a URL")

    def _grab(self) -> Optional[np.ndarray]:
        from ..imageio import read_rgb
        from ..ui import warn

        while self._pos < len(self.paths):
            path = self.paths[self._pos]
            self._pos += 1
            try:
                rgb = read_rgb(path)
            except EdgeError as e:
                self.skipped += 1
                warn(f"skipped {e}")
                continue
            self.current_path = path
            return np.ascontiguousarray(rgb[:, :, ::-1])
        return None


# The moving scene of the synthetic dataset's shapes (in their class colours, over a dataset-style
# background), so the built-in default models find what they were trained on in demos.
SyntheticScene = MovingScene


class SyntheticSource(Source):
    """``synthetic://?width=640&height=480&fps=30&frames=0&seed=0``: live at ``fps`` > 0, file-like at 0.

    Frames come from ``edgemnv2.data.synthetic.MovingScene``: the synthetic dataset's shapes moving.
    """

    kind = "synthetic"

    def __init__(self, spec: str, fps_override: Optional[float] = None) -> None:
        q = _query(spec)
        fps = float(q.get("fps", 30)) if fps_override is None else fps_override
        super().__init__(spec, live=fps > 0, reconnect_timeout=0, fps=fps)
        self.pace = fps > 0
        self.frames = _qint(q, "frames", 0, spec)
        self.scene = SyntheticScene(_qint(q, "width", 640, spec), _qint(q, "height", 480, spec),
                                    _qint(q, "seed", 0, spec))
        self._n = 0

    def _open(self) -> None:
        pass

    def _grab(self) -> Optional[np.ndarray]:
        if self.frames and self._n >= self.frames:
            return None
        img = self.scene.render(self._n)
        self._n += 1
        return img


class PicameraSource(Source):
    """Raspberry Pi camera through Picamera2. Its ``RGB888`` format is BGR-ordered in memory: used as is."""

    kind = "picamera2"

    def __init__(self, spec: str, reconnect_timeout: float = 10.0) -> None:
        super().__init__(spec, live=True, reconnect_timeout=reconnect_timeout)
        parts = urlsplit(spec)
        q = _query(spec)
        try:
            self.camera_num = int(parts.netloc or 0)
        except ValueError:
            raise EdgeError(f"source {spec}: camera number '{parts.netloc}' is not an integer",
                            "use picam://0") from None
        self.width = _qint(q, "width", 640, spec)
        self.height = _qint(q, "height", 480, spec)
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
            raise _Lost(f"{type(e).__name__}: {e}") from None
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


# ---------------------------------------------------------------------------------------------------
# The factory
# ---------------------------------------------------------------------------------------------------
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
    cv2 = _cv2()
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
        q = _query(spec)
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
        q = _query(spec)
        try:
            sensor = int(parts.netloc or 0)
        except ValueError:
            raise EdgeError(f"source {spec}: sensor id '{parts.netloc}' is not an integer", "use csi://0") from None
        pipe = csi_pipeline(sensor, width or _qint(q, "width", 1280, spec), height or _qint(q, "height", 720, spec),
                            int(fps or _qint(q, "fps", 30, spec)), _qint(q, "flip", 0, spec))
        return CaptureSource(spec, pipe, [("GStreamer", cv2.CAP_GSTREAMER)], True, "CSI camera",
                             "needs OpenCV with GStreamer and nvarguscamerasrc (JetPack); check 'gst-inspect-1.0 "
                             "nvarguscamerasrc' and the camera cable", reconnect_timeout)
    if scheme in STREAM_SCHEMES:
        if scheme in ("rtsp", "rtsps"):  # RTSP over TCP: no smeared frames from lost UDP packets (override: set it)
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        return CaptureSource(spec, spec, [("FFMPEG", cv2.CAP_FFMPEG), ("GStreamer", cv2.CAP_GSTREAMER)], True,
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


def available_backends() -> Dict[str, List[str]]:
    """OpenCV capture backends compiled in (for doctor-style messages and docs)."""
    cv2 = _cv2()
    reg = cv2.videoio_registry
    return {"camera": [reg.getBackendName(b) for b in reg.getCameraBackends()],
            "stream": [reg.getBackendName(b) for b in reg.getStreamBackends()]}

