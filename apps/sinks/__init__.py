"""Where camera-app results go: window, video file, snapshots, JSON lines, MJPEG preview, none.

Every sink is opened before the first frame (so a bad path fails at once with one clear line),
gets one ``SinkItem`` per processed frame, and is closed at the end of the run, also after Ctrl-C,
SIGTERM or an error. JSON lines are appended to the named file and flushed per frame (results are
on disk while the run goes on); a video is written under a temporary name beside the target and
renamed when complete (per segment with ``segment_s``), so it is playable or absent, never
half-written. The MJPEG preview binds 127.0.0.1 unless another host is given.
Modules: ``base`` (protocol), ``files``, ``encoders`` (H.264: PyAV or NVENC; OpenCV writers), ``preview``
(window, MJPEG), ``records`` (JSON record), ``streams`` (per-stream files, mosaic for several sources).
Device side: numpy + OpenCV + the standard library.
"""

from ...errors import EdgeError
from .base import NullSink, Sink, SinkItem, close_all
from .files import VIDEO_CODECS, JsonLinesSink, SnapshotSink, VideoSink
from .preview import MjpegSink, WindowSink, display_available
from .records import FRAME_RECORD_SCHEMA, frame_record
from .streams import Mosaic, PerStream, for_streams, stream_path

__all__ = ["SinkItem", "Sink", "NullSink", "close_all", "VideoSink", "JsonLinesSink", "SnapshotSink", "WindowSink",
           "MjpegSink", "frame_record", "FRAME_RECORD_SCHEMA", "display_available", "sink_from_spec", "VIDEO_CODECS",
           "PerStream", "Mosaic", "for_streams", "stream_path"]


def sink_from_spec(spec: str, video_fps: float = 30.0, snapshot_every: int = 30, video_segment_s: float = 0.0) -> Sink:
    """``window``, ``none``, ``video:FILE``, ``json:FILE`` (``json:-`` = stdout), ``snapshots:DIR[:EVERY]``,
    ``mjpeg:PORT`` or ``mjpeg:HOST:PORT``."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "none":
        return NullSink()
    if kind == "window":
        return WindowSink(arg or "edgemnv2")
    if kind == "video" and arg:
        return VideoSink(arg, video_fps, segment_s=video_segment_s)
    if kind == "json" and arg:
        return JsonLinesSink(arg)
    if kind == "snapshots" and arg:
        folder, _, every = arg.rpartition(":") if arg.rsplit(":", 1)[-1].isdigit() else (arg, "", "")
        return SnapshotSink(folder, int(every) if every else snapshot_every)
    if kind == "mjpeg" and arg:
        host, _, port = arg.rpartition(":")
        if not port.isdigit() or int(port) > 65535:
            raise EdgeError(f"--sink {spec}: port '{port}' is not a port number (0-65535)", "e.g. --sink mjpeg:8080")
        return MjpegSink(int(port), host or "127.0.0.1")
    raise EdgeError(f"unknown --sink '{spec}'",
                    "use window, none, video:FILE, json:FILE, snapshots:DIR[:EVERY] or mjpeg:[HOST:]PORT")
