"""``build --target pi --task segment --in-model-argmax``: ARG_MAX inside the .tflite (a class map).

The class-map file must give the masks of the scores bundle (numpy's argmax), fp32 and int8, from
the real CLI, as a bundle and as a bare ``--model``; the option is refused where it does not apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def seg(tmp_path_factory, cli) -> dict:
    from edgemnv2.data.synthetic import write_dataset

    tmp = tmp_path_factory.mktemp("argmax")
    calib = write_dataset(tmp / "ds", "segment", {"calib": 10}, size=200, seed=3) / "calib"
    out = {}
    for prec in ("fp32", "int8"):
        for argmax in (False, True):
            key = f"{prec}-{'argmax' if argmax else 'scores'}"
            out[key] = tmp / key
            args = ["build", "--target", "pi", "--task", "segment", "--weights", "shapes", "--precision", prec,
                    "--out", out[key]] + (["--calib", calib] if prec == "int8" else []) + \
                (["--in-model-argmax"] if argmax else [])
            r = cli(args)
            assert r.returncode == 0, r.stderr
            if argmax:
                assert "in-model argmax vs numpy argmax: 100.0000% of pixels equal" in r.stderr, r.stderr
    return out


@pytest.mark.parametrize("prec", ["fp32", "int8"])
def test_manifest_and_graph(seg, prec) -> None:
    from edgemnv2.tflite_file import read_tflite

    m = json.loads((seg[f"{prec}-argmax"] / "manifest.json").read_text())
    (out,) = m["outputs"]
    assert out["activation"] == "argmax" and out["dtype"] == "int32" and len(out["shape"]) == 3
    assert m["reports"]["in_model_argmax"]["pixels_equal"] == 1.0
    assert m["model"]["ops"].get("ARG_MAX") == 1
    assert [o.name for o in read_tflite(seg[f"{prec}-argmax"] / "model.tflite").ops][-1] == "ARG_MAX"
    if prec == "int8":  # calibrated on the same images: the int8 input is unchanged
        scores = json.loads((seg["int8-scores"] / "manifest.json").read_text())
        assert m["input"] == scores["input"]


@pytest.mark.parametrize("prec", ["fp32", "int8"])
def test_same_masks_as_the_scores_bundle(seg, prec) -> None:
    from edgemnv2.data.synthetic import synthetic_frame
    from edgemnv2.predictor import Predictor

    with Predictor.from_bundle(seg[f"{prec}-scores"]) as a, Predictor.from_bundle(seg[f"{prec}-argmax"]) as b:
        for i in range(6):
            img = synthetic_frame(i, 240, seed=11, task="segment")
            ma, mb = a.predict(img).mask, b.predict(img).mask
            assert ma.shape == mb.shape == img.shape[:2]
            assert np.array_equal(ma, mb)
            assert len(np.unique(mb)) > 1  # the scene's shapes were found, not a blank mask


def test_bare_class_map_file(seg, tmp_path, cli) -> None:
    import cv2

    from edgemnv2.data.synthetic import synthetic_frame

    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), synthetic_frame(2, 200, seed=5, task="segment")[..., ::-1])
    want = json.loads(cli(["predict", img, "--bundle", seg["int8-scores"], "--json"]).stdout)
    r = cli(["predict", img, "--model", seg["int8-argmax"] / "model.tflite", "--task", "segment", "--json"])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["semantics"]["outputs"][0]["rule"] == "graph-op"
    assert len(want["classes"]) > 1 and got["classes"] == want["classes"]  # pixels per class


@pytest.mark.parametrize("args", [["--target", "cpu", "--task", "segment"], ["--target", "pi", "--task", "classify"]])
def test_refused_elsewhere(cli, tmp_path: Path, args) -> None:
    r = cli(["build", *args, "--in-model-argmax", "--out", tmp_path / "x"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: --in-model-argmax is for --target pi --task segment"
    assert not (tmp_path / "x").exists()
