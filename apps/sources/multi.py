"""Several sources as one: ``MultiSource`` hands out their frames round-robin, each tagged with its stream.

Every source keeps its own capture thread and its own policy: a live one keeps only its newest frame
(so a slow model never works on a stale frame of any stream), a file hands over every frame. ``read``
takes the next frame from the stream after the one served last that has one ready, so no stream can
starve the others. The run ends when every stream has ended. Counters are sums over the streams;
``streams`` holds the sources themselves for per-stream statistics.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from .base import Frame, Source

__all__ = ["MultiSource"]


class MultiSource(Source):
    """Round-robin over ``sources`` (started or not); ``Frame.stream`` is the index of the one it came from."""

    kind = "multi"

    def __init__(self, sources: Sequence[Source]) -> None:
        if len(sources) < 2:
            raise ValueError("MultiSource needs at least two sources")
        super().__init__("+".join(s.name for s in sources), live=any(s.live for s in sources),
                         fps=max(s.fps for s in sources))
        self.streams: List[Source] = list(sources)
        self._ready = threading.Event()
        self._next = 0
        for s in self.streams:
            s.on_frame = self._ready.set

    def start(self) -> MultiSource:
        if self._thread is not None:
            return self
        started: List[Source] = []
        try:
            for s in self.streams:
                if getattr(s, "_thread", None) is None:
                    s.start()
                started.append(s)
        except BaseException:
            for s in started:
                s.stop()
            raise
        self.started_at = min(s.started_at for s in self.streams)
        self.size = self.streams[0].size
        self.fps = max(s.fps for s in self.streams)
        self._thread = threading.current_thread()  # marks "started"; the streams have the capture threads
        return self

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next ready frame, round-robin over the streams; None once all ended (or after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        n = len(self.streams)
        while not self._stop.is_set():
            self._ready.clear()
            alive = 0
            for k in range(n):
                i = (self._next + k) % n
                s = self.streams[i]
                if s.finished:
                    continue
                frame = s.read(timeout=0)
                if frame is not None:
                    frame.stream = i
                    self._next = i + 1
                    return frame
                alive += not s.finished
            if not alive:
                break
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return None
            self._ready.wait(left)
        self._done = True
        return None

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.streams)

    def stop(self) -> None:
        self._stop.set()
        self._ready.set()
        for s in self.streams:
            s.stop()

    close = stop

    def _sum(self, attr: str) -> int:
        return sum(int(getattr(s, attr)) for s in self.streams)

    captured = property(lambda self: self._sum("captured"), lambda self, v: None)  # type: ignore[assignment]
    dropped = property(lambda self: self._sum("dropped"), lambda self, v: None)  # type: ignore[assignment]
    skipped = property(lambda self: self._sum("skipped"), lambda self, v: None)  # type: ignore[assignment]
    reconnects = property(lambda self: self._sum("reconnects"), lambda self, v: None)  # type: ignore[assignment]

    @property  # type: ignore[override]
    def error(self) -> Any:  # the first stream's error, if any
        return next((s.error for s in self.streams if s.error is not None), None)

    @error.setter
    def error(self, value: Any) -> None:
        pass

    @property  # type: ignore[override]
    def end_reason(self) -> str:
        reasons = [s.end_reason for s in self.streams if s.end_reason]
        return "; ".join(f"stream {i}: {s.end_reason}" for i, s in enumerate(self.streams)
                         if s.end_reason) if len(set(reasons)) > 1 else (reasons[0] if reasons else "")

    @end_reason.setter
    def end_reason(self, value: str) -> None:
        pass

    def describe(self) -> Dict[str, Any]:
        return {"source": "multi", "kind": self.kind, "live": self.live, "captured": self.captured,
                "dropped": self.dropped, "skipped": self.skipped, "reconnects": self.reconnects,
                "streams": [s.describe() for s in self.streams]}
