"""``edgemnv2 camera`` end to end in subprocesses: real runtimes, real files, signals, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import jsonschema
import pytest

from edgemnv2.apps.pipeline import STAGES
from edgemnv2.apps.sinks import FRAME_RECORD_SCHEMA
from tests.support.camera_streams import MjpegServer, numbered_frames, read_video, write_video

SYN = "synthetic://?fps=0&frames=12&width=160&height=120"


def _records(path: Path):
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    for r in recs:
        jsonschema.validate(r, FRAME_RECORD_SCHEMA)
    return recs


def _one_line_error(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("task", ["classify", "detect", "segment"])
def test_cli_tasks_on_synthetic_and_video(task, cpu_bundles, cli, tmp_path):
    b = cpu_bundles[task]
    out = tmp_path / "syn.avi"
    r = cli(["camera", "--task", task, "--bundle", b, "--source", SYN, "--no-window", "--threads", "1",
             "--video-out", out, "--json-out", tmp_path / "syn.jsonl", "--profile", tmp_path / "p.json"])
    assert r.returncode == 0, r.stderr
    frames = read_video(out)
    assert len(frames) == 12 and frames[0].shape == (120, 160, 3)
    recs = _records(tmp_path / "syn.jsonl")
    assert len(recs) == 12 and {x["task"] for x in recs} == {task}
    prof = json.loads((tmp_path / "p.json").read_text())
    assert set(prof["stages"]) == set(STAGES) and prof["frames"]["processed"] == 12 and prof["task"] == task
    assert "p50" in r.stderr and "inference" in r.stderr  # summary table at exit

    video = write_video(tmp_path / "in.avi", numbered_frames(7, 200, 150))
    r = cli(["camera", "--bundle", b, "--source", video, "--sink", "none", "--sink", f"json:{tmp_path / 'v.jsonl'}",
             "--max-frames", "5"])
    assert r.returncode == 0, r.stderr
    recs = _records(tmp_path / "v.jsonl")
    assert [x["frame"] for x in recs] == list(range(5)) and recs[0]["image_size"] == [150, 200]


def test_cli_json_to_stdout_and_snapshots(cpu_bundles, cli, tmp_path):
    r = cli(["camera", "--bundle", cpu_bundles["detect"], "--source", SYN, "--sink", "json:-",
             "--snapshot-dir", tmp_path / "s", "--snapshot-every", "5"])
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 12 and all("detections" in x for x in recs)
    assert len(list((tmp_path / "s").glob("frame_*.jpg"))) == 3


def test_cli_model_task_mismatch(cpu_bundles, cli):
    r = cli(["camera", "--task", "segment", "--bundle", cpu_bundles["classify"], "--source", SYN])
    assert r.returncode == 1 and "holds a classify model but --task segment" in _one_line_error(r)
    r = cli(["camera", "--task", "classify", "--model", cpu_bundles["detect"] / "model.onnx", "--source", SYN])
    assert r.returncode == 1 and "check --task" in _one_line_error(r)
    r = cli(["camera", "--model", cpu_bundles["detect"] / "model.onnx", "--source", SYN])
    assert r.returncode == 1 and "--task is required" in _one_line_error(r)


def test_cli_bad_sources_and_sinks(cpu_bundles, cli, tmp_path):
    b = cpu_bundles["classify"]
    r = cli(["camera", "--bundle", b, "--source", tmp_path / "nope.mp4", "--no-window"])
    assert r.returncode == 1 and "tried file, folder, camera index" in _one_line_error(r)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00garbage" * 50)
    r = cli(["camera", "--bundle", b, "--source", junk, "--no-window"])
    assert r.returncode == 1 and "tried OpenCV FFMPEG, OpenCV ANY" in _one_line_error(r)
    empty = write_video(tmp_path / "empty.avi", [])
    r = cli(["camera", "--bundle", b, "--source", empty, "--no-window", "--video-out", tmp_path / "o.avi"])
    assert r.returncode == 1 and "gave no frames" in _one_line_error(r) and not (tmp_path / "o.avi").exists()
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    r = cli(["camera", "--bundle", b, "--source", SYN, "--video-out", blocker / "o.avi"])
    assert r.returncode == 1 and "not a directory" in _one_line_error(r)
    r = cli(["camera", "--bundle", b, "--source", SYN, "--sink", "window"], env={"DISPLAY": ""})
    assert r.returncode == 1 and "no display" in _one_line_error(r)


def test_cli_corrupt_frame_is_skipped(cpu_bundles, cli, tmp_path):
    path = write_video(tmp_path / "v.avi", numbered_frames(8))
    data = bytearray(path.read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[soi[3]:soi[3] + 500] = bytes(500)
    path.write_bytes(bytes(data))
    r = cli(["camera", "--bundle", cpu_bundles["classify"], "--source", path, "--json-out", tmp_path / "r.jsonl"])
    assert r.returncode == 0, r.stderr
    assert len(_records(tmp_path / "r.jsonl")) == 7 and "skipped 1" in r.stderr


def test_cli_stream_dropping_mid_run(cpu_bundles, cli, tmp_path):
    """A loopback MJPEG server that dies: clear message, exit 1, outputs and profile still written."""
    server = MjpegServer(fps=25)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edgemnv2", "camera", "--bundle", cpu_bundles["classify"],
                                 "--source", server.url, "--reconnect-timeout", "1", "--no-window",
                                 "--json-out", str(tmp_path / "r.jsonl"), "--video-out", str(tmp_path / "o.avi"),
                                 "--profile", str(tmp_path / "p.json")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        while server.sent < 30 and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        server.stop()
        _, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    proc.stderr = err
    assert proc.returncode == 1
    line = _one_line_error(proc)
    assert "was lost after" in line and "did not come back within 1 s" in line
    recs = _records(tmp_path / "r.jsonl")
    assert 0 < len(recs) <= server.sent
    prof = json.loads((tmp_path / "p.json").read_text())
    assert prof["end_reason"] == "stream lost" and prof["frames"]["processed"] == len(recs)
    # a live source's video places frames by capture time: as long as the frames it shows span
    video = [s for s in prof["sinks"] if s["sink"] == "video"][0]
    span = (recs[-1]["time_s"] - recs[0]["time_s"]) * video["fps"]
    assert video["timed"] and abs(len(read_video(tmp_path / "o.avi")) - (span + 1)) <= 1.01


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_signal_stops_cleanly_with_playable_video(sig, cpu_bundles, tmp_path):
    out = tmp_path / "live.avi"
    env = dict(os.environ)
    env.pop("EDGEMNV2_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "edgemnv2", "camera", "--bundle", cpu_bundles["segment"],
                             "--source", "synthetic://?width=160&height=120", "--video-out", str(out),
                             "--profile", str(tmp_path / "p.json"), "--no-window"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".live.*partial.avi")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # let it process some frames
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and f"stopped by {sig.name}" in err
    frames = read_video(out)
    prof = json.loads((tmp_path / "p.json").read_text())
    assert len(frames) > 0 and frames[0].shape == (120, 160, 3)
    # live: frames are placed by capture time, so the video lasts as long as the run did
    assert abs(len(frames) / prof["sinks"][0]["fps"] - prof["wall_s"]) < 0.5
    assert not list(tmp_path.glob("*partial*"))


# -- real trained models (Coral) ---------------------------------------------------------------------
def _still_video(photo: Path, path: Path, n: int = 4) -> Path:
    img = cv2.imread(str(photo))
    img = img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]  # even size for the codec
    return write_video(path, [img] * n)


def test_coral_classifier_video_of_photo_matches_predict(coral_dir, cli, tmp_path):
    pytest.importorskip("edgemnv2.targets.pi.runner")
    model, labels = coral_dir / "mobilenet_v2_1.0_224_quant.tflite", coral_dir / "imagenet_labels.txt"
    r = cli(["predict", "--model", model, "--task", "classify", "--labels", labels, "--json", coral_dir / "cat.bmp"])
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)["top"][0]["label"]
    assert want == "Egyptian cat"
    video = _still_video(coral_dir / "cat.bmp", tmp_path / "cat.avi")
    r = cli(["camera", "--task", "classify", "--model", model, "--labels", labels, "--source", video,
             "--json-out", tmp_path / "r.jsonl", "--video-out", tmp_path / "o.avi", "--threads", "2"])
    assert r.returncode == 0, r.stderr
    recs = _records(tmp_path / "r.jsonl")
    assert len(recs) == 4 and {x["top"][0]["label"] for x in recs} == {want}
    assert len(read_video(tmp_path / "o.avi")) == 4


def test_coral_segmenter_video_of_photo_matches_predict(coral_dir, cli, tmp_path):
    pytest.importorskip("edgemnv2.targets.pi.runner")
    model = coral_dir / "deeplabv3_mnv2_pascal_quant.tflite"
    labels = coral_dir / "pascal_voc_segmentation_labels.txt"
    photo = coral_dir / "bird_segmentation.bmp"
    r = cli(["predict", "--model", model, "--task", "segment", "--labels", labels, "--json", photo])
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)["classes"]
    video = _still_video(photo, tmp_path / "bird.avi", 3)
    r = cli(["camera", "--task", "segment", "--model", model, "--labels", labels, "--source", video,
             "--json-out", tmp_path / "r.jsonl"])
    assert r.returncode == 0, r.stderr
    for rec in _records(tmp_path / "r.jsonl"):
        got = rec["classes"]
        assert max(got, key=lambda k: got[k] if k != "background" else -1) == \
            max(want, key=lambda k: want[k] if k != "background" else -1) == "bird"
        share = lambda d: d.get("bird", 0) / sum(d.values())  # noqa: E731
        assert abs(share(got) - share(want)) < 0.02


@pytest.fixture(scope="module")
def pi_bundles(tmp_path_factory):
    """Tiny fp32 TFLite (Pi) bundles, built on first use per task."""
    pytest.importorskip("edgemnv2.targets.pi.runner")
    tb = pytest.importorskip("edgemnv2.targets.pi.build")
    pytest.importorskip("tensorflow")
    from edgemnv2.model_source import BuildOptions

    tmp = tmp_path_factory.mktemp("pi-bundles")
    sizes = {"classify": (96, 10), "detect": (160, 4), "segment": (128, 5)}
    built = {}

    def get(task: str) -> Path:
        if task not in built:
            res, nc = sizes[task]
            out = tmp / f"{task}-pi"
            tb.build_pi_bundle(BuildOptions(task=task, out=out, width_mult=0.35, resolution=res, num_classes=nc,
                                            precision="fp32", target="pi"))
            built[task] = out
        return built[task]

    return get


@pytest.mark.parametrize("task", ["classify", "detect", "segment"])
def test_tflite_bundle_camera_matches_predict(task, pi_bundles, cli, tmp_path):
    """A Pi (TFLite) bundle through the camera app gives what predict gives on the same frames."""
    bundle = pi_bundles(task)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, f in enumerate(numbered_frames(3, 160, 120)):
        cv2.imwrite(str(folder / f"f{i}.png"), f)
    thr = ["--score-threshold", "0.2"] if task == "detect" else []  # random weights: scores near 1/classes
    r = cli(["predict", "--bundle", bundle, "--json", *thr, *sorted(folder.iterdir())])
    assert r.returncode == 0, r.stderr
    want = [json.loads(line) for line in r.stdout.splitlines()]
    r = cli(["camera", "--task", task, "--bundle", bundle, "--source", folder, "--json-out", tmp_path / "r.jsonl",
             "--video-out", tmp_path / "o.avi", *thr])
    assert r.returncode == 0, r.stderr
    got = _records(tmp_path / "r.jsonl")
    assert len(got) == 3 and len(read_video(tmp_path / "o.avi")) == 3
    for g, w in zip(got, want):
        if task == "classify":
            assert [c["index"] for c in g["top"]] == [c["index"] for c in w["top"]]
        elif task == "detect":
            assert g["detections"] and [d["index"] for d in g["detections"]] == [d["index"] for d in w["detections"]]
            for d, wd in zip(g["detections"], w["detections"]):  # predict and camera: the same COCO bbox
                assert d["bbox"] == pytest.approx(wd["bbox"], abs=0.02)
        else:
            assert g["classes"] == w["classes"]
