"""Camera-app sources: synthetic scene, files in order, live newest-frame, corrupt frames, reconnects, errors."""

from __future__ import annotations

import sys
import threading
import time
import types

import cv2
import numpy as np
import pytest

from edgemnv2.apps.sources import Lost, Source, csi_pipeline, open_source
from edgemnv2.errors import EdgeError
from tests.support.camera_streams import MjpegServer, numbered_frames, write_video

pytestmark = pytest.mark.device


def _drain(src, delay: float = 0.0, limit: int = 10_000):
    out = []
    while len(out) < limit:
        f = src.read()
        if f is None:
            break
        out.append(f)
        if delay:
            time.sleep(delay)
    return out


def test_synthetic_moves_is_deterministic_and_ends():
    a = open_source("synthetic://?fps=0&frames=6&width=128&height=96&seed=2")
    b = open_source("synthetic://?fps=0&frames=6&width=128&height=96&seed=2")
    fa, fb = _drain(a), _drain(b)
    a.stop(), b.stop()
    assert [f.index for f in fa] == list(range(6)) and not a.live
    assert fa[0].image.shape == (96, 128, 3) and fa[0].image.dtype == np.uint8
    assert all(np.array_equal(x.image, y.image) for x, y in zip(fa, fb))
    assert np.abs(fa[0].image.astype(int) - fa[5].image.astype(int)).mean() > 1.0  # the scene moves
    assert a.captured == 6 and a.dropped == 0 and a.end_reason == "end of stream"


def test_video_file_read_in_order_without_drops(tmp_path):
    frames = numbered_frames(12)
    path = write_video(tmp_path / "v.avi", frames)
    src = open_source(path)
    got = _drain(src, delay=0.02)  # a consumer slower than decoding: files still lose nothing
    src.stop()
    assert len(got) == 12 and src.dropped == 0 and src.skipped == 0 and not src.live
    for want, f in zip(frames, got):  # same order (MJPG is lossy: compare coarsely)
        assert np.abs(f.image.astype(int) - want.astype(int)).mean() < 6
    assert src.describe()["frame_count"] == 12 and src.fps == pytest.approx(10.0)


def test_realtime_file_keeps_only_newest_frame(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(30), fps=60)
    src = open_source(path, realtime=True)
    assert src.live
    got = _drain(src, delay=0.08)  # ~12 fps consumer on a 60 fps source
    src.stop()
    idx = [f.index for f in got]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert src.captured == 30 and src.dropped > 10 and len(got) + src.dropped == 30
    assert max(np.diff(idx)) > 1  # stale frames were skipped, not queued


def test_corrupt_frame_in_video_is_skipped(tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(10))
    data = bytearray(path.read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(soi) == 10
    data[soi[4]:soi[4] + 600] = np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    src = open_source(bad)
    got = _drain(src)
    src.stop()
    assert len(got) == 9 and src.skipped == 1 and src.end_reason == "end of stream"


def test_image_folder_in_order_and_skips_unreadable(tmp_path):
    frames = numbered_frames(3, 64, 48)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), f)
    (tmp_path / "img1b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    src = open_source(tmp_path)
    got = _drain(src)
    src.stop()
    assert len(got) == 3 and src.skipped == 1
    assert all(np.array_equal(g.image, f) for g, f in zip(got, frames))  # PNG is lossless; BGR kept


def test_zero_frame_video_and_unopenable_sources(tmp_path):
    empty = write_video(tmp_path / "empty.avi", [])
    with pytest.raises(EdgeError, match="gave no frames"):
        open_source(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 20)
    with pytest.raises(EdgeError, match="tried OpenCV FFMPEG, OpenCV ANY"):
        open_source(junk)
    with pytest.raises(EdgeError, match="does not exist: tried file, folder, camera index"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(EdgeError, match="tried V4L2 device node"):
        open_source("/dev/video97")
    with pytest.raises(EdgeError, match=r"camera 9.*tried OpenCV V4L2"):
        open_source("9")
    with pytest.raises(EdgeError, match=r"stream .*tried OpenCV FFMPEG"):
        open_source("http://127.0.0.1:9/none", reconnect_timeout=0)
    with pytest.raises(EdgeError, match="unknown source scheme"):
        open_source("foo://bar")
    with pytest.raises(EdgeError, match="tried OpenCV GStreamer"):
        open_source("videotestsrc ! appsink")


def test_csi_pipeline_string():
    p = csi_pipeline(1, 1920, 1080, 30)
    assert p.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1920,height=1080,"
                        "framerate=30/1 ! nvvidconv")
    assert p.endswith("video/x-raw,format=BGR ! appsink drop=1 max-buffers=1")
    with pytest.raises(EdgeError, match=r"CSI camera csi://0: tried OpenCV GStreamer"):
        open_source("csi://0") if "GStreamer:                   NO" in cv2.getBuildInformation() \
            else pytest.skip("OpenCV has GStreamer here")


def test_picamera_rgb888_is_used_as_bgr(monkeypatch):
    """Picamera2's RGB888 arrays are B, G, R in memory: the source must hand them over unchanged."""
    bgr = np.zeros((48, 64, 4), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2], bgr[..., 3] = 10, 20, 30, 255  # XRGB8888-style padding byte
    calls = {}

    class FakePicamera2:
        def __init__(self, num):
            calls["num"] = num

        def create_video_configuration(self, main, controls=None):
            calls["main"] = main
            return {"main": main}

        def configure(self, cfg):
            pass

        def start(self):
            pass

        def capture_array(self, name="main"):
            time.sleep(0.01)
            return bgr.copy()

        def stop(self):
            calls["stopped"] = True

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    src = open_source("picam://1?width=64&height=48")
    f = src.read(timeout=5)
    src.stop()
    assert calls["num"] == 1 and calls["main"] == {"size": (64, 48), "format": "RGB888"} and calls["stopped"]
    assert f.image.shape == (48, 64, 3) and tuple(f.image[0, 0]) == (10, 20, 30) and src.live
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(EdgeError, match="tried Picamera2"):
        open_source("picam://0")


def test_live_stream_reconnects_after_drop_then_gives_up():
    server = MjpegServer(fps=40, frames_per_connection=6)
    try:
        src = open_source(server.url, reconnect_timeout=5)
        got = []
        while len(got) < 14:
            f = src.read(timeout=10)
            assert f is not None, src.error
            got.append(f)
        assert src.reconnects >= 1 and server.connections >= 2 and src.error is None
        server.stop()  # now the stream is gone for good
        src.reconnect_timeout = 0.8
        t0 = time.monotonic()
        while src.read(timeout=10) is not None:
            pass
        assert time.monotonic() - t0 < 8
        assert src.finished and src.end_reason == "stream lost"
        assert "did not come back within 0.8 s" in str(src.error)
        src.stop()
    finally:
        server.stop()


class _FakeLive(Source):
    """A live backend that always reopens fine; ``grab`` decides what each read does."""

    kind = "fake"

    def __init__(self, grab, reconnect_timeout: float = 10.0) -> None:
        super().__init__("fake://0", live=True, reconnect_timeout=reconnect_timeout)
        self.grab = grab
        self.opens = 0
        self.closes = []  # thread name of every _close that released something
        self.is_open = False

    def _open(self) -> None:
        self.opens += 1
        self.is_open = True

    def _grab(self):
        return self.grab(self)

    def _close(self) -> None:
        if self.is_open:
            self.is_open = False
            self.closes.append(threading.current_thread().name)


def test_reopen_that_gives_no_frame_backs_off_and_gives_up(monkeypatch):
    """Regression: reopening works but every read after it fails; the outage clock and backoff must not restart."""
    warnings = []
    monkeypatch.setattr("edgemnv2.ui.warn", warnings.append)

    def grab(src):
        if src.captured == 0 and src.opens == 1:
            return np.zeros((8, 8, 3), np.uint8)
        raise Lost("no frame from the backend")

    src = _FakeLive(grab, reconnect_timeout=1.0).start()
    t0 = time.monotonic()
    try:
        while src.read(timeout=5) is not None:
            assert time.monotonic() - t0 < 5
        elapsed = time.monotonic() - t0
        assert src.end_reason == "stream lost" and "did not come back within 1 s" in str(src.error)
        assert 0.7 < elapsed < 4
        assert 2 <= src.opens <= 6  # backoff 0.25, 0.5, ... s between tries, not a busy loop
        assert len(warnings) == 1
    finally:
        src.stop()


def test_capture_thread_releases_backend_when_stop_gives_up_waiting():
    """Regression: a read blocking longer than stop() waits; the capture thread must still close the device."""
    release = threading.Event()
    served = []

    def grab(src):
        if not served:
            served.append(1)
            return np.zeros((8, 8, 3), np.uint8)
        release.wait(10)
        return np.zeros((8, 8, 3), np.uint8)

    src = _FakeLive(grab).start()
    thread = src._thread
    time.sleep(0.1)  # the thread is now blocked in grab
    real_join = thread.join
    thread.join = lambda timeout=None: real_join(0.05)  # stop() gives up waiting, as after 5 s
    src.stop()
    assert thread.is_alive() and src.closes == []  # not released under the blocked thread's feet
    release.set()
    real_join(5)
    assert not thread.is_alive()
    assert src.closes == [thread.name] and not src.is_open
    src.stop()  # idempotent: nothing is closed twice
    assert src.closes == [thread.name]
