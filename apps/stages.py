"""The camera loop's stages as objects: preprocess and infer (each on its own thread), postprocess,
render and sinks (on the calling thread), and the hand-offs between them.

Capture is the source's own thread (``edgemnv2.apps.sources``). A frame travels
``Source -> PreprocessStage -> Handoff -> InferStage -> Handoff -> Postprocess/Render/SinkStage``;
every stage records its milliseconds in the frame's ``ms`` dict, which the pipeline folds into
bounded statistics once the frame reached the sinks.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .hud import Hud
from .sinks import Sink, SinkItem, close_all
from .sources import Frame, Source
from .stats import BoundedStageTimes

__all__ = ["Handoff", "Flow", "PreprocessStage", "InferStage", "Renderer", "SinkStage", "END", "EMPTY"]

END = object()  # the producer is done
EMPTY = object()  # nothing arrived within the timeout


@dataclass
class Flow:
    """What the threads share: ``stop`` (finish the frame in flight, then end), ``abort`` (the consumer
    is gone: producers must not block) and the first exception a worker thread raised."""

    stop: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)
    failures: List[BaseException] = field(default_factory=list)


class Handoff:
    """A small bounded hand-off between two threads.

    ``latest=False``: ``put`` waits while ``capacity`` items are waiting (no drops: files).
    ``latest=True``: one slot; ``put`` replaces an item not yet taken (counted in ``dropped``), so the
    consumer always gets the newest one (live sources: never work on a stale frame).
    ``per_stream=True`` (with ``latest``): one slot per stream (``Frame.stream`` of the item's frame), so
    several live streams each keep their newest frame and are taken oldest-first (round-robin).
    ``put(..., wait=True)`` always waits for room (used for the end marker, which must not replace a frame).
    """

    def __init__(self, latest: bool = False, capacity: int = 1, per_stream: bool = False) -> None:
        self.latest = latest
        self.per_stream = latest and per_stream
        self.capacity = 1 if latest else max(1, int(capacity))
        self.dropped = 0
        self.dropped_by_stream: Dict[int, int] = collections.Counter()
        self._cond = threading.Condition()
        self._items: Deque[Any] = collections.deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, abort: threading.Event, wait: bool = False) -> bool:
        with self._cond:
            if self.latest and not wait:
                stream = _stream_of(item)
                kept: Deque[Any] = collections.deque()
                for x in self._items:  # the item this one replaces is dropped
                    if self.per_stream and _stream_of(x) != stream:
                        kept.append(x)
                    else:
                        self.dropped += 1
                        self.dropped_by_stream[_stream_of(x)] += 1
                self._items = kept
            else:
                while len(self._items) >= self.capacity:
                    if abort.is_set():
                        return False
                    self._cond.wait(0.1)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The oldest waiting item, or ``EMPTY`` after ``timeout`` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return EMPTY
            item = self._items.popleft()
            self._cond.notify_all()
            return item


def _stream_of(item: Any) -> int:
    """The stream of a hand-off item ``(frame, ...)``; 0 for markers."""
    return int(getattr(item[0], "stream", 0)) if isinstance(item, tuple) else 0


class PreprocessStage:
    """Thread: frames from the source -> ``Predictor.preprocess_bgr`` -> the inference hand-off."""

    def __init__(self, predictor: Any, source: Source, out: Handoff, flow: Flow, max_frames: Optional[int]) -> None:
        self.predictor, self.source, self.out, self.flow, self.max_frames = predictor, source, out, flow, max_frames

    def run(self) -> None:
        src, n = self.source, 0
        try:
            while not self.flow.stop.is_set():
                if self.max_frames and n >= self.max_frames and not src.live:
                    break
                frame = src.read(timeout=0.2)
                if frame is None:
                    if src.finished:
                        break
                    continue
                t0 = time.perf_counter()
                feeds = self.predictor.preprocess_bgr(frame.image)
                ms = {"capture": frame.capture_ms, "preprocess": (time.perf_counter() - t0) * 1e3}
                n += 1
                if not self.out.put((frame, feeds, ms), self.flow.abort):
                    return
        except BaseException as e:  # surfaced by the calling thread after cleanup
            self.flow.failures.append(e)
        finally:
            self.out.put(END, self.flow.abort, wait=True)


class InferStage:
    """Thread: ``Predictor.infer`` on each preprocessed frame; also times waiting for input and for render."""

    def __init__(self, predictor: Any, inp: Handoff, out: Handoff, flow: Flow, times: BoundedStageTimes) -> None:
        self.predictor, self.inp, self.out, self.flow, self.times = predictor, inp, out, flow, times

    def run(self) -> None:
        try:
            while True:
                tw = time.perf_counter()
                item = self.inp.get(0.1)
                if item is EMPTY:
                    if self.flow.abort.is_set():
                        return
                    continue
                if item is END:
                    break
                frame, feeds, ms = item
                t0 = time.perf_counter()
                ms["inference_wait"] = (t0 - tw) * 1e3  # > 0: inference was starved (not the bottleneck)
                raw = self.predictor.infer(feeds)
                ms["inference"] = (time.perf_counter() - t0) * 1e3
                tb = time.perf_counter()
                if not self.out.put((frame, raw, ms), self.flow.abort):
                    return
                self.times.add("inference_blocked", (time.perf_counter() - tb) * 1e3)  # waiting on render
        except BaseException as e:
            self.flow.failures.append(e)
        finally:
            self.out.put(END, self.flow.abort, wait=True)


class Renderer:
    """``TaskResult.draw`` and the HUD onto the frame, only when some sink needs pixels."""

    def __init__(self, need_image: bool, hud: bool) -> None:
        self.need_image = need_image
        self.huds: Optional[Dict[int, Hud]] = {} if hud else None  # one per stream
        self.last_ms = float("nan")  # the HUD shows the render time from the next frame on

    def __call__(self, frame: Frame, result: Any, ms: Dict[str, float], dropped: int,
                 now: float) -> Optional[np.ndarray]:
        if not self.need_image:
            return None
        image = result.draw(frame.image)
        if self.huds is not None:
            hud = self.huds.setdefault(frame.stream, Hud())
            shown = dict(ms, render=self.last_ms) if self.last_ms == self.last_ms else ms
            hud.update(shown, (now - frame.timestamp) * 1e3, dropped, now=now)
            hud.draw(image)
        return image


class SinkStage:
    """All sinks: opened together, written in order, always all closed (the first close error is kept)."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self.opened: List[Sink] = []

    @property
    def need_image(self) -> bool:
        return any(s.needs_image for s in self.sinks)

    def open(self) -> None:
        for s in self.sinks:
            s.open()
            self.opened.append(s)

    def write(self, item: SinkItem) -> bool:
        """Write to every sink; True when one asks the run to stop (window closed, q pressed)."""
        for s in self.opened:
            s.write(item)
        return any(s.stop_requested for s in self.opened)

    def close(self) -> Tuple[Optional[BaseException], List[Dict[str, Any]]]:
        return close_all(self.opened), [s.describe() for s in self.opened]
