"""The shipped shapes models reproduce their recorded held-out accuracy (and meet the bars).

The held-out split is regenerated from the seed recorded in ``edgemnv2/weights/shapes_<task>.json``; a
CPU bundle is built from them by name (``--weights shapes``: the path users of the synthetic demos
take) and evaluated with ``edgemnv2 eval``.
"""

from __future__ import annotations

import json

import pytest

from edgemnv2.model_source import default_weights
from edgemnv2.tasks.base import Task

BARS = {"classify": ("top1", 0.95), "detect": ("map50", 0.80), "segment": ("miou", 0.80)}


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "detect", "segment"])
def test_default_model_accuracy(task, tmp_path, cli):
    pytest.importorskip("torch")
    meta = default_weights(Task(task), "shapes")
    if meta is None:
        pytest.skip(f"no built-in shapes {task} model (run python scripts/train_defaults.py)")
    ds = meta["dataset"]
    assert meta["labels"][0] == ("background" if task != "classify" else "circle")
    assert meta["normalization"] == {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}
    assert meta["path"].stat().st_size < 8 * 2 ** 20
    from edgemnv2.data.synthetic import write_dataset

    n_val = ds["counts"]["val"]
    data = write_dataset(tmp_path / "data", task, {"val": n_val}, ds["size"], ds["seed"])
    bundle = tmp_path / "bundle"
    r = cli(["build", "--target", "cpu", "--task", task, "--weights", "shapes", "--out", bundle])
    assert r.returncode == 0, r.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["source"]["origin"] == "named" and manifest["source"]["weights_name"] == "shapes"
    assert not manifest["warnings"]
    r = cli(["eval", "--bundle", bundle, "--data", data, "--split", "val", "--json"])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["images"] == meta["metrics"]["images"] == n_val
    for k, v in meta["metrics"]["fp32"].items():
        assert got["metrics"][k] == pytest.approx(v, abs=2e-3), (k, got["metrics"], meta["metrics"])
    name, bar = BARS[task]
    assert got["metrics"][name] >= bar
