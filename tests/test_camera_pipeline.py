"""The camera pipeline in-process on real ONNX Runtime bundles: outputs, JSON schema, profile, sinks, stop."""

from __future__ import annotations

import json
import threading
import urllib.request

import cv2
import jsonschema
import numpy as np
import pytest

from edgemnv2.apps.pipeline import STAGES, run_pipeline
from edgemnv2.apps.sinks import FRAME_RECORD_SCHEMA, JsonLinesSink, MjpegSink, SnapshotSink, VideoSink, sink_from_spec
from edgemnv2.apps.summary import summary_lines, write_profile
from edgemnv2.errors import EdgeError
from edgemnv2.predictor import DetectOptions, Predictor
from edgemnv2.profiling import latency_stats
from tests.support.camera_streams import numbered_frames, read_video, write_video

N = 10


def _records(path):
    lines = path.read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    for r in recs:
        jsonschema.validate(r, FRAME_RECORD_SCHEMA)
    return recs


@pytest.mark.parametrize("task", ["classify", "detect", "segment"])
def test_video_file_all_tasks_outputs_match_predictor(task, cpu_bundles, tmp_path):
    src_video = write_video(tmp_path / "in.avi", numbered_frames(N, 160, 120))
    decoded = read_video(src_video)  # what the pipeline will see (MJPG is lossy)
    video, jsonl, snaps = tmp_path / "out.avi", tmp_path / "r.jsonl", tmp_path / "snaps"
    opts = DetectOptions(score_threshold=0.2)  # random weights: class scores near 1/classes
    with Predictor.from_bundle(cpu_bundles[task], threads=1, detect_options=opts) as p:
        stats = run_pipeline(p, str(src_video), [VideoSink(video, 10), JsonLinesSink(jsonl), SnapshotSink(snaps, 4)])
        expected = [p.predict(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)).to_json() for f in decoded]
    assert stats.frames_processed == stats.frames_captured == N and stats.frames_dropped == 0
    assert stats.end_reason == "end of stream" and stats.error is None
    out = read_video(video)
    assert len(out) == N and out[0].shape == (120, 160, 3)
    assert sorted(x.name for x in snaps.iterdir()) == ["frame_000000.jpg", "frame_000004.jpg", "frame_000008.jpg"]
    assert not [x for x in tmp_path.iterdir() if "partial" in x.name]  # temp files renamed, none left
    recs = _records(jsonl)
    assert [r["frame"] for r in recs] == list(range(N)) and all(r["task"] == task for r in recs)
    assert all(r["image_size"] == [120, 160] and set(r["latency_ms"]) >= {"inference", "preprocess"} for r in recs)
    for r, e in zip(recs, expected):  # same result as Predictor on the same RGB frame
        if task == "classify":
            assert [c["index"] for c in r["top"]] == [c["index"] for c in e["top"]]
            np.testing.assert_allclose([c["score"] for c in r["top"]], [c["score"] for c in e["top"]], atol=1e-5)
        elif task == "detect":
            assert r["detections"] and len(r["detections"]) == len(e["detections"])
            for d, ed in zip(r["detections"], e["detections"]):  # COCO [x, y, w, h] from xyxy
                x1, y1, x2, y2 = ed["box"]
                np.testing.assert_allclose(d["bbox"], [x1, y1, x2 - x1, y2 - y1], atol=0.02)
                assert 0 <= d["bbox"][0] <= 160 and d["bbox"][2] >= 0
        else:
            assert r["classes"] == e["classes"] and sum(r["classes"].values()) == 120 * 160


def test_overlay_is_drawn_on_bgr_frames(cpu_bundles, tmp_path):
    """The written video is the input with the segmentation overlay blended in (not RGB-swapped)."""
    src_video = write_video(tmp_path / "in.avi", numbered_frames(3, 160, 120))
    decoded = read_video(src_video)
    with Predictor.from_bundle(cpu_bundles["segment"], threads=1) as p:
        run_pipeline(p, str(src_video), [VideoSink(tmp_path / "out.avi", 10)], hud=False)
        want = [p.predict(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)).draw(f.copy()) for f in decoded]
    got = read_video(tmp_path / "out.avi")
    for g, w in zip(got, want):
        assert np.abs(g.astype(int) - w.astype(int)).mean() < 6


def test_profile_json_has_stages_and_shared_schema(cpu_bundles, tmp_path):
    with Predictor.from_bundle(cpu_bundles["classify"], threads=1) as p:
        stats = run_pipeline(p, "synthetic://?fps=0&frames=25&width=160&height=120", [], max_frames=20,
                             render=True)
    d = write_profile(tmp_path / "p.json", stats)
    assert json.loads((tmp_path / "p.json").read_text()) == json.loads(json.dumps(d))
    assert d["kind"] == "edgemnv2-camera-profile" and d["frames"]["processed"] == 20 and d["end_reason"].startswith(
        "max frames")
    keys = set(latency_stats([]))
    assert set(d["stages"]) == set(STAGES)
    for block in d["stages"].values():
        assert set(block) == keys and block["count"] == 20 and block["p50"] <= block["p90"] <= block["p99"]
    assert d["frame_age_ms"]["count"] == 20 and d["interval_ms"]["count"] == 19
    assert d["fps"] > 0 and d["runtime"]["runtime"] == "onnxruntime" and len(d["samples_ms"]["inference"]) == 20
    assert any(line.startswith("inference") for line in summary_lines(stats))


def test_unwritable_and_bad_sinks(cpu_bundles, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with Predictor.from_bundle(cpu_bundles["classify"], threads=1) as p:
        for sink in (VideoSink(blocker / "out.avi"), JsonLinesSink(blocker / "r.jsonl"), SnapshotSink(blocker / "s")):
            with pytest.raises(EdgeError, match="exists and is not a directory|cannot create"):
                run_pipeline(p, "synthetic://?fps=0&frames=3", [sink])
    with pytest.raises(EdgeError, match="unknown container"):
        VideoSink(tmp_path / "x.xyz")
    with pytest.raises(EdgeError, match="unknown --sink"):
        sink_from_spec("printer:1")


def test_stop_event_finalises_outputs(cpu_bundles, tmp_path):
    stop = threading.Event()
    seen = []

    def on_result(item):
        seen.append(item.seq)
        if len(seen) == 8:
            stop.set()

    with Predictor.from_bundle(cpu_bundles["detect"], threads=1) as p:
        stats = run_pipeline(p, "synthetic://?fps=60&width=160&height=120", [VideoSink(tmp_path / "o.avi", 30)],
                             stop_event=stop, on_result=on_result)
    assert stats.end_reason == "stopped" and 8 <= stats.frames_processed <= 9
    assert len(read_video(tmp_path / "o.avi")) == stats.frames_processed


def test_mjpeg_preview_on_loopback(cpu_bundles):
    sink = MjpegSink(port=0)
    assert sink.host == "127.0.0.1"
    got = {}

    def client():
        with urllib.request.urlopen(f"http://127.0.0.1:{sink.port}/snapshot.jpg", timeout=10) as r:
            got["snapshot"] = r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{sink.port}/stream", timeout=10) as r:
            got["ctype"] = r.headers["Content-Type"]
            got["stream"] = r.read(30000)

    with Predictor.from_bundle(cpu_bundles["classify"], threads=1) as p:
        threads = []

        def start():
            t = threading.Thread(target=client)
            t.start()
            threads.append(t)

        run_pipeline(p, "synthetic://?fps=30&width=160&height=120", [sink], max_frames=40, on_start=start)
        threads[0].join(10)
    img = cv2.imdecode(np.frombuffer(got["snapshot"], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (120, 160, 3)
    assert got["ctype"].startswith("multipart/x-mixed-replace") and got["stream"].count(b"--frame") >= 2
