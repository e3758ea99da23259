"""Delegation truth: which ops XNNPACK really runs, measured on real .tflite models with LiteRT (this venv)
and tflite-runtime 2.14 (.venv-tflite214, subprocess), as the runner reports it and bench records it."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from test_bench_cli import check_report

from edgemnv2.targets.pi.delegation import analyse_delegation
from tests.support.tflite_envs import tflite214_python

X86 = platform.machine().lower() in ("x86_64", "amd64")
WORK = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def _op(i: int, name: str, ins: list, outs: list) -> dict:
    return {"index": i, "op_name": name, "inputs": ins, "outputs": outs}


def test_analysis_on_a_hand_made_graph() -> None:
    """t0 -QUANTIZE(0)-> t1 -CONV(1)-> t2 -CONV(2)-> t3 -SOFTMAX(3)-> t4 (t5, t6: weights; -1: no bias);
    a DELEGATE node from t1 to t3 replaced nodes 1 and 2, and only those."""
    ops = [_op(0, "QUANTIZE", [0], [1]), _op(1, "CONV_2D", [1, 5, -1], [2]), _op(2, "CONV_2D", [2, 6, -1], [3]),
           _op(3, "SOFTMAX", [3], [4]), _op(4, "DELEGATE", [1, 5, 6], [3])]
    d = analyse_delegation(ops, {0: "uint8", 1: "int8", 2: "int8", 3: "int8", 4: "int8"}, "ai_edge_litert", "2.3")
    assert (d.ops, d.delegated_ops, d.partitions) == (4, 2, 1)
    assert d.not_delegated == {"QUANTIZE": 1, "SOFTMAX": 1} and d.quantized_not_delegated == 2
    assert d.warning is None  # no convolution left outside
    d = analyse_delegation(ops[:4], {1: "int8"}, "tflite_runtime", "2.14.0")  # no delegate node at all
    assert (d.delegated_ops, d.partitions, d.not_delegated["CONV_2D"]) == (0, 0, 2)
    assert d.warning is not None and ("does not delegate int8" in d.warning if X86 else "outside" in d.warning)
    d = analyse_delegation(ops[:4], {}, "tflite_runtime", "2.14.0")  # float graph: nothing to warn about
    assert d.warning is None and d.quantized_not_delegated == 0


@pytest.fixture(scope="module")
def pi_pair(tmp_path_factory) -> Dict[str, Path]:
    """A tiny int8 and fp32 Pi bundle of the same classifier (real builder, calibrated on real photos)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle
    from tests.support.photos import write_photo_folder

    tmp = tmp_path_factory.mktemp("deleg")
    photos = write_photo_folder(tmp / "photos", 8, seed=3)
    out = {}
    for prec in ("int8", "fp32"):
        out[prec] = tmp / f"classify-{prec}"
        build_pi_bundle(BuildOptions(task="classify", out=out[prec], target="pi", width_mult=0.35, resolution=96,
                                     num_classes=5, precision=prec, calib=photos if prec == "int8" else None,
                                     calib_count=8, max_drop=100))
    return out


_NODES = ("import sys, importlib; from edgemnv2.targets.pi.runner import load_interpreter_class as L; "
          "cls, name, _ = L(); mod = importlib.import_module(cls.__module__); "
          "it = cls(model_path=sys.argv[1], experimental_op_resolver_type="
          "mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES); it.allocate_tensors(); "
          "print(len(it._get_ops_details()))")


def _nodes_without_delegate(model: Path, python: str) -> int:
    """The model's node count as the runtime sees it with no delegate at all (an independent count)."""
    proc = subprocess.run([python, "-c", _NODES, str(model)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


def _delegation(report: Path) -> dict:
    return check_report(report)["results"][0]["runtime"]["delegation"]


def test_int8_delegated_on_litert(pi_pair, cli, tmp_path: Path) -> None:
    import sys

    out = tmp_path / "litert"
    proc = cli(["bench", "--bundle", pi_pair["int8"], "--runs", 5, "--warmup", 1, "--report", out])
    assert proc.returncode == 0, proc.stderr
    d = _delegation(out)
    assert d["ops"] == _nodes_without_delegate(pi_pair["int8"] / "model.tflite", sys.executable)
    assert d["delegated_ops"] + sum(d["not_delegated"].values()) == d["ops"]
    assert d["partitions"] >= 1 and d["delegated_ops"] > 0.9 * d["ops"]
    assert not WORK & set(d["not_delegated"]), d  # every convolution ran on XNNPACK
    assert "warning" not in d and "un-delegated" not in proc.stderr
    assert "Delegation" in (out / "report.md").read_text()


def test_int8_not_delegated_on_tflite_runtime_214(pi_pair, cli, tmp_path: Path) -> None:
    py = tflite214_python()
    out = tmp_path / "tflite214"
    proc = cli(["bench", "--bundle", pi_pair["int8"], "--bundle", pi_pair["fp32"], "--runs", 5, "--warmup", 1,
                "--report", out], python=py)
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out)
    int8, fp32 = (r["runtime"]["delegation"] for r in doc["results"])
    assert int8["ops"] == _nodes_without_delegate(pi_pair["int8"] / "model.tflite", py)
    assert int8["delegated_ops"] == 0 and int8["partitions"] == 0
    assert int8["not_delegated"]["CONV_2D"] >= 1 and int8["quantized_not_delegated"] == int8["ops"]
    assert fp32["delegated_ops"] == fp32["ops"] and fp32["not_delegated"] == {} and "warning" not in fp32
    if X86:
        msg = "tflite-runtime 2.14 on x86-64 does not delegate int8 to XNNPACK; use ai-edge-litert"
        assert msg in int8["warning"] and msg in proc.stderr
        assert any(msg in n for n in doc["notes"]) and msg in (out / "report.md").read_text()
    # merging it with a LiteRT report keeps the per-bundle delegation (schema version 2)
    merged = tmp_path / "merged"
    proc = cli(["report", "merge", out, "--out", merged])
    assert proc.returncode == 0, proc.stderr
    assert json.loads((merged / "report.json").read_text())["results"][0]["runtime"]["delegation"] == int8


@pytest.mark.coral
def test_coral_uint8_on_both_runtimes(coral_dir: Path) -> None:
    """Google's uint8 MobileNetV2 through the runner: LiteRT delegates its convolutions, 2.14 none."""
    import sys

    model = coral_dir / "mobilenet_v2_1.0_224_quant.tflite"
    code = ("import json, sys; from edgemnv2.targets.pi.runner import TFLiteRunner as R; "
            "r = R(sys.argv[1], threads=2).activate(); print(json.dumps(r.describe()['delegation']))")
    for py in (sys.executable, tflite214_python()):
        proc = subprocess.run([py, "-c", code, str(model)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        d = json.loads(proc.stdout.splitlines()[-1])
        assert d["ops"] == _nodes_without_delegate(model, py) == 66
        if py == sys.executable:
            assert d["delegated_ops"] >= 60 and not WORK & set(d["not_delegated"])
        else:
            assert d["delegated_ops"] == 0 and d["not_delegated"]["CONV_2D"] == 36 and d["not_delegated"]["ADD"] == 10


def test_doctor_says_so(cli) -> None:
    proc = cli(["doctor"])
    assert proc.returncode == 0 and "does not delegate int8" not in proc.stdout
    proc = cli(["doctor", "--json"], python=tflite214_python())
    assert proc.returncode == 0, proc.stderr
    note = json.loads(proc.stdout)["tflite_int8_delegation"]
    if X86:
        assert "tflite-runtime 2.14 on x86-64 does not delegate int8" in note and "ai-edge-litert" in note
    else:
        assert note is None
