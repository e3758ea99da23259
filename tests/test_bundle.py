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
