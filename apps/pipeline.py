"""The camera loop: source -> preprocess -> infer -> postprocess -> render -> sinks, timed per stage.

Four threads overlap so the loop runs at the speed of its slowest stage (normally inference):

- the source's capture thread reads and decodes frames (live sources keep only the newest);
- ``PreprocessStage`` converts BGR -> RGB and runs ``Predictor.preprocess``;
- ``InferStage`` runs ``Predictor.infer``;
- the calling thread runs ``Predictor.postprocess``, the ``Renderer`` (``TaskResult.draw`` + HUD) and
  the ``SinkStage`` (see ``edgemnv2.apps.stages``).

Hand-offs hold one item. For files every frame goes through in order; for live sources the
hand-off to inference keeps only the newest preprocessed frame (the one replaced is counted as
dropped), so inference never works through a backlog of stale frames. Every stage is timed
(``capture``, ``preprocess``, ``inference``, ``postprocess``, ``render``, ``sink``), plus ``frame_age``
(capture timestamp -> all sinks written), ``interval`` (time between frames reaching the sinks) and
``inference_wait`` / ``inference_blocked`` (time the inference thread waited for its next input / for
the render stage to take its result). Statistics are kept in bounded memory (``edgemnv2.apps.stats``).
Ctrl-C / SIGTERM (with ``handle_signals``), a sink asking to stop, ``max_frames`` or the end of
the stream all stop the loop cleanly; sinks are always closed so their files are finalised.
Task logic comes from ``edgemnv2.predictor.Predictor``; nothing here decodes, NMSes or overlays.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from ..errors import EdgeError
from ..sysinfo import now_iso
from .sinks import Sink, SinkItem
from .sources import MultiSource, Source, display_name, open_source
from .stages import EMPTY, END, Flow, Handoff, InferStage, PreprocessStage, Renderer, SinkStage
from .stats import BoundedStageTimes, Series

if TYPE_CHECKING:
    from .tracking import Tracking

__all__ = ["run_pipeline", "Pipeline", "PipelineStats", "Signals", "STAGES", "PROFILE_KIND"]

STAGES = ("capture", "preprocess", "inference", "postprocess", "render", "sink")
PROFILE_KIND = "edgemnv2-camera-profile"
PROFILE_VERSION = 2


@dataclass
class PipelineStats:
    """What one run did and how long each stage took. ``to_dict()`` is the ``--profile`` JSON."""

    task: str = ""
    model: str = ""
    runtime: Dict[str, Any] = field(default_factory=dict)
    source: Dict[str, Any] = field(default_factory=dict)
    sinks: List[Dict[str, Any]] = field(default_factory=list)
    times: BoundedStageTimes = field(default_factory=BoundedStageTimes)
    queues: Dict[str, int] = field(default_factory=dict)  # hand-off depths at the last progress call
    frames_captured: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_skipped: int = 0
    wall_s: float = 0.0
    end_reason: str = ""
    error: Optional[EdgeError] = None
    started: str = ""
    streams: List[Dict[str, Any]] = field(default_factory=list)  # per source: frames, fps, drops, frame age
    tracking: Dict[str, Any] = field(default_factory=dict)  # --track: tracks seen, line counts per stream

    @property
    def fps(self) -> float:
        """Frames that reached the sinks per second of wall time (the loop's real throughput)."""
        return self.frames_processed / self.wall_s if self.wall_s > 0 else 0.0

    def stage_summary(self) -> Dict[str, Dict[str, Optional[float]]]:
        return self.times.summary(STAGES)

    def raise_for_error(self) -> None:
        """Raise the source's EdgeError (e.g. a live stream lost for good), if any."""
        if self.error is not None:
            raise self.error

    def to_dict(self, samples: bool = True) -> Dict[str, Any]:
        """The profile: latency blocks have ``edgemnv2.profiling.latency_stats``'s keys (the bench report's
        schema); counts, mean, std, min and max are exact, percentiles come from the bounded reservoir."""
        d: Dict[str, Any] = {
            "kind": PROFILE_KIND, "schema_version": PROFILE_VERSION, "created": self.started,
            "task": self.task, "model": self.model, "runtime": self.runtime, "source": self.source,
            "sinks": self.sinks,
            "frames": {"captured": self.frames_captured, "processed": self.frames_processed,
                       "dropped": self.frames_dropped, "skipped": self.frames_skipped},
            "wall_s": round(self.wall_s, 4), "fps": round(self.fps, 3), "end_reason": self.end_reason,
            "error": str(self.error) if self.error else None,
            "stages": self.stage_summary(),
            "frame_age_ms": self.times.stats("frame_age"),
            "interval_ms": self.times.stats("interval"),
            "inference_wait_ms": self.times.stats("inference_wait"),
            "inference_blocked_ms": self.times.stats("inference_blocked"),
            "reservoir_size": self.times.size,
            "streams": self.streams,
        }
        if self.tracking:
            d["tracking"] = self.tracking
        if samples:  # bounded: at most reservoir_size values per series
            d["samples_ms"] = {k: [round(v, 4) for v in vals] for k, vals in self.times.samples().items()}
        return d


class Signals:
    """SIGINT/SIGTERM set ``stop`` (a second SIGINT raises KeyboardInterrupt); restored on exit.

    Once ``cleaning`` is set (the pipeline is shutting down), further signals are only recorded: an
    impatient second Ctrl-C must not abort the cleanup that finalises the output files.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: Optional[str] = None
        self.cleaning = False
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> Signals:
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


ProgressFn = Callable[[PipelineStats], None]


@contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """OpenCV's own thread pool off for a run (restored after).

    The loop already runs capture, inference and rendering in parallel threads and the runtime uses
    the cores; on 720p frames OpenCV's pool cost more CPU than it saved: 1.5 ms of CPU per DeepLab
    frame here (resize 2.4 -> 1.8 ms, overlay 2.8 -> 2.2 ms; ``benchmarks/segment_frame.py``).
    """
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


class Pipeline:
    """One run of the camera loop; ``run_pipeline`` builds one and runs it (see its docstring)."""

    def __init__(self, predictor: Any, source: Union[Source, str, os.PathLike], sinks: Sequence[Sink],
                 max_frames: Optional[int], *, hud: bool, render: Optional[bool], warmup: int,
                 stop_event: Optional[threading.Event], handle_signals: bool, realtime: bool,
                 reconnect_timeout: float, on_result: Optional[Callable[[SinkItem], None]],
                 on_start: Optional[Callable[[], Any]], on_progress: Optional[ProgressFn],
                 progress_every_s: float, tracking: Optional[Tracking] = None) -> None:
        self.predictor, self.source, self.max_frames = predictor, source, max_frames
        self.hud, self.render, self.warmup = hud, render, warmup
        self.realtime, self.reconnect_timeout = realtime, reconnect_timeout
        self.on_result, self.on_start = on_result, on_start
        self.on_progress, self.progress_every_s = on_progress, float(progress_every_s)
        self.flow = Flow(stop=stop_event or threading.Event())
        self.stats = PipelineStats(started=now_iso())
        self.sinks = SinkStage(sinks)
        self.src: Optional[Source] = source if isinstance(source, Source) else None  # stopped even if a step fails
        self.signals = Signals(self.flow.stop) if handle_signals else None
        self.workers: List[threading.Thread] = []
        self.to_infer: Optional[Handoff] = None
        self.to_render: Optional[Handoff] = None
        self.activated_here = False
        self.tracking = tracking
        self.per_stream: Dict[int, Dict[str, Any]] = {}  # stream -> processed, last time, frame age series
        self.t_start = self.t_last = self.next_progress = 0.0

    def run(self) -> PipelineStats:
        with opencv_single_threaded():
            try:
                if self.signals is not None:
                    self.signals.__enter__()
                src = self._setup()
                self._loop(src)
                return self._finish(src)
            finally:
                self._cleanup()

    # -- phases ----------------------------------------------------------------------------------------
    def _setup(self) -> Source:
        """Activate the predictor, start the source, open the sinks, warm up, start the worker threads."""
        p, stats = self.predictor, self.stats
        if getattr(p, "input_format", None) is None:
            p.activate()
            self.activated_here = True
        stats.task = p.task.value
        stats.model = str(getattr(p.runner, "path", ""))
        stats.runtime = dict(p.runner.describe())
        if isinstance(self.source, Source):
            src = self.source
        else:
            src = open_source(self.source, realtime=self.realtime, reconnect_timeout=self.reconnect_timeout)
        self.src = src
        if getattr(src, "_thread", None) is None:
            src.start()
        self.sinks.open()
        if self.on_start is not None:
            self.on_start()
        if self.warmup and src.size:
            feeds = p.preprocess(np.zeros((src.size[0], src.size[1], 3), np.uint8))
            for _ in range(int(self.warmup)):
                p.infer(feeds)
        # live: inference always takes the newest preprocessed frame of each stream
        self.to_infer = Handoff(latest=src.live, per_stream=True)
        # Every inferred frame is rendered and written. Files: up to 3 frames may wait for the render
        # thread, so a descheduled renderer does not stall inference; live: 1, so nothing goes stale.
        self.to_render = Handoff(latest=False, capacity=1 if src.live else 3)
        pre = PreprocessStage(p, src, self.to_infer, self.flow, self.max_frames)
        inf = InferStage(p, self.to_infer, self.to_render, self.flow, stats.times)
        self.workers = [threading.Thread(target=pre.run, name="preprocess", daemon=True),
                        threading.Thread(target=inf.run, name="inference", daemon=True)]
        for w in self.workers:
            w.start()
        return src

    def _loop(self, src: Source) -> None:
        """Postprocess, render and write each inferred frame until the workers end."""
        assert self.to_render is not None
        renderer = Renderer(bool(self.render) or self.sinks.need_image, self.hud)
        self.t_start = self.t_last = time.perf_counter()
        self.next_progress = self.t_start + self.progress_every_s
        t_ref = getattr(src, "started_at", 0.0) or self.t_start  # JSON time_s counts from the source's start
        while True:
            item = self.to_render.get(0.1)
            if item is END:
                break
            if item is EMPTY:
                if not any(w.is_alive() for w in self.workers):
                    break
            elif not (self.max_frames and self.stats.frames_processed >= self.max_frames):
                self._frame(src, item, renderer, t_ref)
            # else: frames still in flight when max_frames was reached: drained, not processed
            if self.on_progress is not None and time.perf_counter() >= self.next_progress:
                self.next_progress = time.perf_counter() + self.progress_every_s
                self.on_progress(self.snapshot())

    def _frame(self, src: Source, item: Any, renderer: Renderer, t_ref: float) -> None:
        assert self.to_infer is not None
        stats, times = self.stats, self.stats.times
        frame, raw, ms = item
        t0 = time.perf_counter()
        result = self.predictor.postprocess(raw, frame.image.shape[:2])
        t1 = time.perf_counter()
        ms["postprocess"] = (t1 - t0) * 1e3
        tracks = self.tracking.update(frame.stream, result, frame.timestamp) if self.tracking else None
        image = renderer(frame, result, ms, self._dropped(src, frame.stream), t1)
        if image is not None and self.tracking is not None:
            self.tracking.draw(image, frame.stream, result, tracks)
        t2 = time.perf_counter()
        ms["render"] = renderer.last_ms = (t2 - t1) * 1e3
        sink_item = SinkItem(frame, result, stats.frames_processed, image, ms, t_ref, tracks)
        stop_asked = self.sinks.write(sink_item)
        if self.on_result is not None:
            self.on_result(sink_item)
        t3 = time.perf_counter()
        ms["sink"] = (t3 - t2) * 1e3
        for k, v in ms.items():
            times.add(k, v)
        times.add("frame_age", (t3 - frame.timestamp) * 1e3)
        if stats.frames_processed:
            times.add("interval", (t3 - self.t_last) * 1e3)
        self.t_last = t3
        stats.frames_processed += 1
        per = self.per_stream.setdefault(frame.stream, {"processed": 0, "age": Series()})
        per["processed"] += 1
        per["age"].add((t3 - frame.timestamp) * 1e3)
        if stop_asked:
            stats.end_reason = "stopped from a sink (window closed or q pressed)"
            self.flow.stop.set()
        if self.max_frames and stats.frames_processed >= self.max_frames:
            stats.end_reason = stats.end_reason or f"max frames ({self.max_frames})"
            self.flow.stop.set()

    def _dropped(self, src: Source, stream: int) -> int:
        """Frames of ``stream`` dropped so far (by its source and by the inference hand-off)."""
        one = src.streams[stream] if isinstance(src, MultiSource) else src
        return one.dropped + (self.to_infer.dropped_by_stream[stream] if self.to_infer else 0)

    def _stream_stats(self, src: Source) -> List[Dict[str, Any]]:
        wall = self.t_last - self.t_start
        out = []
        for i, one in enumerate(src.streams if isinstance(src, MultiSource) else [src]):
            per = self.per_stream.get(i, {"processed": 0, "age": Series()})
            out.append({"stream": i, "source": display_name(one.name), "kind": one.kind,
                        "captured": one.captured, "processed": per["processed"], "dropped": self._dropped(src, i),
                        "fps": round(per["processed"] / wall, 3) if wall > 0 else 0.0,
                        "frame_age_ms": per["age"].stats()})
        return out

    def snapshot(self) -> PipelineStats:
        """The stats so far (counters, wall time and hand-off depths brought up to date)."""
        stats, src = self.stats, self.src
        stats.wall_s = self.t_last - self.t_start
        if src is not None:
            stats.frames_captured, stats.frames_skipped = src.captured, src.skipped
            stats.frames_dropped = src.dropped + (self.to_infer.dropped if self.to_infer else 0)
            stats.queues = {"source": src.pending, "to_infer": len(self.to_infer or ()),
                            "to_render": len(self.to_render or ())}
            stats.streams = self._stream_stats(src)
        if self.tracking is not None:
            stats.tracking = self.tracking.describe()
        return stats

    def _finish(self, src: Source) -> PipelineStats:
        stats = self.stats
        stats.wall_s = self.t_last - self.t_start
        if self.flow.failures:
            raise self.flow.failures[0]
        if self.signals is not None and self.signals.received:
            stats.end_reason = f"stopped by {self.signals.received}"
        elif not stats.end_reason:
            stats.end_reason = src.end_reason or ("stopped" if self.flow.stop.is_set() else "end of stream")
        if src.error is not None:
            stats.error = src.error
            stats.end_reason = src.end_reason or "error"
        return stats

    def _cleanup(self) -> None:
        """Stop everything; the sinks are closed (files finalised) whatever happened before."""
        if self.signals is not None:
            self.signals.cleaning = True  # a further Ctrl-C must not interrupt closing the sinks
        close_error: Optional[BaseException] = None
        try:
            self.flow.stop.set()
            self.flow.abort.set()
            if self.src is not None:
                self.src.stop()
                self.snapshot()
                self.stats.source = self.src.describe()
            for w in self.workers:
                w.join(timeout=10.0)
        finally:
            close_error, self.stats.sinks = self.sinks.close()
            try:
                if self.activated_here:
                    self.predictor.deactivate()
            finally:
                if self.signals is not None:
                    self.signals.__exit__(None, None, None)
        if close_error is not None and not self.flow.failures:
            raise close_error


def run_pipeline(predictor: Any, source: Union[Source, str, os.PathLike], sinks: Sequence[Sink] = (),
                 max_frames: Optional[int] = None, *, hud: bool = True, render: Optional[bool] = None,
                 warmup: int = 1, stop_event: Optional[threading.Event] = None, handle_signals: bool = False,
                 realtime: bool = False, reconnect_timeout: float = 10.0,
                 on_result: Optional[Callable[[SinkItem], None]] = None,
                 on_start: Optional[Callable[[], Any]] = None, on_progress: Optional[ProgressFn] = None,
                 progress_every_s: float = 10.0, tracking: Optional[Tracking] = None) -> PipelineStats:
    """Run the camera loop until the stream ends, ``max_frames`` frames are done, or it is stopped.

    ``predictor``: an ``edgemnv2.predictor.Predictor`` (activated here if it is not yet).
    ``source``: a Source (started here if needed) or a spec for ``open_source``; stopped at the end. A
    ``MultiSource`` runs several streams through the one predictor round-robin (``Frame.stream`` tells
    them apart; per-stream counts are in ``stats.streams``).
    ``tracking``: an ``edgemnv2.apps.tracking.Tracking`` (``--track``): track ids and line counts per stream.
    ``sinks``: opened here and always closed (files finalised). ``render``: draw results + HUD even
    when no sink needs pixels (default: only when one does). ``warmup``: untimed inferences first.
    ``on_result(item)`` is called after the sinks for every frame; ``on_start()`` once the sinks are open;
    ``on_progress(stats)`` every ``progress_every_s`` seconds with the statistics so far (e.g. to
    write the profile periodically). Returns PipelineStats; a lost live stream sets ``stats.error``
    (see ``raise_for_error``) rather than raising, so outputs and the profile can still be written.
    Other errors are raised after cleanup.
    """
    return Pipeline(predictor, source, sinks, max_frames, hud=hud, render=render, warmup=warmup,
                    stop_event=stop_event, handle_signals=handle_signals, realtime=realtime,
                    reconnect_timeout=reconnect_timeout, on_result=on_result, on_start=on_start,
                    on_progress=on_progress, progress_every_s=progress_every_s, tracking=tracking).run()
