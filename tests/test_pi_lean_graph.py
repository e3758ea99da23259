"""The Pi graph is lean (issue 14): normalisation folded exactly, int8 input without QUANTIZE, op inventory.

Exactness: the folded graphs (float TFLite, the same TF graph the int8 converter quantizes) are
compared with PyTorch on real photos whose border pixels are pushed to 0 / 255, far from the mean,
so a fold that is wrong at the zero-padded borders (mean folded into the bias) would show.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from edgemnv2.targets.pi.tf_twin import InputAffine  # noqa: E402

if TYPE_CHECKING:
    from edgemnv2.model_source import ModelSource

LEAN_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"}


def _photos(res: int, n: int = 3) -> np.ndarray:
    """(n, res, res, 3) float pixels: resized real photos, outer ring of pixels alternately 0 and 255."""
    import cv2

    from tests.support.photos import source_photos

    out = []
    for i, img in enumerate(source_photos()[:n]):
        x = cv2.resize(img, (res, res), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        edge = 255.0 if i % 2 else 0.0
        x[0, :], x[-1, :], x[:, 0], x[:, -1] = edge, 255.0 - edge, edge, 255.0 - edge
        out.append(x)
    return np.stack(out)


def _source(task: str, weights: str) -> ModelSource:
    """A built-in trained model (random weights hide border errors: their outputs barely see the borders)."""
    from edgemnv2.model_source import BuildOptions, resolve_source

    return resolve_source(BuildOptions(task=task, out=Path("unused"), target="pi", weights=Path(weights)))


def _max_diff(path: Path, src: ModelSource, affine: InputAffine, pixels: np.ndarray) -> float:
    """Max |float TFLite fed v = (pixels - offset) / scale - PyTorch fed the normalised pixels|."""
    from edgemnv2.targets.pi.build import _torch_reference
    from edgemnv2.targets.pi.runner import TFLiteRunner

    worst = 0.0
    with TFLiteRunner(path, xnnpack=False) as r:
        name = r.input_specs()[0].name
        outs = [s.name for s in r.output_specs()]
        for px in pixels:
            got = r.infer({name: ((px[None] - affine.offset) / affine.scale).astype(np.float32)})
            for o, ref in zip(outs, _torch_reference(src, px[None])):
                worst = max(worst, float(np.abs(got[o] - ref).max()))
    return worst


@pytest.mark.parametrize("task,weights,int8_input,fold_adds", [
    ("classify", "imagenet", True, 0),  # Google's (tf padding, mean = std = 128): all in the input quantization
    ("classify", "imagenet", False, 1),  # float pixels: - mean as one ADD, / std in the first conv
    ("classify", "shapes", True, 1),  # torch padding, per-channel means: one ADD, per-channel scales in the conv
    ("segment", "shapes", True, 1),
], ids=str)
def test_folded_normalisation_is_exact(tmp_path, task, weights, int8_input, fold_adds):
    from edgemnv2.targets.pi.runner import TFLiteRunner
    from edgemnv2.targets.pi.tf_twin import concrete_function, convert_float

    src = _source(task, weights)
    norm = src.normalization
    affine = InputAffine.for_int8(norm.mean, norm.std) if int8_input else InputAffine()
    path = tmp_path / "m.tflite"
    path.write_bytes(convert_float(concrete_function(src.model, task, src.resolution, norm.mean, norm.std, affine)))
    assert _max_diff(path, src, affine, _photos(src.resolution)) <= 1e-4
    base = tmp_path / "base.tflite"  # the same model with nothing to fold: its ADDs are the model's own
    base.write_bytes(convert_float(concrete_function(src.model, task, src.resolution)))
    with TFLiteRunner(path, xnnpack=False) as r, TFLiteRunner(base, xnnpack=False) as b:
        ops, base_ops = r.op_counts(), b.op_counts()
    assert "MUL" not in ops and "SUB" not in ops and "QUANTIZE" not in ops, ops
    assert ops.get("ADD", 0) == base_ops.get("ADD", 0) + fold_adds, (ops, base_ops)


def test_bias_fold_would_be_wrong_at_the_borders(tmp_path):
    """The check above can fail: folding the mean into the bias (the zero padding then stands for
    pixel 0, not the mean) differs from PyTorch: the windows over the padded border see the wrong value."""
    from edgemnv2.targets.pi.tf_twin import concrete_function, convert_float

    src = _source("classify", "imagenet")
    naive = copy.deepcopy(src.model)
    conv, bn = naive.features[0][0], naive.features[0][1]
    with torch.no_grad():  # conv(W / 128) on raw pixels, bias - sum(W) * 128 / 128
        conv.weight.div_(128.0)
        bn.bias.sub_(conv.weight.sum(dim=(1, 2, 3)) * 128.0 * bn.weight / torch.sqrt(bn.running_var + bn.eps))
    path = tmp_path / "naive.tflite"
    path.write_bytes(convert_float(concrete_function(naive, "classify", src.resolution)))
    assert _max_diff(path, src, InputAffine(), _photos(src.resolution, 1)) > 1e-2


def test_default_int8_classifier_is_lean(tmp_path):
    """A real build of the default classifier (Google's MobileNetV2 1.0@224): int8 input, no QUANTIZE /
    MUL / PAD, only the ops that do the work, recorded in the manifest."""
    from edgemnv2.model_source import BuildOptions
    from edgemnv2.targets.pi.build import build_pi_bundle
    from tests.support.photos import write_photo_folder

    calib = write_photo_folder(tmp_path / "calib", 12, seed=3)
    man = build_pi_bundle(BuildOptions(task="classify", out=tmp_path / "b", target="pi", precision="int8",
                                       weights=Path("imagenet"), calib=calib, calib_count=12))
    ops = man["model"]["ops"]
    assert set(ops) <= LEAN_OPS, ops
    assert ops["CONV_2D"] == 35 and ops["DEPTHWISE_CONV_2D"] == 17 and ops["ADD"] == 10, ops
    inp = man["input"]
    assert inp["dtype"] == "int8" and inp["quantization"] == {"scale": 1 / 128, "zero_point": 0}
    assert inp["mean"] == [128.0] * 3 and inp["std"] == [128.0] * 3
