"""``edgemnv2 report merge``: comparison of real bench reports, and regressions against a baseline."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from test_bench_cli import check_report, decoded_pngs

from edgemnv2.profiling import latency_stats


@pytest.fixture(scope="module")
def two_reports(cpu_bundles, cli, tmp_path_factory) -> tuple:
    tmp = tmp_path_factory.mktemp("merge")
    a, b = tmp / "a", tmp / "b"
    for out, threads in ((a, 1), (b, 2)):
        proc = cli(["bench", "--bundle", cpu_bundles["classify"], "--bundle", cpu_bundles["detect"], "--runs", 20,
                    "--warmup", 2, "--threads", threads, "--report", out])
        assert proc.returncode == 0, proc.stderr
    return a, b


def test_merge_two_reports(two_reports, cli, tmp_path: Path) -> None:
    a, b = two_reports
    out = tmp_path / "merged"
    proc = cli(["report", "merge", a / "report.json", b, "--out", out])  # a file or a report directory
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out)
    src = [json.loads((p / "report.json").read_text()) for p in (a, b)]
    assert doc["kind"] == "comparison" and doc["sources"] == [str(a / "report.json"), str(b)]
    assert len(doc["results"]) == 4 and [r["threads"] for r in doc["results"]] == [1, 1, 2, 2]
    assert len(doc["environments"]) == 1  # same machine, same software: one environment
    for r, orig in zip(doc["results"], src[0]["results"] + src[1]["results"]):
        assert r["samples"] == orig["samples"] and r["latency_ms"] == orig["latency_ms"]
    assert "regressions" not in doc
    assert {"comparison", "histogram", "cdf", "stages"} <= set(decoded_pngs(out / "report.html"))
    assert "classify-cpu" in proc.stdout and "detect-cpu" in (out / "report.md").read_text()


def _slowed(report: dict, factor: float) -> dict:
    """The report as if every latency sample were ``factor`` times larger (same statistics code)."""
    doc = copy.deepcopy(report)
    for r in doc["results"]:
        r["samples"]["latency_ms"] = [v * factor for v in r["samples"]["latency_ms"]]
        r["latency_ms"] = latency_stats(r["samples"]["latency_ms"])
        r["throughput"]["model_ips"] = 1000.0 / r["latency_ms"]["mean"]
    return doc


def test_baseline_regressions(two_reports, cli, tmp_path: Path) -> None:
    a, _ = two_reports
    cur = json.loads((a / "report.json").read_text())
    fast = tmp_path / "fast-baseline.json"  # an earlier run that was twice as fast: everything regressed
    fast.write_text(json.dumps(_slowed(cur, 0.5)))
    out = tmp_path / "cmp"
    proc = cli(["report", "merge", a, "--baseline", fast, "--out", out])
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out)
    regs = doc["regressions"]
    metrics = sorted({g["metric"] for g in regs})
    assert metrics == ["model IPS", "p50 latency ms", "p99 latency ms"]
    assert len(regs) == 3 * len(cur["results"])
    for g in regs:
        if g["metric"] == "p50 latency ms":
            assert g["change"] == pytest.approx(1.0)  # twice the baseline latency
            assert g["current"] == pytest.approx(2 * g["baseline"])
        if g["metric"] == "model IPS":
            assert g["change"] == pytest.approx(0.5)
    assert "regression:" in proc.stderr and "Regressions against the baseline" in (out / "report.md").read_text()
    proc = cli(["report", "merge", a, "--baseline", fast, "--out", out, "--fail-on-regression"])
    assert proc.returncode == 1 and "regression:" in proc.stderr

    slower = tmp_path / "slow-baseline.json"  # the baseline was slower: no regression
    slower.write_text(json.dumps(_slowed(cur, 1.5)))
    proc = cli(["report", "merge", a, "--baseline", slower, "--out", out, "--fail-on-regression"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "report.json").read_text())["regressions"] == []
    assert "no regression" in proc.stderr

    # just inside / just outside the threshold: 8 % slower passes 10 %, fails 5 %
    near = tmp_path / "near.json"
    near.write_text(json.dumps(_slowed(cur, 1 / 1.08)))
    proc = cli(["report", "merge", a, "--baseline", near, "--out", out, "--tail-threshold", 1.0])
    assert json.loads((out / "report.json").read_text())["regressions"] == [], proc.stderr
    proc = cli(["report", "merge", a, "--baseline", near, "--out", out, "--threshold", 0.05, "--tail-threshold", 1])
    regs = json.loads((out / "report.json").read_text())["regressions"]
    assert {g["metric"] for g in regs} == {"p50 latency ms", "model IPS"}
    assert all(g["change"] == pytest.approx(0.08) for g in regs if g["metric"] == "p50 latency ms")


def test_accuracy_regression(two_reports, cli, tmp_path: Path) -> None:
    a, _ = two_reports
    cur = json.loads((a / "report.json").read_text())
    for r in cur["results"]:
        r["accuracy"] = {"metric": "top1", "value": 0.70, "dataset": "val", "images": 100}
    curp = tmp_path / "cur.json"
    curp.write_text(json.dumps(cur))
    base = copy.deepcopy(cur)
    for r in base["results"]:
        r["accuracy"]["value"] = 0.72
    basep = tmp_path / "base.json"
    basep.write_text(json.dumps(base))
    out = tmp_path / "cmp"
    proc = cli(["report", "merge", curp, "--baseline", basep, "--out", out])
    assert proc.returncode == 0, proc.stderr
    regs = [g for g in json.loads((out / "report.json").read_text())["regressions"] if g["metric"] == "top1"]
    assert len(regs) == 2 and all(g["change"] == pytest.approx(0.02) for g in regs)
    proc = cli(["report", "merge", curp, "--baseline", basep, "--out", out, "--accuracy-drop", 0.05])
    assert not [g for g in json.loads((out / "report.json").read_text())["regressions"] if g["metric"] == "top1"]


def test_merge_bad_input(two_reports, cli, tmp_path: Path) -> None:
    a, _ = two_reports
    out = tmp_path / "out"
    for args, needle in (
        ([tmp_path / "missing.json"], "does not exist"),
        ([tmp_path], "has no report.json"),
    ):
        proc = cli(["report", "merge", *args, "--out", out])
        assert proc.returncode == 1 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = cli(["report", "merge", bad, "--out", out])
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"kind": "edgemnv2-camera-profile"}))
    proc = cli(["report", "merge", other, "--out", out])
    assert proc.returncode == 1 and "not an edgemnv2 benchmark report" in proc.stderr
    future = json.loads((a / "report.json").read_text())
    future["schema_version"] = 99
    fp = tmp_path / "future.json"
    fp.write_text(json.dumps(future))
    proc = cli(["report", "merge", fp, "--out", out])
    assert proc.returncode == 1 and "schema version 99" in proc.stderr
    proc = cli(["report", "merge", a, "--out", out, "--threshold", -0.1])
    assert proc.returncode == 1 and "--threshold is -0.1" in proc.stderr
    assert not out.exists()


def test_samples_reproduce_stats_after_merge(two_reports) -> None:
    a, _ = two_reports
    doc = json.loads((a / "report.json").read_text())
    for r in doc["results"]:
        lat = np.asarray(r["samples"]["latency_ms"])
        assert latency_stats(lat.tolist()) == r["latency_ms"]


def _one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)


def test_merge_checks_the_schema(two_reports, cli, tmp_path: Path) -> None:
    """A report with the right header but a broken body: one line naming the file and the first violation
    (was a TypeError traceback on `results: "garbage"`)."""
    a, _ = two_reports
    good = json.loads((a / "report.json").read_text())
    out = tmp_path / "out"
    cases = [(lambda d: d.__setitem__("results", "garbage"), "results: 'garbage' is not of type 'array'"),
             (lambda d: d["results"][1]["latency_ms"].__setitem__("p50", "fast"), "results/1/latency_ms/p50"),
             (lambda d: d["results"][0].pop("samples"), "'samples' is a required property"),
             (lambda d: d["environments"][0].pop("id"), "environments/0")]
    for i, (spoil, needle) in enumerate(cases):
        doc = copy.deepcopy(good)
        spoil(doc)
        bad = tmp_path / f"bad{i}.json"
        bad.write_text(json.dumps(doc))
        proc = cli(["report", "merge", a, bad, "--out", out])
        _one_line_error(proc, f"{bad} does not match the report schema", needle)
        proc = cli(["report", "merge", a, "--baseline", bad, "--out", out])  # the baseline too
        _one_line_error(proc, str(bad), needle)
    assert not out.exists()


def test_same_report_twice_is_listed_once(two_reports, cli, tmp_path: Path) -> None:
    a, b = two_reports
    n_a = len(json.loads((a / "report.json").read_text())["results"])
    out = tmp_path / "twice"
    proc = cli(["report", "merge", a, a / "report.json", b, "--out", out])
    assert proc.returncode == 0, proc.stderr
    doc = check_report(out)
    assert len(doc["results"]) == 2 * n_a  # a once, b once
    keys = [(r["environment"], r["name"], r["threads"]) for r in doc["results"]]
    assert len(set(keys)) == len(keys)
    assert sum(line.startswith("classify-cpu") for line in proc.stdout.splitlines()) == 2
    assert "same measurement" in proc.stderr and "same measurement" in (out / "report.md").read_text()


def test_different_models_get_a_note(two_reports, cli, tmp_path: Path) -> None:
    """A baseline of another model under the same bundle name (1.0-width-like change: here 0.5@128 vs the
    0.35@96 classify bundle): the comparison says the models differ and in what."""
    from conftest import _build_cpu

    a, _ = two_reports
    other = _build_cpu(tmp_path, "classify", 0.5, 128, num_classes=10)  # named classify-cpu like the original
    base = tmp_path / "base"
    proc = cli(["bench", "--bundle", other, "--runs", 5, "--warmup", 1, "--threads", 1, "--report", base])
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "cmp"
    proc = cli(["report", "merge", a, "--baseline", base, "--out", out])
    assert proc.returncode == 0, proc.stderr
    notes = [n for n in check_report(out)["notes"] if "different baseline model" in n]
    assert len(notes) == 1, notes
    assert "mobilenet_v2 0.35@96x96 classify fp32 vs mobilenet_v2 0.5@128x128 classify fp32" in notes[0]
    assert "width, resolution differ" in notes[0] and "different baseline model" in proc.stderr
    # the comparison itself (a classify and a detect bundle) says the models differ in task and resolution
    note = [n for n in json.loads((out / "report.json").read_text())["notes"] if "compared models differ" in n]
    assert len(note) == 1 and "resolution, task" in note[0]
    proc = cli(["report", "merge", base, "--out", tmp_path / "one"])  # one model: no such note
    assert proc.returncode == 0 and "models differ" not in proc.stderr


def test_merge_without_jsonschema_says_what_to_install(two_reports, cli, tmp_path: Path) -> None:
    import os

    a, _ = two_reports
    block = tmp_path / "block" / "jsonschema"
    block.mkdir(parents=True)
    (block / "__init__.py").write_text("raise ImportError('jsonschema blocked for this test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(block.parent), os.environ.get("PYTHONPATH", "")])}
    proc = cli(["report", "merge", a, "--out", tmp_path / "out"], env=env)
    _one_line_error(proc, "needs jsonschema", "edgemnv2[report]")
    assert not (tmp_path / "out").exists()


def test_reads_schema_version_1(two_reports, cli, tmp_path: Path) -> None:
    """A version 1 report (before runtime.delegation existed) still merges with a version 2 one."""
    a, b = two_reports
    old = json.loads((a / "report.json").read_text())
    old["schema_version"] = 1
    for r in old["results"]:
        r["runtime"].pop("delegation", None)
    p = tmp_path / "v1.json"
    p.write_text(json.dumps(old))
    out = tmp_path / "out"
    proc = cli(["report", "merge", p, b, "--out", out])
    assert proc.returncode == 0, proc.stderr
    assert check_report(out)["schema_version"] == 2
