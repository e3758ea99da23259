"""Issue 16: several sources in one camera run, --track / --count-line, H.264 .mp4, Jetson pipeline strings."""

from __future__ import annotations

import collections
import json
import statistics
import threading
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edgemnv2.apps.pipeline import run_pipeline
from edgemnv2.apps.sinks import FRAME_RECORD_SCHEMA, Mosaic, Sink, SinkItem, VideoSink
from edgemnv2.apps.sinks.encoders import jetson_h264_pipeline
from edgemnv2.apps.sources import Frame, MultiSource, open_source
from edgemnv2.apps.sources.capture import rtsp_hw_pipeline
from edgemnv2.apps.stages import Handoff
from edgemnv2.predictor import Predictor

av = pytest.importorskip("av")


def _syn(frames: int, seed: int = 0, w: int = 160, h: int = 120, fps: float = 0) -> str:
    return f"synthetic://?fps={fps:g}&frames={frames}&width={w}&height={h}&seed={seed}"


def _codec(path: Path):
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return st.codec_context.name, st.codec_context.pix_fmt, n


def _records(path: Path):
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    for r in recs:
        jsonschema.validate(r, FRAME_RECORD_SCHEMA)
    return recs


@pytest.fixture(scope="module")
def default_detector(tmp_path_factory, cli):
    """The shipped default detector (trained on the synthetic shapes) as a cpu bundle."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("streams") / "det"
    r = cli(["build", "--target", "cpu", "--task", "detect", "--out", out])
    assert r.returncode == 0, r.stderr
    return out


def test_two_sources_each_processed_fully_with_own_video_and_json(cpu_bundles, cli, tmp_path):
    """Acceptance: two synthetic sources in one run, every frame of each, per-stream H.264 videos and JSON."""
    r = cli(["camera", "--bundle", cpu_bundles["detect"], "--source", _syn(14), "--source", _syn(9, 1, 200, 150),
             "--no-window", "--video-out", tmp_path / "out.mp4", "--json-out", tmp_path / "o.jsonl",
             "--profile", tmp_path / "p.json", "--snapshot-dir", tmp_path / "snaps", "--snapshot-every", "5"])
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "out.mp4").exists()
    assert sorted(p.name for p in (tmp_path / "snaps" / "stream-0").iterdir()) == [
        "frame_000000.jpg", "frame_000005.jpg", "frame_000010.jpg"]
    assert sorted(p.name for p in (tmp_path / "snaps" / "stream-1").iterdir()) == [
        "frame_000000.jpg", "frame_000005.jpg"]
    assert _codec(tmp_path / "out-0.mp4") == ("h264", "yuv420p", 14)
    assert _codec(tmp_path / "out-1.mp4") == ("h264", "yuv420p", 9)
    recs = _records(tmp_path / "o.jsonl")
    by = collections.defaultdict(list)
    for x in recs:
        by[x["stream"]].append(x["frame"])
    assert by == {0: list(range(14)), 1: list(range(9))}
    assert {tuple(x["image_size"]) for x in recs if x["stream"] == 1} == {(150, 200)}
    prof = json.loads((tmp_path / "p.json").read_text())
    assert [(s["stream"], s["processed"], s["dropped"]) for s in prof["streams"]] == [(0, 14, 0), (1, 9, 0)]
    assert prof["frames"]["processed"] == 23 and "stream 1 (" in r.stderr


def test_one_source_profile_has_one_stream_and_json_stream_0(cpu_bundles, tmp_path):
    with Predictor.from_bundle(cpu_bundles["classify"]) as p:
        stats = run_pipeline(p, _syn(6), [])
    assert [(s["stream"], s["processed"]) for s in stats.to_dict()["streams"]] == [(0, 6)]


def test_live_streams_share_the_runner_fairly(cpu_bundles):
    """Two live sources: both get processed (round-robin), drops are counted per stream."""
    srcs = [open_source(_syn(0, 0, fps=60)), open_source(_syn(0, 1, fps=60))]
    with Predictor.from_bundle(cpu_bundles["detect"]) as p:
        stats = run_pipeline(p, MultiSource(srcs), [], max_frames=40)
    per = {s["stream"]: s for s in stats.streams}
    assert per[0]["processed"] + per[1]["processed"] == 40
    assert min(per[0]["processed"], per[1]["processed"]) >= 10, per
    assert stats.frames_dropped == per[0]["dropped"] + per[1]["dropped"]


def test_handoff_keeps_newest_frame_per_stream():
    h = Handoff(latest=True, per_stream=True)
    stop = threading.Event()

    def item(stream, index):
        return (Frame(np.zeros((2, 2, 3), np.uint8), index, 0.0, stream=stream), None, {})

    for it in (item(0, 0), item(1, 0), item(0, 1)):
        h.put(it, stop)
    got = [h.get(0.01), h.get(0.01)]
    assert [(g[0].stream, g[0].index) for g in got] == [(1, 0), (0, 1)]
    assert h.dropped == 1 and h.dropped_by_stream == {0: 1}


class _Keep(Sink):
    name = "keep"
    needs_image = True

    def __init__(self):
        self.images = []

    def write(self, item):
        self.images.append(item.image)


def test_mosaic_places_each_stream_in_its_tile():
    inner = _Keep()
    m = Mosaic(inner, 3)
    for stream, value in ((0, 50), (2, 200)):
        img = np.full((10, 20, 3), value, np.uint8)
        m.write(SinkItem(Frame(img, 0, 0.0, stream=stream), None, 0, img))
    canvas = inner.images[-1]
    assert canvas.shape == (20, 40, 3)  # 2 x 2 grid of 20x10 tiles
    assert canvas[:10, :20].min() == 50 and canvas[10:, :20].min() == 200 and canvas[:10, 20:].max() == 0


def test_mp4_is_h264_even_for_odd_sizes(tmp_path):
    s = VideoSink(tmp_path / "a.mp4", 25)
    s.open()
    for i in range(5):
        img = np.full((121, 161, 3), 40 * i, np.uint8)
        s.write(SinkItem(Frame(img, i, 0.0), None, i, img))
    s.close()
    assert _codec(tmp_path / "a.mp4") == ("h264", "yuv420p", 5)
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (160, 120)


def test_tracking_ids_persist_on_the_moving_scene(default_detector, cli, tmp_path):
    """Acceptance: median track length >= 10 frames; ids and line counts in JSON, summary and profile."""
    pytest.importorskip("trackers")
    r = cli(["camera", "--bundle", default_detector, "--source", _syn(60, 0, 320, 240), "--track",
             "--count-line", "160,0,160,240", "--no-window", "--json-out", tmp_path / "o.jsonl",
             "--profile", tmp_path / "p.json", "--video-out", tmp_path / "t.avi"])
    assert r.returncode == 0, r.stderr
    recs = _records(tmp_path / "o.jsonl")
    ids = [d["track_id"] for x in recs for d in x["detections"]]
    assert ids and all(isinstance(k, int) for k in ids)
    lengths = collections.Counter(k for k in ids if k >= 0)
    assert len(lengths) >= 2 and statistics.median(lengths.values()) >= 10, lengths
    tracking = json.loads((tmp_path / "p.json").read_text())["tracking"]
    assert tracking["streams"][0]["tracks"] == len(lengths) and tracking["line"] == [160, 0, 160, 240]
    assert tracking["streams"][0]["in"] + tracking["streams"][0]["out"] >= 1  # shapes cross x=160
    assert "line crossings in" in r.stderr


def test_track_and_stream_option_errors(cpu_bundles, cli):
    b = cpu_bundles["classify"]
    for args, text in ((["--rtsp-out", "8554"], "--rtsp-out is not available"),
                       (["--count-line", "1,2,3,4"], "--count-line needs --track"),
                       (["--track", "--count-line", "1,2,1,2"], "is not a line"),
                       (["--track"], "--track follows detections")):
        if "--track" in args:
            pytest.importorskip("trackers")
        r = cli(["camera", "--bundle", b, "--source", _syn(3), "--no-window", *args])
        assert r.returncode != 0 and "Traceback" not in r.stderr
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and text in errors[0], r.stderr


def test_second_source_failing_stops_the_first(cpu_bundles, cli, tmp_path):
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", _syn(3), "--source", tmp_path / "nope.mp4",
             "--no-window"])
    assert r.returncode != 0 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_jetson_pipeline_strings():
    """Not run on a Jetson here: the strings are what nvv4l2decoder / nvv4l2h264enc expect."""
    dec = rtsp_hw_pipeline("rtsp://cam/stream")
    assert dec.startswith("rtspsrc location=rtsp://cam/stream latency=0 ")
    assert "rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv" in dec
    assert dec.endswith("appsink drop=1 max-buffers=1 sync=false")
    enc = jetson_h264_pipeline(Path("/tmp/o.mp4"))
    assert enc.startswith("appsrc ! video/x-raw,format=BGR ! ") and "nvv4l2h264enc" in enc
    assert "h264parse ! qtmux" in enc and enc.endswith("filesink location=/tmp/o.mp4")
