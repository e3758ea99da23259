"""Bundle manifests: written by the builder, validated on load with one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest

from edgemnv2.bundle import SCHEMA_VERSION, load_bundle
from edgemnv2.errors import EdgeError


@pytest.fixture()
def bundle_copy(cpu_bundles, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(cpu_bundles["classify"], dst)
    return dst


def test_manifest_records_what_the_brief_asks(cpu_bundles):
    b = load_bundle(cpu_bundles["detect"])
    m = b.manifest
    assert m["schema_version"] == SCHEMA_VERSION and m["task"] == "detect" and m["target"] == "cpu"
    assert m["input"]["layout"] == "NCHW" and m["input"]["color"] == "RGB" and len(m["input"]["mean"]) == 3
    assert [o["name"] for o in m["outputs"]] == ["boxes", "scores"]
    assert m["source"]["random_init"] is True and any("NO WEIGHTS" in w for w in m["warnings"])
    assert set(m["files"]) == {"model.onnx", "labels.txt"} and all(len(h) == 64 for h in m["files"].values())
    assert "onnxruntime" in m["versions"] and "torch" in m["versions"] and m["created"]
    assert m["reports"]["parity"]["max_abs_diff"] <= 1e-4
    assert b.labels == ["background", "class_1", "class_2", "class_3"]


def _edit(path, fn):
    m = json.loads((path / "manifest.json").read_text())
    fn(m)
    (path / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("case,match", [
    ("schema", "schema version 99"),
    ("missing_key", "lacks required key 'input'"),
    ("missing_file", "missing model.onnx"),
    ("hash", "does not match its hash"),
    ("escape", "escapes the bundle"),
    ("absolute", "is absolute"),
    ("not_json", "not valid JSON"),
    ("no_manifest", "not a bundle"),
])
def test_invalid_bundles(bundle_copy, case, match):
    p = bundle_copy
    if case == "schema":
        _edit(p, lambda m: m.update(schema_version=99))
    elif case == "missing_key":
        _edit(p, lambda m: m.pop("input"))
    elif case == "missing_file":
        (p / "model.onnx").unlink()
    elif case == "hash":
        with open(p / "labels.txt", "a") as f:
            f.write("extra\n")
    elif case == "escape":
        _edit(p, lambda m: m["files"].update({"../outside.txt": "0" * 64}))
    elif case == "absolute":
        _edit(p, lambda m: m["files"].update({"/etc/passwd": "0" * 64}))
    elif case == "not_json":
        (p / "manifest.json").write_text("{not json")
    else:
        (p / "manifest.json").unlink()
    with pytest.raises(EdgeError, match=match):
        load_bundle(p)


def test_bundle_path_is_a_file(tmp_path):
    f = tmp_path / "x.onnx"
    f.write_bytes(b"x")
    with pytest.raises(EdgeError, match="not a directory"):
        load_bundle(f)


@pytest.mark.parametrize("case,match", [
    ("std_zero", "input.std must be positive"),
    ("mean_two", "input.mean must be 3 numbers"),
    ("threshold_text", "postprocess.score_threshold must be a number"),
    ("empty_hash", "has no valid sha256"),
])
def test_hand_edited_manifest_fields(bundle_copy, case, match):
    if case == "std_zero":
        _edit(bundle_copy, lambda m: m["input"].update(std=[0, 1, 1]))
    elif case == "mean_two":
        _edit(bundle_copy, lambda m: m["input"].update(mean=[1, 2]))
    elif case == "threshold_text":
        _edit(bundle_copy, lambda m: m.update(postprocess={"score_threshold": "x"}))
    else:
        _edit(bundle_copy, lambda m: m["files"].update({"labels.txt": ""}))
    with pytest.raises(EdgeError, match=match):
        load_bundle(bundle_copy)


def test_dynamic_onnx_input_is_refused(cpu_bundles, tmp_path):
    onnx = pytest.importorskip("onnx")
    from edgemnv2.predictor import Predictor

    proto = onnx.load(str(cpu_bundles["classify"] / "model.onnx"))
    for i, name in ((0, "n"), (2, "h"), (3, "w")):
        proto.graph.input[0].type.tensor_type.shape.dim[i].dim_param = name
    path = tmp_path / "dynamic.onnx"
    onnx.save(proto, str(path))
    predictor = Predictor.from_model(path, "classify")
    with pytest.raises(EdgeError, match="dynamic input shape"):
        predictor.activate()
    assert not predictor.runner.active  # nothing left loaded after a failed activate
