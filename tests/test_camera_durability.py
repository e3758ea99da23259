"""Long and interrupted camera runs: results on disk while running, bounded statistics, rolled video
segments, the profile written periodically, and the weak spots of issue 11 (each failed before)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edgemnv2.apps.sinks import FRAME_RECORD_SCHEMA
from edgemnv2.apps.stats import BoundedStageTimes, Series
from edgemnv2.profiling import latency_stats
from tests.support.camera_streams import MjpegServer, read_video

LIVE = "synthetic://?fps=30&width=160&height=120"


def _camera(*args, env=None) -> subprocess.Popen:
    e = dict(os.environ)
    e.pop("EDGEMNV2_DEBUG", None)
    e.pop("DISPLAY", None)
    e.pop("WAYLAND_DISPLAY", None)
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "edgemnv2", "camera", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)


def _wait_for(cond, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _lines(path: Path) -> list:
    return path.read_text().splitlines() if path.exists() else []


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# -- results survive a crash ----------------------------------------------------------------------------
def test_json_lines_on_disk_while_running_and_after_sigkill(cpu_bundles, tmp_path):
    out = tmp_path / "r.jsonl"
    proc = _camera("--bundle", cpu_bundles["classify"], "--source", LIVE, "--json-out", out)
    try:
        _wait_for(lambda: len(_lines(out)) >= 10)  # readable while it runs (tail -f)
        proc.kill()  # SIGKILL: no cleanup at all
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = _lines(out)
    assert len(lines) >= 10 and not list(tmp_path.glob(".*partial*"))
    for line in lines[:-1]:  # the last one may be cut by the kill
        jsonschema.validate(json.loads(line), FRAME_RECORD_SCHEMA)


def test_json_out_appends_and_never_truncates(cpu_bundles, cli, tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"mine": 1}\n{"cut by a crash"')  # the user's line, then a line a SIGKILL cut
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", "synthetic://?fps=0&frames=5&width=96&height=96",
             "--json-out", out])
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[:2] == ['{"mine": 1}', '{"cut by a crash"'] and len(lines) == 7
    for line in lines[2:]:
        jsonschema.validate(json.loads(line), FRAME_RECORD_SCHEMA)


def test_profile_is_written_during_the_run(cpu_bundles, tmp_path):
    prof = tmp_path / "p.json"
    proc = _camera("--bundle", cpu_bundles["classify"], "--source", LIVE, "--profile", prof, "--profile-every",
                   "0.5", "--no-window")
    try:
        _wait_for(lambda: prof.exists())
        d = json.loads(prof.read_text())
        assert d["final"] is False and d["kind"] == "edgemnv2-camera-profile"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    d = json.loads(prof.read_text())
    assert d["final"] is True and d["frames"]["processed"] > 0


def test_video_segments_roll_and_a_kill_loses_at_most_one(cpu_bundles, tmp_path):
    out = tmp_path / "v.avi"
    proc = _camera("--bundle", cpu_bundles["classify"], "--source", LIVE, "--video-out", out, "--video-segment", "1",
                   "--no-hud")
    try:
        _wait_for(lambda: len(list(tmp_path.glob("v_*.avi"))) >= 2)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    segs = sorted(tmp_path.glob("v_*.avi"))
    assert [p.name for p in segs[:2]] == ["v_0000.avi", "v_0001.avi"] and not out.exists()
    for p in segs:  # every finished segment is complete: one second at 30 FPS
        assert len(read_video(p)) == 30
    assert len(list(tmp_path.glob(".v_*partial*"))) <= 1  # only the segment being written is lost


# -- bounded statistics ---------------------------------------------------------------------------------
def test_series_exact_until_full_then_bounded_with_exact_moments():
    rng = np.random.default_rng(0)
    small = rng.gamma(2.0, 3.0, 500)
    s = Series(size=1000)
    for v in small:
        s.add(v)
    assert s.stats() == pytest.approx(latency_stats(small.tolist()))
    big = rng.gamma(2.0, 3.0, 20000)
    s = Series(size=1000)
    for v in [*big, float("nan")]:
        s.add(v)
    st, want = s.stats(), latency_stats(big.tolist())
    assert st["count"] == 20000 and len(s.samples()) == 1000
    assert st["min"] == want["min"] and st["max"] == want["max"]
    assert st["mean"] == pytest.approx(want["mean"], rel=1e-9) and st["std"] == pytest.approx(want["std"], rel=1e-9)
    assert st["p50"] == pytest.approx(want["p50"], rel=0.1) and st["p99"] == pytest.approx(want["p99"], rel=0.2)


def test_pipeline_statistics_and_profile_stay_bounded(cpu_bundles, tmp_path):
    from edgemnv2.apps import pipeline
    from edgemnv2.apps.summary import write_profile
    from edgemnv2.predictor import Predictor

    with Predictor.from_bundle(cpu_bundles["classify"], threads=1) as p:
        orig = pipeline.PipelineStats.__init__

        def small(self, *a, **kw):
            orig(self, *a, **kw)
            self.times = BoundedStageTimes(size=16)

        pipeline.PipelineStats.__init__ = small
        try:
            stats = pipeline.run_pipeline(p, "synthetic://?fps=0&frames=60&width=96&height=96", [], hud=False)
        finally:
            pipeline.PipelineStats.__init__ = orig
    d = write_profile(tmp_path / "p.json", stats)
    assert d["stages"]["inference"]["count"] == 60 and d["reservoir_size"] == 16
    assert all(len(v) <= 16 for v in d["samples_ms"].values())


# -- weak spots --------------------------------------------------------------------------------------------
def test_mjpeg_sink_port_is_range_checked(cpu_bundles, cli):
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", LIVE, "--sink", "mjpeg:70000"])
    line = _one_line_error(r)
    assert r.returncode == 1 and "--sink mjpeg:70000" in line and "0-65535" in line and "bug" not in line


def test_bad_mjpeg_host_blames_the_host(cpu_bundles, cli):
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", LIVE, "--mjpeg", "0",
             "--mjpeg-host", "999.1.1.1", "--max-frames", "2"])
    line = _one_line_error(r)
    assert r.returncode == 1 and "999.1.1.1" in line and "--mjpeg-host" in line and "port" not in line.split("(")[-1]


def test_video_out_directory_says_directory(cpu_bundles, cli, tmp_path):
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", LIVE, "--video-out", tmp_path])
    line = _one_line_error(r)
    assert r.returncode == 1 and "is a directory" in line and "container" not in line


def test_no_display_and_no_output_is_refused_with_a_hint(cpu_bundles, cli):
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", LIVE],
            env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    line = _one_line_error(r)
    assert r.returncode == 1 and "nothing would be shown or written" in line and "--video-out" in line


def test_live_video_plays_at_real_speed_despite_nominal_fps(cpu_bundles, tmp_path):
    """OpenCV reports a nominal rate for an MJPEG stream; frames arrive at 10 FPS: the video must last as long."""
    server = MjpegServer(fps=10)
    out = tmp_path / "o.avi"
    try:
        proc = _camera("--bundle", cpu_bundles["classify"], "--source", server.url, "--video-out", out,
                       "--max-frames", "15", "--json-out", tmp_path / "r.jsonl", "--profile", tmp_path / "p.json")
        _, err = proc.communicate(timeout=120)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    video = [s for s in json.loads((tmp_path / "p.json").read_text())["sinks"] if s["sink"] == "video"][0]
    times = [json.loads(line)["time_s"] for line in _lines(tmp_path / "r.jsonl")]
    shown = len(read_video(out)) / video["fps"]  # each frame lasts one slot of 1/fps
    assert abs(shown - (times[-1] - times[0] + 1 / video["fps"])) < 0.1, (shown, times, video)
