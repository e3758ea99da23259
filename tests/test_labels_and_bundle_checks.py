"""Labels (issue 13 item 6) and a bundle's model checked against its manifest (issue 11 weak spots):
comment and blank lines are not classes, count mismatches are one-line errors (the background
off-by-one is applied and said), the runner follows the manifest's target/format, not the suffix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import run_cli

from edgemnv2.bundle import write_manifest
from edgemnv2.labels import read_labels


def _error_line(r) -> str:
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _photo(tmp_path):
    import cv2

    path = tmp_path / "img.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return path


def test_comment_and_blank_lines_are_not_classes(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("# shapes, v2\ncircle\n\n  square  \n# (triangles were dropped)\nstar\n\n")
    assert read_labels(f) == ["circle", "square", "star"]


def _labels_file(tmp_path, lines):
    f = tmp_path / "labels.txt"
    f.write_text("".join(f"{x}\n" for x in lines))
    return f


def _predict_bare(cpu_bundles, tmp_path, labels):
    model = cpu_bundles["classify"] / "model.onnx"  # 10 classes
    return run_cli(["predict", _photo(tmp_path), "--model", model, "--task", "classify", "--labels", labels,
                    "--json", "--top-k", "10"])


def test_label_count_mismatch_is_an_error(cpu_bundles, tmp_path):
    line = _error_line(_predict_bare(cpu_bundles, tmp_path, _labels_file(tmp_path, [f"c{i}" for i in range(5)])))
    assert "has 5 labels but the model outputs 10 classes" in line


def test_labels_with_comments_match_the_outputs(cpu_bundles, tmp_path):
    labels = _labels_file(tmp_path, ["# ten classes", *[f"c{i}" for i in range(10)], ""])
    r = _predict_bare(cpu_bundles, tmp_path, labels)
    assert r.returncode == 0, r.stderr
    assert {t["label"] for t in json.loads(r.stdout)["top"]} == {f"c{i}" for i in range(10)}


def test_background_off_by_one_is_applied_and_said(cpu_bundles, tmp_path):
    r = _predict_bare(cpu_bundles, tmp_path, _labels_file(tmp_path, [f"c{i}" for i in range(1, 10)]))
    assert r.returncode == 0, r.stderr
    assert "9 labels for 10 model classes: class 0 is taken as 'background'" in r.stderr
    top = {t["index"]: t["label"] for t in json.loads(r.stdout)["top"]}
    assert top[0] == "background" and all(top[i] == f"c{i}" for i in range(1, 10))


@pytest.fixture()
def bundle_copy(cpu_bundles, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(cpu_bundles["classify"], dst)
    return dst


def _rewrite(bundle, **changes):
    m = json.loads((bundle / "manifest.json").read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            m[section][field] = value
        else:
            m[section] = value
    write_manifest(bundle, m)  # hashes refreshed: only the inconsistency remains


def test_bundle_labels_fewer_than_classes_is_an_error(bundle_copy, tmp_path):
    (bundle_copy / "labels.txt").write_text("a\nb\nc\n")
    _rewrite(bundle_copy)
    line = _error_line(run_cli(["predict", _photo(tmp_path), "--bundle", bundle_copy]))
    assert "labels.txt has 3 labels but the manifest says 10 classes" in line


def test_bundle_model_file_must_match_the_manifest(bundle_copy, tmp_path):
    from edgemnv2.model_source import ModelSource
    from edgemnv2.models.zoo import build_model
    from edgemnv2.targets.cpu.build import export_source
    from edgemnv2.tasks.base import Task
    from edgemnv2.tasks.preprocess import IMAGENET

    src = ModelSource(build_model("classify", 0.35, 3, 96).eval(), Task.classify, 0.35, 96, 3, ["a", "b", "c"],
                      IMAGENET, "random")
    export_source(src, bundle_copy / "model.onnx")
    _rewrite(bundle_copy)
    line = _error_line(run_cli(["predict", _photo(tmp_path), "--bundle", bundle_copy]))
    assert "model.onnx outputs 3 classes but the manifest says 10" in line


def test_runner_follows_the_manifest_not_the_suffix(bundle_copy, tmp_path):
    img = _photo(tmp_path)
    _rewrite(bundle_copy, target="pi")  # relabelled: the ONNX file must not quietly run on ONNX Runtime
    assert "target pi runs tflite models, but the manifest's model format is 'onnx'" in _error_line(
        run_cli(["predict", img, "--bundle", bundle_copy]))
    _rewrite(bundle_copy, target="pi", model__format="tflite")
    assert "model file model.onnx is not a tflite file (.tflite)" in _error_line(
        run_cli(["predict", img, "--bundle", bundle_copy]))
    _rewrite(bundle_copy, target="cpu", model__format="onnx")
    assert run_cli(["predict", img, "--bundle", bundle_copy]).returncode == 0
