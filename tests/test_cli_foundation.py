"""The CLI end to end in subprocesses: build (cpu), predict (JSON schemas, masks), models, doctor, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, run_cli


def _photo(tmp_path, name="img.png", size=(120, 90)):
    import cv2

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path = tmp_path / name
    cv2.imwrite(str(path), img)
    return path


def test_build_cpu_via_cli_and_predict_json(tmp_path):
    out = tmp_path / "cls"
    r = run_cli(["build", "--target", "cpu", "--task", "classify", "--width-mult", "0.35", "--resolution", "96",
                 "--num-classes", "3", "--out", out])
    assert r.returncode == 0, r.stderr
    assert "NO WEIGHTS" in r.stderr  # random init is said loudly
    assert (out / "manifest.json").is_file() and not list(tmp_path.glob(".*partial"))
    img = _photo(tmp_path)
    r = run_cli(["predict", img, img, "--bundle", out, "--json", "--top-k", "2"])
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 2 and lines[0] == lines[1]
    assert set(lines[0]) == {"image", "task", "top", "semantics"} and lines[0]["task"] == "classify"
    assert len(lines[0]["top"]) == 2 and set(lines[0]["top"][0]) == {"index", "label", "score"}
    assert sum(t["score"] for t in lines[0]["top"]) <= 1.0 + 1e-6


def test_predict_detect_schema_in_pixels(cpu_bundles, tmp_path):
    img = _photo(tmp_path, size=(300, 200))
    r = run_cli(["predict", img, "--bundle", cpu_bundles["detect"], "--json", "--score-threshold", "0.0"])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == {"image", "task", "detections", "semantics"} and d["detections"]
    for det in d["detections"]:
        assert set(det) == {"label", "index", "score", "bbox"} and det["index"] >= 1
        x, y, w, h = det["bbox"]  # COCO [x, y, width, height], as the camera's JSON lines
        assert 0 <= x <= x + w <= 300 + 0.01 and 0 <= y <= y + h <= 200 + 0.01 and w >= 0 and h >= 0


def test_predict_segment_mask_out(cpu_bundles, tmp_path):
    import cv2

    img = _photo(tmp_path, "scene.jpg", size=(150, 70))
    masks = tmp_path / "masks"
    r = run_cli(["predict", img, "--bundle", cpu_bundles["segment"], "--json", "--mask-out", masks])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == {"image", "task", "classes", "semantics"}
    mask = cv2.imread(str(masks / "scene.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (70, 150) and mask.dtype == np.uint8
    labels = (cpu_bundles["segment"] / "labels.txt").read_text().split()
    counts = {labels[i]: int(n) for i, n in enumerate(np.bincount(mask.ravel(), minlength=len(labels))) if n}
    assert counts == d["classes"] and sum(counts.values()) == 150 * 70


def test_predict_bare_onnx_model(cpu_bundles, tmp_path):
    img = _photo(tmp_path)
    a = run_cli(["predict", img, "--bundle", cpu_bundles["classify"], "--json"])
    b = run_cli(["predict", img, "--model", cpu_bundles["classify"] / "model.onnx", "--task", "classify",
                 "--labels", cpu_bundles["classify"] / "labels.txt", "--json"])
    assert a.returncode == 0 and b.returncode == 0, b.stderr
    assert json.loads(a.stdout)["top"] == json.loads(b.stdout)["top"]


def test_models_command_reports_paper_figures():
    r = run_cli(["models", "--json"])
    assert r.returncode == 0, r.stderr
    rows = {x["name"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert abs(rows["mobilenet_v2_1.0_224"]["params_dev_pct"]) <= 3
    assert abs(rows["mobilenet_v2_1.0_224"]["madds_dev_pct"]) <= 3
    assert all(abs(v) <= 3 for row in rows.values() for v in (row["params_dev_pct"], row["madds_dev_pct"])
               if v is not None)


def test_doctor_json():
    r = run_cli(["doctor", "--json"])
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["packages"]["onnxruntime"] and info["targets"]["cpu (run)"]["ready"] is True
    assert info["targets"]["jetson engine build"]["ready"] is (info["packages"]["tensorrt"] is not None)


def _one_error_line(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("case", ["empty", "truncated", "not_state_dict", "mismatch", "directory", "missing"])
def test_build_bad_weights_one_line_nothing_written(tmp_path, case):
    torch = pytest.importorskip("torch")
    from edgemnv2.models.zoo import build_model

    w = tmp_path / "w.pt"
    if case == "empty":
        w.write_bytes(b"")
    elif case == "truncated":
        torch.save(build_model("classify", 0.35, 3, 96).state_dict(), w)
        w.write_bytes(w.read_bytes()[:3000])
    elif case == "not_state_dict":
        torch.save({"epoch": 3, "note": "hello"}, w)
    elif case == "mismatch":
        torch.save(build_model("classify", 0.5, 3, 96).state_dict(), w)
    elif case == "directory":
        w.mkdir()
    out = tmp_path / "out"
    r = run_cli(["build", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--num-classes", "3",
                 "--weights", w, "--out", out])
    line = _one_error_line(r)
    assert {"empty": "is empty", "truncated": "corrupt", "not_state_dict": "not a state dict",
            "mismatch": "has shape", "directory": "is a directory", "missing": "does not exist"}[case] in line
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unreadable_image_and_directory(cpu_bundles, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    line = _one_error_line(run_cli(["predict", bad, "--bundle", cpu_bundles["classify"]]))
    assert "cannot read image" in line
    line = _one_error_line(run_cli(["predict", tmp_path, "--bundle", cpu_bundles["classify"]]))
    assert "is a directory" in line
    line = _one_error_line(run_cli(["predict", bad, "--bundle", tmp_path]))
    assert "not a bundle" in line


def test_output_not_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_cli(["build", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--num-classes", "3",
                 "--out", blocker / "sub" / "bundle"])
    assert "cannot create output directory" in _one_error_line(r)
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        r = run_cli(["build", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--out", ro / "b"])
        assert "not writable" in _one_error_line(r)


def test_debug_shows_traceback(tmp_path):
    r = run_cli(["predict", tmp_path / "nope.jpg", "--model", tmp_path / "nope.onnx", "--task", "classify",
                 "--debug"])
    assert r.returncode != 0 and "Traceback" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_during_build_leaves_nothing_half_written(tmp_path, sig):
    out = tmp_path / "b"
    env = dict(os.environ)
    p = subprocess.Popen([sys.executable, "-m", "edgemnv2", "build", "--task", "detect", "--width-mult", "1.0",
                          "--resolution", "320", "--out", str(out)], cwd=REPO, env=env, stderr=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not any(x.name.endswith(".partial") for x in tmp_path.iterdir()):
        time.sleep(0.05)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err
    leftovers = [x.name for x in tmp_path.iterdir() if x.name.startswith(".")]
    assert not leftovers, (p.returncode, err, [sorted(q.name for q in (tmp_path / x).iterdir()) for x in leftovers])
    assert p.returncode in (0, 130), err
    if p.returncode == 130:
        assert "interrupted" in err
    if out.exists():  # the signal landed after the bundle was renamed into place: it must be complete
        from edgemnv2.bundle import load_bundle

        load_bundle(out)


def test_onnx_file_taken_as_is(cpu_bundles, tmp_path):
    img = _photo(tmp_path)
    src = cpu_bundles["detect"] / "model.onnx"
    out = tmp_path / "from-onnx"
    r = run_cli(["build", "--target", "cpu", "--task", "detect", "--weights", src, "--out", out])
    assert r.returncode == 0, r.stderr
    a = run_cli(["predict", img, "--bundle", out, "--json", "--score-threshold", "0"])
    b = run_cli(["predict", img, "--bundle", cpu_bundles["detect"], "--json", "--score-threshold", "0"])
    assert json.loads(a.stdout)["detections"] == json.loads(b.stdout)["detections"]
    # the wrong task, and the pi target (which converts from PyTorch), are refused in one line
    assert "a classifier has one" in _one_error_line(run_cli(["build", "--task", "classify", "--weights", src,
                                                              "--out", tmp_path / "x"]))
    assert "not from an ONNX file" in _one_error_line(run_cli(["build", "--target", "pi", "--task", "detect",
                                                               "--weights", src, "--out", tmp_path / "y"]))
