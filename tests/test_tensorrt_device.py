"""Real TensorRT on a real NVIDIA GPU (marker ``tensorrt``): skipped cleanly anywhere else.

Run on a Jetson (or a GPU machine with TensorRT): ``python -m pytest -q -m tensorrt``. Builds fp16 and
int8 engines for a small classifier and compares them with ONNX Runtime (the self-test's tolerances).
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.tensorrt


@pytest.fixture(scope="module")
def real_tensorrt():
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT is not installed here")
    from edgemnv2.errors import EdgeError
    from edgemnv2.targets.jetson.runner import cuda_backend, import_tensorrt

    trt = import_tensorrt()
    if getattr(trt, "__standin__", False):
        pytest.skip("a TensorRT stand-in is loaded, not TensorRT")
    try:
        cuda_backend().close()
    except EdgeError as e:
        pytest.skip(f"no usable CUDA device: {e}")
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    return trt


def test_classifier_engines_match_onnxruntime(real_tensorrt, tmp_path, monkeypatch):
    from edgemnv2.targets.jetson.selftest import format_report, prepare, run_checks

    monkeypatch.setenv("EDGEMNV2_CACHE_DIR", str(tmp_path / "cache"))
    bundles = prepare(tmp_path / "work", ["classify"], ["fp16", "int8"], lambda m: None)
    result = run_checks(bundles, lambda m: None, workspace_mb=512)
    assert result["ok"], format_report(result)
