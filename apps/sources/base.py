"""The frame-source base: ``Frame``, ``Source`` (one capture thread each) and spec helpers.

Live sources keep only the newest frame (a frame not read before the next one arrives is counted as
dropped); file sources hand every frame over in order through a one-frame queue. A lost live stream
is reopened with exponential backoff for up to ``reconnect_timeout`` seconds. Subclasses live in
``capture`` (OpenCV: cameras, files, streams, GStreamer), ``files`` (image folders), ``picam``
(Picamera2) and ``synthetic``; ``registry.open_source`` picks one from a spec.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ...errors import EdgeError

__all__ = ["Frame", "Source", "Lost", "display_name", "query", "qint"]

_END = object()

@dataclass
class Frame:
    """One captured frame: BGR uint8 image, its index from the source and its capture time."""

    image: np.ndarray
    index: int
    timestamp: float  # time.perf_counter() when the frame was captured
    capture_ms: float = float("nan")  # time the source spent producing it (read + decode)
    stream: int = 0  # which source of a multi-source run (``MultiSource``) it came from


class Lost(Exception):
    """A live backend stopped delivering frames (raised by ``_grab``); the source may reconnect."""



def query(spec: str) -> Dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(spec).query).items()}


def qint(q: Dict[str, str], key: str, default: int, spec: str) -> int:
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



class Source:
    """A started source hands out frames with ``read()``; ``None`` means the stream ended.

    Subclasses implement ``_open()``, ``_grab() -> image or None (end)`` (raising ``Lost`` when a
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
        self.on_frame: Optional[Callable[[], None]] = None  # called after each frame / the end is handed over
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
        except Lost:
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
                wait = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    if deadline is not None and time.monotonic() >= deadline:
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
    def pending(self) -> int:
        """Frames captured and waiting to be read (0 or 1: the slot or the one-frame queue)."""
        return int(self._slot is not None) if self.live else self._queue.qsize()

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
            self._notify()
            return True
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                self._notify()
                return True
            except queue.Full:
                continue
        return False

    def _notify(self) -> None:
        if self.on_frame is not None:
            self.on_frame()

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
        self._notify()

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
                    except Lost as e:
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
        from ...ui import warn

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
