"""``edgemnv2 camera``: classify, detect or segment a live camera, stream, video or image folder."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..tasks.base import Task


def camera(
    source: str = typer.Option(..., "--source", "-s", help="Camera index (0) or /dev/videoN, video file, image "
                               "folder, rtsp:// or http:// URL, csi://N (Jetson), picam://N (Pi), a GStreamer "
                               "pipeline, or synthetic:// (built-in moving scene)."),
    task: Optional[Task] = typer.Option(None, "--task", help="classify, detect or segment; must match the bundle "
                                        "(required with --model)."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", "-b", help="Bundle directory from edgemnv2 build."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="A bare model file (.onnx, .tflite, .engine)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Labels file for a bare --model."),
    sink: Optional[List[str]] = typer.Option(None, "--sink", help="Output, repeatable: window, none, video:FILE, "
                                             "json:FILE (json:- = stdout), snapshots:DIR[:EVERY], "
                                             "mjpeg:[HOST:]PORT."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Runtime threads (default: the runtime's)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="JSON lines, one result per frame "
                                            "(detections as COCO [x, y, w, h] pixels)."),
    profile: Optional[Path] = typer.Option(None, "--profile", help="Write per-stage latency JSON (p50/p90/p99, "
                                           "frame age, frames dropped) here."),
    video_out: Optional[Path] = typer.Option(None, "--video-out", help="Write the annotated video here (.avi MJPG, "
                                             ".mp4/.mov mp4v, .mkv MJPG)."),
    video_fps: Optional[float] = typer.Option(None, "--video-fps", help="Frame rate written into --video-out "
                                              "(default: the source's, else 30)."),
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
    width: Optional[int] = typer.Option(None, "--width", help="Capture width requested from a camera."),
    height: Optional[int] = typer.Option(None, "--height", help="Capture height requested from a camera."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Capture rate requested from a camera."),
    top_k: int = typer.Option(5, "--top-k", help="classify: how many classes to report."),
    score_threshold: Optional[float] = typer.Option(None, "--score-threshold", help="detect: minimum score "
                                                   "(default: the bundle's recorded threshold, else 0.3)."),
    iou_threshold: Optional[float] = typer.Option(None, "--iou-threshold", help="detect: NMS IoU threshold "
                                                 "(default: the bundle's, else 0.45)."),
) -> None:
    """Run a model on a camera or stream: capture, inference and rendering overlap, every stage is timed.

    Prints a p50/p90/p99 table per stage at exit. Stop with Ctrl-C (or SIGTERM, q in the window):
    output files are finalised and playable. Exit status 0 when the stream ends, --max-frames is
    reached or it is stopped; 1 on errors, including a live stream lost for longer than
    --reconnect-timeout (outputs and --profile are still written).
    """
    from ..apps.pipeline import run_pipeline
    from ..apps.profile import print_summary, write_profile
    from ..apps.sinks import (
        JsonLinesSink,
        MjpegSink,
        SnapshotSink,
        VideoSink,
        WindowSink,
        display_available,
        sink_from_spec,
    )
    from ..apps.sources import display_name, open_source
    from ..errors import EdgeError
    from ..predictor import Predictor
    from ..ui import say

    if (bundle is None) == (model is None):
        raise EdgeError("pass exactly one of --bundle DIR or --model FILE")
    dopts = {"score_threshold": score_threshold, "iou_threshold": iou_threshold}
    if bundle is not None:
        from ..bundle import load_bundle

        if labels is not None:
            raise EdgeError("--labels is for a bare --model; a bundle records its own")
        b = load_bundle(bundle)
        if task is not None and task is not b.task:
            raise EdgeError(f"bundle {bundle} holds a {b.task.value} model but --task {task.value} was given",
                            f"use --task {b.task.value} or a {task.value} bundle")
        predictor = Predictor.from_bundle(b, threads=threads, top_k=top_k, **dopts)
    else:
        if task is None:
            raise EdgeError("--task is required with --model", "pass --task classify, detect or segment")
        predictor = Predictor.from_model(model, task, labels, threads=threads, top_k=top_k, **dopts)

    # sinks: validated before anything is opened (bad specs and containers fail here)
    specs = list(sink or [])
    sinks = [sink_from_spec(s, snapshot_every=snapshot_every) for s in specs]
    if video_out is not None:
        sinks.append(VideoSink(video_out))
    if json_out is not None:
        sinks.append(JsonLinesSink(json_out))
    if snapshot_dir is not None:
        sinks.append(SnapshotSink(snapshot_dir, snapshot_every))
    if mjpeg is not None:
        sinks.append(MjpegSink(mjpeg, mjpeg_host))
    explicit_window = any(isinstance(s, WindowSink) for s in sinks)
    if no_window:
        if explicit_window:
            raise EdgeError("--no-window contradicts --sink window")
    elif not specs and display_available():
        sinks.append(WindowSink())
    sinks = [s for s in sinks if s.name != "none"]
    if profile is not None:
        from ..fileio import ensure_writable_dir

        ensure_writable_dir(profile.parent if str(profile.parent) else Path("."), "profile directory")

    with predictor:
        src = open_source(source, realtime=realtime, reconnect_timeout=reconnect_timeout, width=width,
                          height=height, fps=fps)
        for s in sinks:
            if isinstance(s, VideoSink):
                s.fps = float(video_fps or src.fps or 30.0)
        size = f"{src.size[1]}x{src.size[0]}" if src.size else "?"
        say(f"{predictor.task.value} with {predictor.runner.path.name} ({predictor.runner.runtime}) on "
            f"{display_name(source)} ({src.kind}, {size}{', live' if src.live else ''}); Ctrl-C stops")
        stats = run_pipeline(predictor, src, sinks, max_frames, hud=not no_hud, handle_signals=True,
                             on_start=lambda: [say(f"MJPEG preview at {s.url}") for s in sinks
                                               if isinstance(s, MjpegSink)])
    print_summary(stats)
    if stats.frames_skipped:
        from ..ui import warn

        warn(f"{stats.frames_skipped} unreadable frame(s) or file(s) were skipped")
    for s in sinks:
        d = s.describe()
        if "path" in d and d["path"] != "-" and Path(d["path"]).exists():
            say(f"wrote {d['path']}")
    if profile is not None:
        write_profile(profile, stats, extra={"command": "camera", "threads": threads,
                                             "bundle": str(bundle) if bundle else None})
        say(f"wrote {profile}")
    if stats.frames_processed == 0 and stats.error is None:
        raise EdgeError(f"no frames were processed from {display_name(source)} ({stats.end_reason})")
    stats.raise_for_error()


def register(app: typer.Typer) -> None:
    app.command("camera")(camera)
