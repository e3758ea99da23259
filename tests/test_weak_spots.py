"""Weak spots of issue 11 item 5 (each reproduced first): size ranges, disk full, Ctrl-C at start-up,
torch's refusal quoted whole, file permissions."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, run_cli

BUILD = ["build", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--num-classes", "3"]


def _error_line(r) -> str:
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, r.stderr
    assert "looks like a bug" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("args,expect", [
    (["--task", "detect", "--num-classes", "0"], "--num-classes 0 is out of range"),
    (["--task", "detect", "--num-classes", "-3"], "--num-classes -3 is out of range"),
    (["--task", "classify", "--num-classes", "100000000"], "--num-classes 100000000 is out of range"),
    (["--task", "segment", "--resolution", "320000"], "--resolution 320000 is out of range (32 to 1024)"),
])
def test_absurd_sizes_are_refused_before_torch(tmp_path, args, expect):
    r = run_cli(["build", "--width-mult", "0.35", *args, "--out", tmp_path / "b"], timeout=120)
    assert expect in _error_line(r)


def test_data_synth_size_is_bounded(tmp_path):
    r = run_cli(["data", "synth", "--task", "classify", "--count", "2", "--size", "100000", "--out", tmp_path / "d"],
                timeout=120)
    assert "--size 100000 is out of range" in _error_line(r)


def _run_with_file_limit(args, limit: int, cwd=None) -> subprocess.CompletedProcess:
    """The CLI with files capped at ``limit`` bytes: writes past it fail as a full disk does (EFBIG)."""
    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = dict(os.environ)
    env.pop("EDGEMNV2_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "edgemnv2", *map(str, args)], preexec_fn=cap, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_disk_full_names_the_file(tmp_path):
    out = tmp_path / "b"
    line = _error_line(_run_with_file_limit([*BUILD, "--out", out], 400_000))
    assert "cannot write" in line and "model.onnx: File too large" in line and "free some space" in line
    assert not out.exists() and not list(tmp_path.iterdir())


def test_disk_full_during_int8_qdq_is_named_not_a_decode_error(tmp_path):
    data = tmp_path / "ds"
    r = run_cli(["data", "synth", "--task", "classify", "--train", "0", "--val", "2", "--calib", "10", "--size", "96",
                 "--out", data])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "j"
    # model.onnx (1.6 MB) fits; the calibration's augmented copy and the Q/DQ model do not
    line = _error_line(_run_with_file_limit(["build", "--target", "jetson", "--task", "classify", "--width-mult",
                                             "0.35", "--resolution", "96", "--num-classes", "4", "--precision",
                                             "int8", "--calib", data / "calib", "--out", out], 1_650_000))
    assert "cannot write the int8 Q/DQ model: File too large (temporary files in" in line and "MB free" in line
    assert not out.exists()


def test_qdq_model_has_the_bundles_permissions(cpu_bundles, tmp_path):
    from edgemnv2.calibration.qdq import quantize_qdq
    from edgemnv2.tasks.preprocess import IMAGENET

    images = [np.random.default_rng(i).integers(0, 256, (96, 96, 3), dtype=np.uint8) for i in range(2)]
    out = tmp_path / "model.qdq.onnx"
    quantize_qdq(cpu_bundles["classify"] / "model.onnx", out, images, IMAGENET)
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_ctrl_c_at_start_up_prints_no_traceback():
    for delay in (0.2, 0.4, 0.6, 0.9):
        p = subprocess.Popen([sys.executable, "-m", "edgemnv2", "models"], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (delay, err)
        assert p.returncode in (0, 130), (delay, p.returncode, err)


def test_unpickling_refusal_keeps_torchs_reason_whole(tmp_path):
    torch = pytest.importorskip("torch")
    w = tmp_path / "w.pt"
    torch.save({"weights": torch.zeros(2), "when": np.dtype("float32")}, w)
    line = _error_line(run_cli([*BUILD, "--weights", w, "--out", tmp_path / "b"]))
    reason = line.split("other than tensors (", 1)[1].split(") (pass", 1)[0]
    assert reason.startswith("Unsupported global: GLOBAL numpy") and reason.endswith("by default"), reason


def test_tensorflow_tflite_runtime_loads():
    pytest.importorskip("tensorflow")
    from edgemnv2.targets.pi.runner import load_interpreter_class

    cls, name, _ = load_interpreter_class("tensorflow")  # EDGEMNV2_TFLITE_RUNTIME=tensorflow
    assert name == "tensorflow" and cls.__name__ == "Interpreter"
    assert hasattr(sys.modules[cls.__module__], "OpResolverType")  # what xnnpack=False needs


def test_docs_name_the_files_the_builders_write():
    import re

    from edgemnv2.targets.jetson.engine import ONNX_FILES

    named = set(re.findall(r"model[\w.]*\.onnx", (REPO / "docs" / "bundle.md").read_text()))
    assert named and named <= set(ONNX_FILES.values()), named - set(ONNX_FILES.values())


def test_qdq_checker_has_a_command_line(cpu_bundles, tmp_path):
    model = cpu_bundles["classify"] / "model.onnx"
    r = subprocess.run([sys.executable, "-m", "edgemnv2.calibration.qdq_check", str(model), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import json

    rep = json.loads(r.stdout)
    assert rep["ok"] is True and rep["opset"] == 17 and rep["quantize_nodes"] == 0
    r = subprocess.run([sys.executable, "-m", "edgemnv2.calibration.qdq_check", str(model), "--trt", "8.2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "does NOT conform to TensorRT 8.2" in r.stdout and "opset 17" in r.stdout


def test_fp16_build_summary_gives_the_fp16_check(tmp_path):
    import json

    out = tmp_path / "j"
    r = run_cli(["build", "--target", "jetson", "--task", "classify", "--width-mult", "0.35", "--resolution", "96",
                 "--num-classes", "3", "--out", out])
    assert r.returncode == 0, r.stderr
    reports = json.loads((out / "manifest.json").read_text())["reports"]
    summary = " ".join(r.stderr.split("built ", 1)[1].split())
    assert f"fp16 ONNX max |Δ| vs fp32 {reports['fp16_onnx']['max_abs_diff']:.2e}" in summary
    assert f"fp32 max |Δ| vs PyTorch {reports['parity']['max_abs_diff']:.2e}" in summary


def test_native_output_during_builds_goes_to_stderr():
    code = ("import ctypes, sys\n"
            "from edgemnv2.ui import stdout_to_stderr\n"
            "libc = ctypes.CDLL(None)\n"
            "with stdout_to_stderr():\n"
            "    libc.printf(b'native converter log\\n'); libc.fflush(None); print('python log')\n"
            "print('result')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "result\n" and "native converter log" in r.stderr and "python log" in r.stderr


def test_disk_full_during_data_synth_names_the_file(tmp_path):
    out = tmp_path / "ds"
    line = _error_line(_run_with_file_limit(["data", "synth", "--task", "classify", "--count", "20", "--size", "512",
                                             "--out", out], 20_000))
    assert "cannot write" in line and ".jpg: File too large" in line
    assert not out.exists() and not list(tmp_path.iterdir())
