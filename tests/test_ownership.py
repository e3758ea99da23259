"""Output directories: we replace only what we wrote (issue 11 item 1), and clean up after killed runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import run_cli

from edgemnv2.errors import EdgeError
from edgemnv2.fileio import OutputKind, check_output_dir, clean_stale_siblings, staged_dir

BUILD = ["build", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--num-classes", "3"]


def _error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _project(tmp_path):
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / "notes.txt").write_text("three weeks of notes")
    return proj


def test_build_refuses_to_replace_a_folder_that_is_not_a_bundle(tmp_path):
    proj = _project(tmp_path)
    line = _error_line(run_cli([*BUILD, "--out", proj]))
    assert "is not an edgemnv2 bundle" in line and "refusing to replace" in line
    assert (proj / "notes.txt").read_text() == "three weeks of notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_data_synth_refuses_a_foreign_folder_and_replaces_its_own(tmp_path):
    proj = _project(tmp_path)
    small = ["data", "synth", "--task", "classify", "--train", "2", "--val", "1", "--calib", "1", "--size", "32"]
    assert "is not an edgemnv2 dataset" in _error_line(run_cli([*small, "--out", proj]))
    assert (proj / "notes.txt").is_file()
    ds = tmp_path / "ds"
    for seed in ("1", "2"):  # the second run replaces the dataset the first one wrote
        r = run_cli([*small, "--out", ds, "--seed", seed])
        assert r.returncode == 0, r.stderr
        assert json.loads((ds / "dataset.json").read_text())["seed"] == int(seed)


def test_build_refuses_the_current_directory(tmp_path):
    proj = _project(tmp_path)
    line = _error_line(run_cli([*BUILD, "--out", "."], cwd=proj))
    assert "is the current directory" in line
    line = _error_line(run_cli([*BUILD, "--out", ".."], cwd=proj))
    assert "holds the current directory" in line
    assert (proj / "notes.txt").is_file()


@pytest.mark.parametrize("flag", ["--calib", "--eval", "--labels"])
def test_build_out_must_not_be_or_hold_an_input(tmp_path, flag):
    data = tmp_path / "data"
    (data / "calib").mkdir(parents=True)
    (data / "calib" / "a.jpg").write_bytes(b"x")
    given = data / "calib"
    if flag == "--labels":
        given = data / "labels.txt"
        given.write_text("a\nb\nc\n")
    for out in (given, data):
        line = _error_line(run_cli([*BUILD, flag, given, "--out", out]))
        assert f"the {flag} input" in line
    assert (data / "calib" / "a.jpg").read_bytes() == b"x"


def test_build_refuses_system_directories(tmp_path):
    for out in ("/proc/edgemnv2-bundle", "/sys/edgemnv2-bundle"):
        assert "system directory" in _error_line(run_cli([*BUILD, "--out", out]))


def test_replaces_our_own_and_empty_directories(tmp_path):
    ours = tmp_path / "bundle"
    ours.mkdir()
    (ours / "manifest.json").write_text(json.dumps({"kind": "edgemnv2-bundle"}))
    (ours / "model.onnx").write_bytes(b"old")
    empty = tmp_path / "empty"
    empty.mkdir()
    for final in (ours, empty):
        with staged_dir(final) as tmp:
            (tmp / "new").write_text("new")
        assert sorted(p.name for p in final.iterdir()) == ["new"]
    # a dataset is not a bundle: a build may not replace it
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset.json").write_text(json.dumps({"kind": "edgemnv2-dataset"}))
    with pytest.raises(EdgeError, match="not an edgemnv2 bundle"):
        check_output_dir(ds, OutputKind.bundle)
    check_output_dir(ds, OutputKind.dataset)


def test_a_folder_filled_during_the_build_is_not_replaced(tmp_path):
    final = tmp_path / "b"
    with pytest.raises(EdgeError, match="refusing to replace"):
        with staged_dir(final) as tmp:
            (tmp / "model.onnx").write_text("new")
            final.mkdir()
            (final / "notes.txt").write_text("mine")
    assert (final / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_partials_of_killed_runs_are_cleaned(tmp_path):
    final = tmp_path / "b"
    dead, old = _dead_pid(), time.time() - 3600
    stale = tmp_path / f".b.{dead}-0123456789ab.partial"
    legacy = tmp_path / ".b.0123456789ab.partial"
    live = tmp_path / f".b.{os.getpid()}-0123456789ab.partial"  # a run in progress (this process)
    fresh = tmp_path / f".b.{dead}-ba9876543210.partial"  # died a moment ago: left for a while
    foreign = tmp_path / ".b.mine.partial"  # not our name pattern
    for d in (stale, legacy, live, fresh, foreign):
        d.mkdir()
        (d / "x").write_text("x")
    for d in (stale, live, foreign):
        os.utime(d, (old, old))
    os.utime(legacy, (old - 2 * 86400, old - 2 * 86400))
    clean_stale_siblings(final)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, fresh, foreign))
    # the same cleaning happens when the next build starts
    os.utime(fresh, (old, old))
    with staged_dir(final) as tmp:
        (tmp / "manifest.json").write_text(json.dumps({"kind": "edgemnv2-bundle"}))
    assert not fresh.exists() and live.exists() and final.is_dir()


def test_a_previous_bundle_parked_by_a_killed_run_is_put_back(tmp_path):
    final = tmp_path / "b"
    parked = tmp_path / f".b.old-{_dead_pid()}"
    parked.mkdir()
    (parked / "manifest.json").write_text(json.dumps({"kind": "edgemnv2-bundle"}))
    old = time.time() - 3600
    os.utime(parked, (old, old))
    clean_stale_siblings(final)
    assert (final / "manifest.json").is_file() and not parked.exists()
