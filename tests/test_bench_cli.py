"""``edgemnv2 bench`` run for real (subprocess CLI) on ONNX Runtime, TFLite and Coral models.

Every report is validated against edgemnv2/schemas/report.schema.json; the latency statistics are
recomputed with numpy from the raw samples stored in the report; report.html is parsed and its
embedded plots decoded as PNG images.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from edgemnv2.bench.report import validate_report


class _Imgs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: List[Dict[str, str]] = []
        self.text: List[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.imgs.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(path: Path) -> _Imgs:
    p = _Imgs()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def decoded_pngs(path: Path) -> Dict[str, np.ndarray]:
    """alt -> decoded image for every <img src="data:image/png;base64,...">; asserts each is a real PNG."""
    import cv2

    out = {}
    for img in parse_html(path).imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,"), src[:40]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        arr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        assert arr is not None and arr.shape[0] > 100 and arr.shape[1] > 300
        assert arr.std() > 5  # not a blank canvas
        out[img["alt"]] = arr
    return out


def check_report(report_dir: Path, runs: int = 0) -> dict:
    """Schema-valid, statistics equal to numpy's on the stored raw samples; returns the report."""
    doc = json.loads((report_dir / "report.json").read_text())
    assert validate_report(doc) == []
    for r in doc["results"]:
        lat = np.asarray(r["samples"]["latency_ms"], dtype=np.float64)
        if runs:
            assert lat.size == runs
        st = r["latency_ms"]
        assert st["count"] == lat.size == len(r["samples"]["t_s"]) == r["throughput"]["iterations"]
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        assert st["p50"] == pytest.approx(p50, rel=1e-12) and st["p90"] == pytest.approx(p90, rel=1e-12)
        assert st["p99"] == pytest.approx(p99, rel=1e-12)
        assert (st["min"], st["max"]) == (lat.min(), lat.max())
        assert st["mean"] == pytest.approx(lat.mean()) and st["std"] == pytest.approx(lat.std())
        assert r["throughput"]["model_ips"] == pytest.approx(1000.0 / lat.mean())
        assert r["stages_ms"]["inference"] == st
        assert np.all(np.diff(r["samples"]["t_s"]) > 0) and r["samples"]["t_s"][0] >= 0
        assert r["throughput"]["end_to_end_ips"] <= r["throughput"]["model_ips"]
        assert 0 < r["cold_start_ms"]["load_ms"] < r["cold_start_ms"]["total_ms"]
        assert r["memory"]["peak_rss_mb"] >= r["memory"]["rss_after_load_mb"] > 0
        assert r["environment"] in {e["id"] for e in doc["environments"]}
    return doc


@pytest.fixture(scope="module")
def cpu_report(cpu_bundles, cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--bundle", cpu_bundles["detect"], "--bundle",
                cpu_bundles["segment"], "--runs", 40, "--warmup", 3, "--interval", 0.1, "--report", out])
    assert proc.returncode == 0, proc.stderr
    return out


def test_cpu_bundles_report(cpu_report: Path, cpu_bundles) -> None:
    import onnxruntime

    doc = check_report(cpu_report, runs=40)
    assert doc["kind"] == "bench" and doc["config"]["runs"] == 40 and doc["config"]["warmup"] == 3
    assert [r["task"] for r in doc["results"]] == ["classify", "detect", "segment"]
    for r in doc["results"]:
        assert r["runtime"]["runtime"] == "onnxruntime" and r["runtime"]["version"] == onnxruntime.__version__
        assert r["model_format"] == "onnx" and r["target"] == "cpu" and r["precision"] == "fp32"
        assert len(r["warmup_ms"]) == 3
        assert set(r["stages_ms"]) == {"preprocess", "inference", "postprocess"}
        assert r["image_size"] == [480, 640]
        tel = r["telemetry"]
        assert tel["marks"]["load_start"] < tel["marks"]["first_result"] <= tel["marks"]["timed_start"] \
            < tel["marks"]["timed_end"]
        for name, src in tel["sources"].items():
            assert src["available"] or src["reason"], name
        if not tel["sources"]["tegrastats"]["available"]:
            assert r["energy"] == {"available": False, "reason": r["energy"]["reason"]}
    env = doc["environments"][0]
    import platform

    assert env["python"] == platform.python_version() and env["libraries"]["onnxruntime"] == onnxruntime.__version__
    assert env["cpu_count"] == os.cpu_count()
    md = (cpu_report / "report.md").read_text()
    for r in doc["results"]:
        assert r["name"] in md
        assert f"{r['latency_ms']['p50']:.3f}" in md


def test_html_embeds_plots(cpu_report: Path) -> None:
    pngs = decoded_pngs(cpu_report / "report.html")
    assert {"comparison", "histogram", "cdf", "timeline", "stages"} <= set(pngs)
    text = " ".join(parse_html(cpu_report / "report.html").text)
    assert "Per-stage times" in text and "Telemetry sources" in text and "no plots" not in text


def test_sustained_windows(cpu_bundles, cli, tmp_path: Path) -> None:
    out = tmp_path / "sustained"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--duration", 2, "--warmup", 2, "--interval", 0.2,
                "--report", out])
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out)
    r = doc["results"][0]
    s = r["sustained"]
    assert s["duration_s"] == 2 and doc["config"]["runs"] is None
    assert 1.9 < r["throughput"]["wall_s"] < 3.0
    assert sum(w["count"] for w in s["windows"]) == r["latency_ms"]["count"]
    t = np.asarray(r["samples"]["t_s"])
    lat = np.asarray(r["samples"]["latency_ms"])
    assert s["windows"][-1]["end_s"] >= max(2.0, t.max())
    for i, w in enumerate(s["windows"]):
        last = i == len(s["windows"]) - 1
        sel = lat[(t >= w["start_s"]) & ((t <= w["end_s"]) if last else (t < w["end_s"]))]
        assert sel.size == w["count"]
        if sel.size:
            assert w["p50"] == pytest.approx(float(np.percentile(sel, 50)))
    full = [w for w in s["windows"] if w["count"]]
    assert s["last_over_first_p50"] == pytest.approx(full[-1]["p50"] / full[0]["p50"])
    assert "Sustained run" in (out / "report.md").read_text()


def test_pipeline_and_eval(cpu_bundles, cli, tmp_path: Path) -> None:
    pytest.importorskip("edgemnv2.apps.pipeline")
    pytest.importorskip("edgemnv2.evaluate")
    import cv2

    data = tmp_path / "imagefolder"
    rng = np.random.default_rng(1)
    for c in ("class_0", "class_3"):
        (data / c).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(data / c / f"{i}.jpg"), rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--runs", 10, "--warmup", 1, "--pipeline", "--source",
                "synthetic://", "--frames", 12, "--eval", data, "--report", out])
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out, runs=10)
    r = doc["results"][0]
    pipe = r["pipeline"]
    assert pipe["frames"]["processed"] == 12
    keys = {"count", "mean", "std", "min", "p50", "p90", "p99", "max"}
    for stage in ("capture", "preprocess", "inference", "postprocess"):
        assert set(pipe["stages"][stage]) == keys  # the shared latency schema
        assert pipe["stages"][stage]["count"] > 0
    assert set(pipe["frame_age_ms"]) == keys and pipe["frame_age_ms"]["count"] == 12
    acc = r["accuracy"]
    assert acc["metric"] == "top1" and acc["images"] == 6 and acc["value"] == acc["metrics"]["top1"]
    assert acc["value"] * 6 == pytest.approx(round(acc["value"] * 6))  # a fraction of 6 images
    assert "pipeline capture" in (out / "report.md").read_text()


# -- other runtimes ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pi_bundle(tmp_path_factory, cli) -> Path:
    if importlib.util.find_spec("edgemnv2.targets.pi.runner") is None:
        pytest.skip("targets/pi/runner.py is not there yet")
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("pi") / "classify-pi"
    proc = cli(["build", "--target", "pi", "--task", "classify", "--width-mult", 0.35, "--resolution", 96,
                "--num-classes", 10, "--precision", "fp32", "--out", out])
    assert proc.returncode == 0, proc.stderr
    return out


def test_tflite_bundle(pi_bundle: Path, cli, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", pi_bundle, "--runs", 25, "--warmup", 2, "--threads", 2, "--report", out])
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out, runs=25)
    r = doc["results"][0]
    assert r["model_format"] == "tflite" and r["target"] == "pi" and r["threads"] == 2
    assert r["runtime"]["runtime"] in ("ai_edge_litert", "tflite_runtime", "tensorflow")
    assert r["runtime"]["threads"] == 2


@pytest.mark.coral
def test_coral_model_with_and_without_matplotlib(coral_dir: Path, cli, tmp_path: Path) -> None:
    """Coral's uint8 MobileNetV2 on LiteRT (this venv) and on tflite-runtime 2.14 (a venv without
    matplotlib, like a Pi): both write valid reports; the second one's HTML says how to get plots;
    `report merge` here renders the comparison with plots."""
    if importlib.util.find_spec("edgemnv2.targets.pi.runner") is None:
        pytest.skip("targets/pi/runner.py is not there yet")
    model = coral_dir / "mobilenet_v2_1.0_224_quant.tflite"
    args = ["--model", model, "--task", "classify", "--labels", coral_dir / "imagenet_labels.txt",
            "--image", coral_dir / "cat.bmp", "--runs", 15, "--warmup", 2]
    a = tmp_path / "litert"
    proc = cli(["bench", *args, "--report", a])
    assert proc.returncode == 0, proc.stderr
    doc = check_report(a, runs=15)
    r = doc["results"][0]
    assert r["input"][0]["shape"] == [1, 224, 224, 3] and r["input"][0]["dtype"] == "uint8"
    assert r["bundle"] is None and r["model_file"] == str(model) and r["runtime"]["runtime"] == "ai_edge_litert"
    from support.tflite_envs import TFLITE214

    if not TFLITE214.exists():
        pytest.skip(".venv-tflite214 is missing (make it with: bash scripts/setup_tflite214.sh)")
    b = tmp_path / "tflite214"
    proc = cli(["bench", *args, "--report", b], python=str(TFLITE214))
    assert proc.returncode == 0, proc.stderr
    doc_b = check_report(b, runs=15)
    assert doc_b["results"][0]["runtime"]["runtime"] == "tflite_runtime"
    has_mpl = "matplotlib" in doc_b["environments"][0]["libraries"]
    if not has_mpl:
        assert "matplotlib is not installed" in proc.stderr and "edgemnv2[report]" in proc.stderr
        assert parse_html(b / "report.html").imgs == []
        assert "edgemnv2[report]" in (b / "report.html").read_text()
    merged = tmp_path / "merged"
    proc = cli(["report", "merge", a / "report.json", b / "report.json", "--out", merged])
    assert proc.returncode == 0, proc.stderr
    doc_m = check_report(merged)
    assert doc_m["kind"] == "comparison" and len(doc_m["results"]) == 2 and len(doc_m["environments"]) == 2
    assert {"comparison", "histogram", "cdf"} <= set(decoded_pngs(merged / "report.html"))


def test_without_matplotlib(cpu_bundles, cli, tmp_path: Path) -> None:
    """matplotlib made unimportable: report.json and report.md are written, the HTML says what to install."""
    block = tmp_path / "block" / "matplotlib"
    block.mkdir(parents=True)
    (block / "__init__.py").write_text("raise ImportError('matplotlib blocked for this test')\n")
    out = tmp_path / "report"
    env = {"PYTHONPATH": os.pathsep.join([str(block.parent), os.environ.get("PYTHONPATH", "")])}
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--runs", 10, "--warmup", 1, "--report", out], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "matplotlib is not installed" in proc.stderr and "pip install 'edgemnv2[report]'" in proc.stderr
    check_report(out, runs=10)
    assert (out / "report.md").is_file()
    html = (out / "report.html").read_text()
    assert parse_html(out / "report.html").imgs == [] and "no plots" in html and "edgemnv2[report]" in html


# -- bad input ---------------------------------------------------------------------------------------
def _one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)


def test_nonexistent_bundle(cli, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", tmp_path / "no-such-bundle", "--report", out])
    _one_line_error(proc, "no-such-bundle does not exist")
    assert not (out / "report.json").exists()


def test_bad_second_bundle_fails_before_measuring(cpu_bundles, cli, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--bundle", tmp_path, "--report", out])
    _one_line_error(proc, "manifest.json")
    assert "measuring" not in proc.stderr and not (out / "report.json").exists()


def test_runtime_not_installed_says_what_to_install(cpu_bundles, cli, tmp_path: Path) -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    from edgemnv2.bundle import load_bundle, write_manifest

    jet = tmp_path / "classify-jetson"
    shutil.copytree(cpu_bundles["classify"], jet)
    m = dict(load_bundle(jet).manifest)
    onnx_file = m["model"]["file"]
    (jet / onnx_file).rename(jet / "model.engine")
    m["model"] = dict(m["model"], file="model.engine", format="tensorrt")
    m["target"], m["precision"] = "jetson", "fp16"
    m["files"] = {k: v for k, v in m["files"].items() if k != onnx_file}
    write_manifest(jet, m)
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", jet, "--report", out])
    _one_line_error(proc, "needs TensorRT, which is not installed here", "Jetson", "edgemnv2[jetson]")
    assert not out.exists()


def test_report_dir_not_writable(cpu_bundles, cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--runs", 5, "--report", blocker / "report"])
    _one_line_error(proc, "cannot create report directory")
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--runs", 5, "--report", blocker])
    _one_line_error(proc, "is not a directory")
    if os.geteuid() != 0:  # root writes anywhere; the permission case only means something for a user
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--runs", 5, "--report", ro])
            _one_line_error(proc, "not writable")
        finally:
            ro.chmod(0o755)


def test_zero_runs_and_other_bad_numbers(cpu_bundles, cli, tmp_path: Path) -> None:
    b = cpu_bundles["classify"]
    out = tmp_path / "report"
    _one_line_error(cli(["bench", "--bundle", b, "--runs", 0, "--report", out]), "--runs is 0", "nothing would be")
    _one_line_error(cli(["bench", "--bundle", b, "--duration", 0, "--report", out]), "--duration is 0")
    _one_line_error(cli(["bench", "--bundle", b, "--warmup", -1, "--report", out]), "--warmup is -1")
    _one_line_error(cli(["bench", "--bundle", b, "--threads", 0, "--report", out]), "--threads is 0")
    _one_line_error(cli(["bench", "--report", out]), "nothing to benchmark")
    _one_line_error(cli(["bench", "--bundle", b, "--pipeline", "--report", out]), "--pipeline needs --source")
    _one_line_error(cli(["bench", "--model", tmp_path / "x.onnx", "--report", out]), "does not exist")
    (tmp_path / "m.onnx").write_bytes(b"")
    _one_line_error(cli(["bench", "--model", tmp_path / "m.onnx", "--report", out]), "--task is required")
    assert not out.exists()


def test_with_jetson_and_pi_tools(cpu_bundles, cli, tmp_path: Path) -> None:
    """Stand-in tegrastats/nvpmodel/jetson_clocks/vcgencmd printing recorded output: the report carries
    power, energy per inference, the power mode, throttling and a power plot."""
    from test_bench_telemetry import fake_device_tools

    env = fake_device_tools(tmp_path / "bin")
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--duration", 1.5, "--warmup", 2, "--interval", 0.1,
                "--report", out], env=env)
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out)
    r = doc["results"][0]
    e = r["energy"]
    assert e["available"] and e["source"] == "VDD_IN" and e["mean_power_mw"] == pytest.approx(4761.0)
    assert e["per_inference_mj"] == pytest.approx(e["joules"] * 1000 / r["latency_ms"]["count"])
    assert e["joules"] == pytest.approx(4.761 * r["throughput"]["wall_s"], rel=0.05)
    assert any(w["power_mw_mean"] == pytest.approx(4761.0) for w in r["sustained"]["windows"])
    assert any(w["temp_max_c"] is not None for w in r["sustained"]["windows"])
    env0 = doc["environments"][0]
    assert env0["power_mode"] == "nvpmodel MAXN_SUPER, jetson_clocks off"
    assert env0["device_state"]["throttled"]["now"] == ["under_voltage", "throttled"]
    assert "under_voltage" in " ".join(doc["notes"])
    assert {"power", "timeline"} <= set(decoded_pngs(out / "report.html"))
    md = (out / "report.md").read_text()
    assert f"{e['per_inference_mj']:.2f}" in md and "nvpmodel MAXN_SUPER" in md


def test_jetson_bundle_pending_then_on_tensorrt_standins(cli, tmp_path: Path, monkeypatch, capsys) -> None:
    """A Jetson bundle built on this host (ONNX, no engine): bench gives the finish command. Then, with the
    TensorRT STAND-INS of tests/trt_standins.py (they mimic the API, they are not TensorRT), the engine is
    finished and bench runs through the TensorRT runner code path and writes a valid report."""
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    pytest.importorskip("torch")
    if importlib.util.find_spec("edgemnv2.targets.jetson.runner") is None:
        pytest.skip("targets/jetson/runner.py is not there yet")
    import trt_standins as standin

    from edgemnv2.cli.main import main

    bundle, out = tmp_path / "classify-jetson", tmp_path / "report"
    assert main(["build", "--target", "jetson", "--task", "classify", "--width-mult", "0.35", "--resolution", "96",
                 "--num-classes", "10", "--precision", "fp16", "--out", str(bundle)]) == 0
    proc = cli(["bench", "--bundle", bundle, "--report", out])  # pending: the finish command comes first
    _one_line_error(proc, "has no model.engine yet", f"edgemnv2 build --target jetson --bundle {bundle}")
    standin.install(monkeypatch, "10.3.0.30")
    assert main(["build", "--target", "jetson", "--bundle", str(bundle)]) == 0
    capsys.readouterr()
    assert main(["bench", "--bundle", str(bundle), "--runs", "12", "--warmup", "2", "--report", str(out)]) == 0
    doc = check_report(out, runs=12)
    r = doc["results"][0]
    assert r["model_format"] == "tensorrt" and r["target"] == "jetson" and r["precision"] == "fp16"
    assert r["runtime"]["runtime"] == "tensorrt" and r["runtime"]["version"] == "10.3.0.30"
    assert r["runtime"]["layers"]["precision_counts"]["fp16"] > 10  # stand-in layers, not verified on hardware


def test_eval_segment_and_class_mismatch(cpu_bundles, cli, tmp_path: Path) -> None:
    """--eval on VOC-style masks gives the same mIoU as edgemnv2.evaluate; a dataset whose classes do not fit
    the model fails before anything is measured."""
    synthetic = pytest.importorskip("edgemnv2.data.synthetic")
    from edgemnv2.data import open_dataset
    from edgemnv2.evaluate import evaluate
    from edgemnv2.predictor import Predictor

    seg = synthetic.write_dataset(tmp_path / "seg", "segment", counts={"val": 5}, size=128) / "val"
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["segment"], "--runs", 5, "--eval", seg, "--report", out])
    assert proc.returncode == 0, proc.stderr
    acc = check_report(out, runs=5)["results"][0]["accuracy"]
    with Predictor.from_bundle(cpu_bundles["segment"]) as p:
        ref = evaluate(p, open_dataset("segment", seg), progress=False)
    assert acc["metric"] == "miou" and acc["images"] == 5
    assert acc["value"] == pytest.approx(ref["metrics"]["miou"]) and acc["metrics"] == ref["metrics"]
    assert set(acc["per_class_iou"]) == {"background", "circle", "square", "triangle", "star"}
    det = synthetic.write_dataset(tmp_path / "det", "detect", counts={"val": 3}, size=160) / "val"
    proc = cli(["bench", "--bundle", cpu_bundles["detect"], "--runs", 5, "--eval", det, "--report", out / "det"])
    _one_line_error(proc, "--eval", "detect-cpu (detect)", "the model has 4 classes")
    assert "measuring" not in proc.stderr


def test_onnx_bundle_where_onnxruntime_is_missing(cpu_bundles, cli, tmp_path: Path) -> None:
    """The tflite-runtime 2.14 venv (a Pi-like install) has no ONNX Runtime: a cpu bundle says what to install."""
    from support.tflite_envs import TFLITE214

    if not TFLITE214.exists():
        pytest.skip(".venv-tflite214 is missing (make it with: bash scripts/setup_tflite214.sh)")
    import subprocess

    if subprocess.run([str(TFLITE214), "-c", "import onnxruntime"], capture_output=True).returncode == 0:
        pytest.skip("the tflite-runtime venv has onnxruntime")
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--report", out], python=str(TFLITE214))
    _one_line_error(proc, "needs ONNX Runtime, which is not installed here", "pip install onnxruntime")
    assert not out.exists()


def test_eval_picks_the_val_split(cpu_bundles, cli, tmp_path: Path) -> None:
    """--eval DIR with train/ val/ calib/ inside evaluates DIR/val, like build --eval and edgemnv2 eval
    (it used to read the three splits as three classes and fail on the class mismatch)."""
    pytest.importorskip("edgemnv2.evaluate")
    import cv2

    from edgemnv2.data import open_dataset

    data = tmp_path / "splits"
    rng = np.random.default_rng(2)
    per_split = {"train": 3, "val": 2, "calib": 1}  # a different count per split shows which one was read
    for split, n in per_split.items():
        for c in ("class_0", "class_3"):
            (data / split / c).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(data / split / c / f"{i}.jpg"), rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    assert len(open_dataset("classify", data, "val")) == 4  # the rule edgemnv2 eval uses (--split val)
    out = tmp_path / "report"
    proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--runs", 5, "--warmup", 1, "--eval", data,
                "--report", out])
    assert proc.returncode == 0, proc.stderr
    acc = check_report(out, runs=5)["results"][0]["accuracy"]
    assert acc["images"] == 4 and acc["dataset"] == str(data / "val")
