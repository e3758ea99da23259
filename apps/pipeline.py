"""The camera loop: source -> preprocess -> infer -> postprocess -> render -> sinks, timed per stage.

Four threads overlap so the loop runs at the speed of its slowest stage (normally inference):

- the source's capture thread reads and decodes frames (live sources keep only the newest);
- the preprocess thread converts BGR -> RGB and runs ``Predictor.preprocess``;
- the inference thread runs ``Predictor.infer``;
- the calling thread runs ``Predictor.postprocess``, ``TaskResult.draw`` and the HUD, and the sinks.

Hand-offs hold one item. For files every frame goes through in order; for live sources the
hand-off to inference keeps only the newest preprocessed frame (the one replaced is counted as
dropped), so inference never works through a backlog of stale frames. Every stage is
timed with ``edgemnv2.profiling.StageTimes`` (``capture``, ``preprocess``, ``inference``,
``postprocess``, ``render``, ``sink``), plus ``frame_age`` (capture timestamp -> all sinks written)
and ``interval`` (time between frames reaching the sinks, i.e. 1000 / the FPS the user sees) and
``inference_wait`` / ``inference_blocked`` (time the inference thread waited for its next input /
for the render stage to take its result: both near 0 when the loop is inference-bound).
Ctrl-C / SIGTERM (with ``handle_signals``), a sink asking to stop, ``max_frames`` or the end of
the stream all stop the loop cleanly; sinks are always closed so their files are finalised.
Task logic comes from ``edgemnv2.predictor.Predictor``; nothing here decodes, NMSes or overlays.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import EdgeError
from ..profiling import StageTimes, latency_stats
from ..sysinfo import now_iso
from .hud import Hud
from .sinks import Sink, SinkItem
from .sources import Source, open_source

__all__ = ["run_pipeline", "PipelineStats", "STAGES", "PROFILE_KIND"]

STAGES = ("capture", "preprocess", "inference", "postprocess", "render", "sink")
PROFILE_KIND = "edgemnv2-camera-profile"
PROFILE_VERSION = 1
_END = object()
_EMPTY = object()


@dataclass
class PipelineStats:
    """What one run did and how long each stage took. ``to_dict()`` is the ``--profile`` JSON."""

    task: str = ""
    model: str = ""
    runtime: Dict[str, Any] = field(default_factory=dict)
    source: Dict[str, Any] = field(default_factory=dict)
    sinks: List[Dict[str, Any]] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)
    frames_captured: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_skipped: int = 0
    wall_s: float = 0.0
    end_reason: str = ""
    error: Optional[EdgeError] = None
    started: str = ""

    @property
    def fps(self) -> float:
        """Frames that reached the sinks per second of wall time (the loop's real throughput)."""
        return self.frames_processed / self.wall_s if self.wall_s > 0 else 0.0

    def stage_summary(self) -> Dict[str, Dict[str, Optional[float]]]:
        return {k: latency_stats(self.times.samples.get(k, [])) for k in STAGES if k in self.times.samples}

    def raise_for_error(self) -> None:
        """Raise the source's EdgeError (e.g. a live stream lost for good), if any."""
        if self.error is not None:
            raise self.error

    def to_dict(self, samples: bool = True) -> Dict[str, Any]:
        """The profile: latency blocks use ``edgemnv2.profiling.latency_stats`` (the bench report's schema)."""
        d: Dict[str, Any] = {
            "kind": PROFILE_KIND, "schema_version": PROFILE_VERSION, "created": self.started,
            "task": self.task, "model": self.model, "runtime": self.runtime, "source": self.source,
            "sinks": self.sinks,
            "frames": {"captured": self.frames_captured, "processed": self.frames_processed,
                       "dropped": self.frames_dropped, "skipped": self.frames_skipped},
            "wall_s": round(self.wall_s, 4), "fps": round(self.fps, 3), "end_reason": self.end_reason,
            "error": str(self.error) if self.error else None,
            "stages": self.stage_summary(),
            "frame_age_ms": latency_stats(self.times.samples.get("frame_age", [])),
            "interval_ms": latency_stats(self.times.samples.get("interval", [])),
            "inference_wait_ms": latency_stats(self.times.samples.get("inference_wait", [])),
            "inference_blocked_ms": latency_stats(self.times.samples.get("inference_blocked", [])),
        }
        if samples:
            d["samples_ms"] = {k: [round(v, 4) for v in vals] for k, vals in self.times.samples.items()}
        return d


class _Signals:
    """SIGINT/SIGTERM set ``stop`` (a second SIGINT raises KeyboardInterrupt); restored on exit.

    Once ``cleaning`` is set (the pipeline is shutting down), further signals are only recorded: an
    impatient second Ctrl-C must not abort the cleanup that finalises the output files.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: Optional[str] = None
        self.cleaning = False
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.cleaning:
            self.received = self.received or signal.Signals(signum).name
            self.stop.set()
            return
        if self.stop.is_set() and signum == signal.SIGINT and self.received:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        self.stop.set()

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class _Handoff:
    """A small bounded hand-off between two threads.

    ``latest=False``: ``put`` waits while ``capacity`` items are waiting (no drops: files).
    ``latest=True``: one slot; ``put`` replaces an item not yet taken (counted in ``dropped``), so the
    consumer always gets the newest one (live sources: never work on a stale frame).
    ``put(..., wait=True)`` always waits for room (used for the end marker, which must not replace a frame).
    """

    def __init__(self, latest: bool = False, capacity: int = 1) -> None:
        self.latest = latest
        self.capacity = 1 if latest else max(1, int(capacity))
        self.dropped = 0
        self._cond = threading.Condition()
        self._items: Deque[Any] = collections.deque()

    def put(self, item: Any, abort: threading.Event, wait: bool = False) -> bool:
        with self._cond:
            if self.latest and not wait:
                if self._items:
                    self.dropped += len(self._items)
                    self._items.clear()
            else:
                while len(self._items) >= self.capacity:
                    if abort.is_set():
                        return False
                    self._cond.wait(0.1)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The oldest waiting item, or ``_EMPTY`` after ``timeout`` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return _EMPTY
            item = self._items.popleft()
            self._cond.notify_all()
            return item


def run_pipeline(predictor: Any, source: Union[Source, str], sinks: Sequence[Sink] = (),
                 max_frames: Optional[int] = None, *, hud: bool = True, render: Optional[bool] = None,
                 warmup: int = 1, stop_event: Optional[threading.Event] = None, handle_signals: bool = False,
                 realtime: bool = False, reconnect_timeout: float = 10.0,
                 on_result: Optional[Callable[[SinkItem], None]] = None,
                 on_start: Optional[Callable[[], Any]] = None) -> PipelineStats:
    """Run the camera loop until the stream ends, ``max_frames`` frames are done, or it is stopped.

    ``predictor``: an ``edgemnv2.predictor.Predictor`` (activated here if it is not yet).
    ``source``: a Source (started here if needed) or a spec for ``open_source``; stopped at the end.
    ``sinks``: opened here and always closed (files finalised). ``render``: draw results + HUD even
    when no sink needs pixels (default: only when one does). ``warmup``: untimed inferences first.
    ``on_result(item)`` is called after the sinks for every frame; ``on_start()`` once the sinks are open.
    Returns PipelineStats; a lost live stream sets ``stats.error`` (see ``raise_for_error``) rather than
    raising, so outputs and the profile can still be written. Other errors are raised after cleanup.
    """
    import cv2

    stop = stop_event or threading.Event()
    stats = PipelineStats(started=now_iso())
    activated_here = False
    opened: List[Sink] = []
    src: Optional[Source] = source if isinstance(source, Source) else None  # stopped even if a step fails
    workers: List[threading.Thread] = []
    failure: List[BaseException] = []
    signals = _Signals(stop) if handle_signals else None
    try:
        if signals is not None:
            signals.__enter__()
        if getattr(predictor, "input_format", None) is None:
            predictor.activate()
            activated_here = True
        stats.task = predictor.task.value
        stats.model = str(getattr(predictor.runner, "path", ""))
        stats.runtime = dict(predictor.runner.describe())
        src = open_source(source, realtime=realtime, reconnect_timeout=reconnect_timeout) \
            if isinstance(source, (str, os.PathLike)) else source
        if getattr(src, "_thread", None) is None:
            src.start()
        for s in sinks:
            s.open()
            opened.append(s)
        if on_start is not None:
            on_start()
        need_image = bool(render) or any(s.needs_image for s in sinks)
        if warmup and src.size:
            feeds = predictor.preprocess(np.zeros((src.size[0], src.size[1], 3), np.uint8))
            for _ in range(int(warmup)):
                predictor.infer(feeds)
        times = stats.times
        to_infer = _Handoff(latest=src.live)  # live: inference always takes the newest preprocessed frame
        # Every inferred frame is rendered and written. Files: up to 3 frames may wait for the render
        # thread, so a descheduled renderer does not stall inference; live: 1, so nothing goes stale.
        to_render = _Handoff(latest=False, capacity=1 if src.live else 3)
        abort = threading.Event()  # the consumer is gone: producers must not block

        def preprocess_loop() -> None:
            n = 0
            try:
                while not stop.is_set():
                    if max_frames and n >= max_frames and not src.live:
                        break
                    frame = src.read(timeout=0.2)
                    if frame is None:
                        if src.finished:
                            break
                        continue
                    t0 = time.perf_counter()
                    feeds = predictor.preprocess(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
                    ms = {"capture": frame.capture_ms, "preprocess": (time.perf_counter() - t0) * 1e3}
                    n += 1
                    if not to_infer.put((frame, feeds, ms), abort):
                        return
            except BaseException as e:  # surfaced by the calling thread after cleanup
                failure.append(e)
            finally:
                to_infer.put(_END, abort, wait=True)

        def infer_loop() -> None:
            try:
                while True:
                    tw = time.perf_counter()
                    item = to_infer.get(0.1)
                    if item is _EMPTY:
                        if abort.is_set():
                            return
                        continue
                    if item is _END:
                        break
                    frame, feeds, ms = item
                    t0 = time.perf_counter()
                    ms["inference_wait"] = (t0 - tw) * 1e3  # > 0: inference was starved (not the bottleneck)
                    raw = predictor.infer(feeds)
                    ms["inference"] = (time.perf_counter() - t0) * 1e3
                    tb = time.perf_counter()
                    if not to_render.put((frame, raw, ms), abort):
                        return
                    times.add("inference_blocked", (time.perf_counter() - tb) * 1e3)  # waiting on render
            except BaseException as e:
                failure.append(e)
            finally:
                to_render.put(_END, abort, wait=True)

        hud_state = Hud() if hud else None
        last_render_ms = float("nan")
        t_start = time.perf_counter()
        t_last = t_start
        t_ref = getattr(src, "started_at", 0.0) or t_start  # JSON time_s counts from the source's start
        workers = [threading.Thread(target=preprocess_loop, name="preprocess", daemon=True),
                   threading.Thread(target=infer_loop, name="inference", daemon=True)]
        for w in workers:
            w.start()
        while True:
            item = to_render.get(0.1)
            if item is _EMPTY:
                if not any(w.is_alive() for w in workers):
                    break
                continue
            if item is _END:
                break
            if max_frames and stats.frames_processed >= max_frames:
                continue  # frames still in flight when max_frames was reached: drained, not processed
            frame, raw, ms = item
            t0 = time.perf_counter()
            result = predictor.postprocess(raw, frame.image.shape[:2])
            t1 = time.perf_counter()
            ms["postprocess"] = (t1 - t0) * 1e3
            image = None
            if need_image:
                image = result.draw(frame.image)
                if hud_state is not None:
                    shown = dict(ms, render=last_render_ms) if last_render_ms == last_render_ms else ms
                    hud_state.update(shown, (t1 - frame.timestamp) * 1e3, src.dropped + to_infer.dropped, now=t1)
                    hud_state.draw(image)
            t2 = time.perf_counter()
            ms["render"] = last_render_ms = (t2 - t1) * 1e3  # the HUD shows it from the next frame on
            sink_item = SinkItem(frame, result, stats.frames_processed, image, ms, t_ref)
            for s in opened:
                s.write(sink_item)
            if on_result is not None:
                on_result(sink_item)
            t3 = time.perf_counter()
            ms["sink"] = (t3 - t2) * 1e3
            for k, v in ms.items():
                times.add(k, v)
            times.add("frame_age", (t3 - frame.timestamp) * 1e3)
            if stats.frames_processed:
                times.add("interval", (t3 - t_last) * 1e3)
            t_last = t3
            stats.frames_processed += 1
            if any(s.stop_requested for s in opened):
                stats.end_reason = "stopped from a sink (window closed or q pressed)"
                stop.set()
            if max_frames and stats.frames_processed >= max_frames:
                stats.end_reason = stats.end_reason or f"max frames ({max_frames})"
                stop.set()
        stats.wall_s = t_last - t_start
        if failure:
            raise failure[0]
        if signals is not None and signals.received:
            stats.end_reason = f"stopped by {signals.received}"
        elif not stats.end_reason:
            stats.end_reason = src.end_reason or ("stopped" if stop.is_set() else "end of stream")
        if src.error is not None:
            stats.error = src.error
            stats.end_reason = src.end_reason or "error"
        return stats
    finally:
        if signals is not None:
            signals.cleaning = True  # a further Ctrl-C must not interrupt closing the sinks
        close_error: Optional[BaseException] = None
        try:
            stop.set()
            abort_evt = locals().get("abort")
            if abort_evt is not None:
                abort_evt.set()
            if src is not None:
                src.stop()
                stats.source = src.describe()
                stats.frames_captured, stats.frames_dropped = src.captured, src.dropped
                stats.frames_skipped = src.skipped
                hand = locals().get("to_infer")
                if hand is not None:
                    stats.frames_dropped += hand.dropped
            for w in workers:
                w.join(timeout=10.0)
        finally:  # the sinks are closed (files finalised, writers released) whatever happened above
            for s in opened:
                try:
                    s.close()
                except BaseException as e:  # close the others anyway
                    close_error = close_error or e
            stats.sinks = [s.describe() for s in opened]
            try:
                if activated_here:
                    predictor.deactivate()
            finally:
                if signals is not None:
                    signals.__exit__(None, None, None)
        if close_error is not None and not failure:
            raise close_error
