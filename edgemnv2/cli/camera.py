"""``edgemnv2 camera``: classify, detect or segment a live camera, stream, video or image folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Union

import typer

from ..errors import EdgeError
from ..tasks.base import Task
from .options import (
    BundleOpt,
    IouThresholdOpt,
    LabelsOpt,
    ModelOpt,
    ScoreThresholdOpt,
    ThreadsOpt,
    TopKOpt,
    open_predictor,
)

if TYPE_CHECKING:
    from ..apps.sinks import Sink
    from ..apps.sources import Source

_SINK_HELP = ("Output, repeatable: window, none, video:FILE, json:FILE (json:- = stdout), snapshots:DIR[:EVERY], "
              "mjpeg:[HOST:]PORT.")


def camera(
    source: List[str] = typer.Option(..., "--source", "-s", help="Camera index (0) or /dev/videoN, video file, "
                                     "image folder, rtsp:// or http:// URL, csi://N (Jetson), picam://N (Pi), a "
                                     "GStreamer pipeline, or synthetic:// (built-in moving scene). Repeat for several "
                                     "streams through one model (files become NAME-0.mp4, ...; a mosaic is shown)."),
    task: Optional[Task] = typer.Option(None, "--task", help="classify, detect or segment; must match the bundle "
                                        "(required with --model)."),
    bundle: BundleOpt = None,
    model: ModelOpt = None,
    labels: LabelsOpt = None,
    sink: Optional[List[str]] = typer.Option(None, "--sink", help=_SINK_HELP),
    threads: ThreadsOpt = None,
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Append JSON lines here, one result per frame, "
                                            "flushed as they come (detections as COCO [x, y, w, h] pixels)."),
    profile: Optional[Path] = typer.Option(None, "--profile", help="Write per-stage latency JSON (p50/p90/p99, "
                                           "frame age, frames dropped) here, updated during the run."),
    profile_every: float = typer.Option(10.0, "--profile-every", min=0.5, help="Seconds between --profile updates."),
    video_out: Optional[Path] = typer.Option(None, "--video-out", help="Write the annotated video here (.mp4/.mov "
                                             "H.264, .avi/.mkv MJPG)."),
    video_fps: Optional[float] = typer.Option(None, "--video-fps", min=0.1, help="Frame rate of --video-out "
                                              "(default: the source's nominal rate, else 30; live frames are "
                                              "placed by capture time, so the video plays at real speed)."),
    video_segment: float = typer.Option(0.0, "--video-segment", min=0, help="Roll --video-out into files of this "
                                        "many seconds (NAME_0000.avi, ...); a power cut loses at most one."),
    snapshot_dir: Optional[Path] = typer.Option(None, "--snapshot-dir", help="Save annotated JPEG snapshots here."),
    snapshot_every: int = typer.Option(30, "--snapshot-every", min=1, help="Snapshot every N processed frames."),
    mjpeg: Optional[int] = typer.Option(None, "--mjpeg", min=0, max=65535, help="Serve an MJPEG preview on this "
                                        "port (0 = any free port)."),
    mjpeg_host: str = typer.Option("127.0.0.1", "--mjpeg-host", help="Address the MJPEG preview binds "
                                   "(0.0.0.0 exposes it to the network)."),
    no_window: bool = typer.Option(False, "--no-window", help="Never open a window (default: open one when a "
                                   "display exists and no --sink is given)."),
    no_hud: bool = typer.Option(False, "--no-hud", help="Do not draw the FPS / per-stage ms overlay."),
    realtime: bool = typer.Option(False, "--realtime", help="Play files at their frame rate and drop frames the "
                                  "model cannot keep up with, as with a camera (default: every frame, in order)."),
    reconnect_timeout: float = typer.Option(10.0, "--reconnect-timeout", min=0, help="Seconds to keep reconnecting "
                                            "a lost live stream (0 = give up at once)."),
    width: Optional[int] = typer.Option(None, "--width", min=1, help="Capture width requested from a camera."),
    height: Optional[int] = typer.Option(None, "--height", min=1, help="Capture height requested from a camera."),
    fps: Optional[float] = typer.Option(None, "--fps", min=0.1, help="Capture rate requested from a camera."),
    track: bool = typer.Option(False, "--track", help="Detection: give each detection a track_id stable across "
                               "frames (ByteTrack), drawn and in the JSON lines."),
    count_line: Optional[str] = typer.Option(None, "--count-line", help="With --track: count tracks crossing the "
                                             "line x1,y1,x2,y2 (pixels) in and out; in the summary and --profile."),
    rtsp_out: Optional[int] = typer.Option(None, "--rtsp-out", min=1, max=65535, help="Not available: no maintained "
                                           "RTSP server package on PyPI (use --mjpeg PORT; see docs/camera.md)."),
    top_k: TopKOpt = 5,
    score_threshold: ScoreThresholdOpt = None,
    iou_threshold: IouThresholdOpt = None,
) -> None:
    """Run a model on a camera or stream: capture, inference and rendering overlap, every stage is timed.

    Prints a p50/p90/p99 table per stage at exit. Stop with Ctrl-C (or SIGTERM, q in the window):
    output files are finalised and playable. Exit status 0 when the stream ends, --max-frames is
    reached or it is stopped; 1 on errors, including a live stream lost for longer than
    --reconnect-timeout (outputs and --profile are still written).
    """
    from ..apps.sinks import JsonLinesSink, MjpegSink, SnapshotSink, VideoSink, sink_from_spec

    line = _check_stream_options(rtsp_out, track, count_line, task, bundle)
    predictor = _predictor(bundle, model, task, labels, threads=threads, top_k=top_k,
                           score_threshold=score_threshold, iou_threshold=iou_threshold)
    # sinks: validated before anything is opened (bad specs, containers and paths fail here)
    specs = list(sink or [])
    sinks = [sink_from_spec(s, snapshot_every=snapshot_every, video_segment_s=video_segment) for s in specs]
    if video_out is not None:
        sinks.append(VideoSink(video_out, segment_s=video_segment))
    if json_out is not None:
        sinks.append(JsonLinesSink(json_out))
    if snapshot_dir is not None:
        sinks.append(SnapshotSink(snapshot_dir, snapshot_every))
    if mjpeg is not None:
        sinks.append(MjpegSink(mjpeg, mjpeg_host))
    outputs = _with_window(sinks, explicit=bool(specs), no_window=no_window, profile=profile)
    if profile is not None:
        from ..fileio import ensure_writable_dir

        ensure_writable_dir(profile.parent if str(profile.parent) else Path("."), "profile directory")
    _run(predictor, source, outputs, max_frames=max_frames, hud=not no_hud, realtime=realtime,
         reconnect_timeout=reconnect_timeout, size=(width, height, fps), video_fps=video_fps,
         profile=profile, profile_every=profile_every, track=(track, line),
         profile_extra={"command": "camera", "threads": threads, "bundle": str(bundle) if bundle else None})


def _check_stream_options(rtsp_out: Optional[int], track: bool, count_line: Optional[str], task: Optional[Task],
                          bundle: Optional[Path]) -> Optional[tuple]:
    """Refuse what cannot run before anything is opened; the parsed --count-line."""
    if rtsp_out is not None:
        raise EdgeError("--rtsp-out is not available: no maintained RTSP server package installs from PyPI",
                        "use --mjpeg PORT for a live view, or DeepStream / mediamtx on the device (docs/camera.md)")
    if count_line is not None and not track:
        raise EdgeError("--count-line needs --track", "add --track")
    if not track:
        return None
    from ..apps.tracking import parse_line, tracker_backend

    line = parse_line(count_line) if count_line is not None else None
    tracker_backend()  # installed?
    if task is not None and task is not Task.detect:
        raise EdgeError(f"--track follows detections, but --task is {task.value}", "use a detection model")
    return line


def _predictor(bundle: Optional[Path], model: Optional[Path], task: Optional[Task], labels: Optional[Path],
               **kwargs: Any) -> Any:
    """``open_predictor``, except that ``--task`` may accompany a bundle when it matches the bundle's task."""
    if bundle is not None and model is None and task is not None:
        from ..bundle import load_bundle

        b = load_bundle(bundle)
        if task is not b.task:
            raise EdgeError(f"bundle {bundle} holds a {b.task.value} model but --task {task.value} was given",
                            f"use --task {b.task.value} or a {task.value} bundle")
        task = None
    return open_predictor(bundle, model, task, labels, **kwargs)


def _with_window(sinks: List[Sink], explicit: bool, no_window: bool,
                 profile: Optional[Path]) -> Union[List[Sink], EdgeError]:
    """The sinks with the default window added, or the error for a run that would neither show nor write."""
    from ..apps.sinks import WindowSink, display_available

    if no_window and any(isinstance(s, WindowSink) for s in sinks):
        raise EdgeError("--no-window contradicts --sink window")
    no_display = not display_available()
    if not no_window and not explicit and not no_display:
        sinks.append(WindowSink())
    if not sinks and profile is None and not no_window:
        return EdgeError("nothing would be shown or written: no display for a window (DISPLAY unset or OpenCV "
                         "without GUI) and no output was asked for",
                         "add --video-out FILE, --json-out FILE, --mjpeg PORT, --profile FILE or --sink json:-; "
                         "--no-window or --sink none runs and only prints the timing summary")
    return [s for s in sinks if s.name != "none"]


def _open_sources(specs: List[str], realtime: bool, reconnect_timeout: float, size: tuple) -> Source:
    """One source, or a MultiSource over several (those opened are stopped if a later one fails)."""
    from ..apps.sources import MultiSource, open_source

    width, height, fps = size
    srcs: List[Source] = []
    try:
        for spec in specs:
            srcs.append(open_source(spec, realtime=realtime, reconnect_timeout=reconnect_timeout, width=width,
                                    height=height, fps=fps))
    except BaseException:
        for s in srcs:
            s.stop()
        raise
    return srcs[0] if len(srcs) == 1 else MultiSource(srcs).start()


def _run(predictor: Any, sources: List[str], sinks: Union[List[Sink], EdgeError], *, max_frames: Optional[int],
         hud: bool, realtime: bool, reconnect_timeout: float, size: tuple, video_fps: Optional[float],
         profile: Optional[Path], profile_every: float, track: tuple, profile_extra: dict) -> None:
    """Open the sources, run the pipeline, print the summary, write the profile; raise the run's error."""
    from ..apps.memory import map_large_buffers
    from ..apps.pipeline import run_pipeline
    from ..apps.sinks import for_streams
    from ..apps.sources import display_name
    from ..apps.summary import ProfileWriter, print_summary
    from ..ui import say

    map_large_buffers()  # frames straight to mmap: resident memory stays flat over days
    writer = ProfileWriter(profile, profile_extra) if profile is not None else None
    with predictor:  # activation checks the model against the task first
        if isinstance(sinks, EdgeError):
            raise sinks
        if track[0] and predictor.task is not Task.detect:
            raise EdgeError(f"--track follows detections, but the model is a {predictor.task.value} model",
                            "use a detection bundle or model")
        src = _open_sources(sources, realtime, reconnect_timeout, size)
        streams = getattr(src, "streams", [src])
        sinks = for_streams(sinks, len(streams))
        _set_video_timing(sinks, streams, video_fps)
        for i, one in enumerate(streams):
            shape = f"{one.size[1]}x{one.size[0]}" if one.size else "?"
            which = f"stream {i}: " if len(streams) > 1 else ""
            say(f"{which}{predictor.task.value} with {predictor.runner.path.name} ({predictor.runner.runtime}) on "
                f"{display_name(one.name)} ({one.kind}, {shape}{', live' if one.live else ''}); Ctrl-C stops")
        tracking = None
        if track[0]:
            from ..apps.tracking import Tracking

            tracking = Tracking(len(streams), src.fps or 30.0, track[1])
        if not sinks and profile is None:
            say("no outputs asked for (--no-window / --sink none): only the timing summary is printed at exit")
        stats = run_pipeline(predictor, src, sinks, max_frames, hud=hud, handle_signals=True,
                             on_start=lambda: [say(f"MJPEG preview at {s.url}") for s in sinks
                                               if s.name == "mjpeg"],
                             on_progress=writer.progress if writer else None, progress_every_s=profile_every,
                             tracking=tracking)
    print_summary(stats)
    if stats.frames_skipped:
        from ..ui import warn

        warn(f"{stats.frames_skipped} unreadable frame(s) or file(s) were skipped")
    for d in [x for sd in stats.sinks for x in sd.get("streams", [sd])]:
        if d.get("segments"):
            say(f"wrote {d['segments']} video segment(s): {d['first']} ... {d['last']}")
        elif "segment_s" not in d and d.get("path", "-") != "-" and Path(d["path"]).exists():
            say(f"wrote {d['path']}")
    if writer is not None:
        writer.final(stats)
        say(f"wrote {profile}")
    if stats.frames_processed == 0 and stats.error is None:
        raise EdgeError(f"no frames were processed from {', '.join(map(display_name, sources))} "
                        f"({stats.end_reason})")
    stats.raise_for_error()


def _set_video_timing(sinks: List[Sink], streams: List[Source], video_fps: Optional[float]) -> None:
    """Video rate: --video-fps, else the source's nominal rate, else 30; live frames are placed by capture time."""
    from ..apps.sinks import PerStream, VideoSink

    for s in sinks:
        for i, v in enumerate(s.sinks if isinstance(s, PerStream) else [s]):
            if isinstance(v, VideoSink):
                src = streams[i]
                v.fps = float(video_fps or src.fps or 30.0)
                v.timed = src.live


def register(app: typer.Typer) -> None:
    app.command("camera")(camera)
