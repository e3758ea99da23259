"""``edgemnv2 selftest --target jetson``: without TensorRT it refuses clearly; its compare/report logic is run
against the TensorRT STAND-INS (tests/trt_standins.py: they mimic the API, they are not TensorRT)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import trt_standins as standin

from edgemnv2.targets.jetson.selftest import TOLERANCES, compare, format_report

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def test_without_tensorrt_it_says_so_and_exits_nonzero(cli, tmp_path):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    r = cli(["selftest", "--target", "jetson", "--work", tmp_path / "w"])
    assert r.returncode == 1 and "TensorRT is not installed here" in r.stderr and "--prepare" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "w").exists()
    r = cli(["selftest", "--tasks", "classify,pose"])
    assert r.returncode == 1 and "unknown task or precision pose" in r.stderr


def test_compare_tolerances_can_fail():
    ref = {"logits": np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)}
    ok = compare("classify", "fp16", {"logits": ref["logits"] + 0.01}, ref)
    assert ok["pass"] and ok["top1_agree"] == "2/2" and ok["rel_max_abs_diff"] == pytest.approx(0.01 / 3, rel=1e-4)
    bad = compare("classify", "int8", {"logits": ref["logits"][:, ::-1].copy()}, ref)
    assert not bad["pass"] and bad["top1_agree"] == "0/2" and bad["tolerance"] == TOLERANCES["int8"]


def test_selftest_end_to_end_against_standins(tmp_path, monkeypatch, capsys):
    from edgemnv2.cli.main import main

    monkeypatch.setenv("EDGEMNV2_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    assert main(["selftest", "--prepare", "--work", str(work), "--tasks", "classify,segment"]) == 0
    assert sorted(p.name for p in work.iterdir() if p.name != "calib") == [
        "classify-fp16", "classify-int8", "segment-fp16", "segment-int8"]
    standin.install(monkeypatch, "10.3.0.30")
    capsys.readouterr()
    rc = main(["selftest", "--work", str(work), "--tasks", "classify,segment"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "TensorRT 10.3.0.30" in out and "GPU Orin (stand-in) (compute 8.7)" in out and "RESULT: PASS" in out
    assert out.count(" PASS ") == 4 and "explicit Q/DQ + BuilderFlag.INT8/FP16" in out
    report = format_report({"device": {}, "rows": [{"task": "detect", "precision": "int8", "pass": False,
                                                    "error": "boom"}], "ok": False})
    assert "detect   int8 FAIL  boom" in report and report.endswith("RESULT: FAIL")
