"""Importing .tflite files (edgemnv2.tflite_import): our own float files in both padding modes, a file
that is not a MobileNetV2, quantized constants, and (with ../shared/data/coral) Google's int8 files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from edgemnv2.models.spec import ArchOptions, Padding  # noqa: E402
from edgemnv2.models.zoo import build_model  # noqa: E402
from edgemnv2.tasks.preprocess import Normalization  # noqa: E402
from edgemnv2.tflite_import import import_tflite  # noqa: E402
from edgemnv2.tflite_reader import TensorInfo, dequantize, read_tflite  # noqa: E402
from tests.test_parity import _randomise_bn  # noqa: E402

NORM = Normalization((120.0, 110.0, 100.0), (60.0, 50.0, 40.0))


def _float_tflite(tmp_path: Path, task: str, padding: Padding, res: int, width: float = 0.35, ncls: int = 7):
    from edgemnv2.targets.pi.tf_twin import concrete_function, convert_float

    model = build_model(task, width, ncls, res, ArchOptions(padding, align_corners=task == "segment"))
    _randomise_bn(model, seed=res)
    path = tmp_path / f"{task}-{padding.value}.tflite"
    path.write_bytes(convert_float(concrete_function(model, task, res, NORM.mean, NORM.std)))
    return model, path


@pytest.mark.parametrize("task,padding,res", [("classify", Padding.tf, 96), ("classify", Padding.torch, 96),
                                              ("segment", Padding.tf, 97)], ids=str)
def test_own_float_files_import_exactly(tmp_path, task, padding, res):
    model, path = _float_tflite(tmp_path, task, padding, res)
    ops = {op.name for op in read_tflite(path).ops}
    assert ("PAD" in ops) == (padding is Padding.torch and res % 2 == 0)  # tf mode: plain SAME convolutions
    imp = import_tflite(path)
    assert (imp.task.value, imp.width_mult, imp.resolution, imp.num_classes) == (task, 0.35, res, 7)
    assert imp.arch.padding is padding and imp.arch.align_corners == (task == "segment")
    assert not imp.quantized and not imp.feed_normalized
    # Our float files fold 1/std into the first convolution (docs/pi.md): the import reads the mean
    # from the leading ADD and std 1, with the scale in the weights; exact in pixel terms.
    assert np.allclose(imp.normalization.mean, NORM.mean) and np.allclose(imp.normalization.std, 1.0)
    px = np.random.default_rng(0).uniform(0, 255, (1, res, res, 3)).astype(np.float32)

    def fed(norm: Normalization) -> torch.Tensor:
        x = (px - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    with torch.no_grad():
        ref, got = model(fed(NORM)), imp.model(fed(imp.normalization))
    assert float(ref.abs().max()) > 1e-2
    assert float((ref - got).abs().max()) <= 1e-4


def test_not_mobilenet_fails_in_one_line(tmp_path, cli):
    """A small CNN (3x3 conv stride 1, pooling, dense) is refused, naming the layer and what was expected."""
    import tensorflow as tf

    from edgemnv2.targets.pi.tf_twin import convert_float

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((3, 3, 3, 16)).astype(np.float32)
    w2 = rng.standard_normal((16, 5)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32)], autograph=False)
    def small_cnn(x):
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        return tf.matmul(tf.reduce_mean(y, axis=[1, 2]), w2)

    path = tmp_path / "small_cnn.tflite"
    path.write_bytes(convert_float(small_cnn.get_concrete_function()))
    r = cli(["build", "--target", "cpu", "--task", "classify", "--weights", path, "--out", tmp_path / "b"])
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, r.stderr
    assert "small_cnn.tflite is not a MobileNetV2 classifier" in lines[0] and "layer 1" in lines[0]
    assert "3x3 conv stride 2 3->" in lines[0]  # what the stem should have been
    assert "Traceback" not in r.stderr and not (tmp_path / "b").exists()


def test_per_channel_dequantization_is_tflites_definition():
    q = np.array([[[[-128]], [[0]], [[127]]], [[[5]], [[-5]], [[1]]]], np.int8)  # (2, 3, 1, 1), axis 0
    t = TensorInfo(0, "w", q.shape, np.int8, scale=np.array([0.5, 0.25]), zero_point=np.array([0, 2]), axis=0)
    got = dequantize(t, q)
    assert got[0, :, 0, 0].tolist() == [-64.0, 0.0, 63.5]
    assert got[1, :, 0, 0].tolist() == [0.75, -1.75, -0.25]
    bias = TensorInfo(1, "b", (2,), np.int32, scale=np.array([1e-3, 2e-3]), zero_point=np.array([0, 0]))
    assert np.allclose(dequantize(bias, np.array([1000, -500], np.int32)), [1.0, -1.0])


def test_coral_files_read_their_architecture(coral_dir):
    cls = import_tflite(coral_dir / "mobilenet_v2_1.0_224_quant.tflite")
    assert (cls.task.value, cls.width_mult, cls.resolution, cls.num_classes) == ("classify", 1.0, 224, 1001)
    assert cls.arch == ArchOptions(Padding.tf, False) and cls.quantized and cls.output_kind == "probabilities"
    assert cls.normalization.mean == (128.0,) * 3 and cls.normalization.std == (128.0,) * 3  # uint8, 1/128, zp 128
    seg = import_tflite(coral_dir / "deeplabv3_mnv2_pascal_quant.tflite")
    assert (seg.task.value, seg.width_mult, seg.resolution, seg.num_classes) == ("segment", 1.0, 513, 21)
    assert seg.arch == ArchOptions(Padding.tf, True) and seg.output_kind == "mask"


def test_coral_classifier_to_pi_fp32_matches_original(coral_dir, tmp_path, cli):
    """Import -> Pi fp32 gives the original file's top-1 on the shared photos; the import check is recorded."""
    out = tmp_path / "cls"
    r = cli(["build", "--target", "pi", "--task", "classify", "--weights",
             coral_dir / "mobilenet_v2_1.0_224_quant.tflite", "--labels", coral_dir / "imagenet_labels.txt",
             "--out", out])
    assert r.returncode == 0, r.stderr
    man = json.loads((out / "manifest.json").read_text())
    check = man["source"]["import_check"]
    assert man["source"]["origin"] == "tflite" and check["passed"] and check["top1_agreement"] >= 0.93
    assert man["architecture"]["padding"] == "tf" and "PAD" not in man["model"]["ops"]
    assert man["reports"]["parity"]["max_abs_diff"] <= 1e-4
    for photo in ("cat.bmp", "grace_hopper.bmp"):
        ours = json.loads(cli(["predict", coral_dir / photo, "--bundle", out, "--json"]).stdout.splitlines()[0])
        bare = cli(["predict", coral_dir / photo, "--model", coral_dir / "mobilenet_v2_1.0_224_quant.tflite",
                    "--labels", coral_dir / "imagenet_labels.txt", "--task", "classify", "--json"])
        theirs = json.loads(bare.stdout.splitlines()[0])
        assert ours["top"][0]["label"] == theirs["top"][0]["label"], (photo, ours["top"][:3], theirs["top"][:3])


def test_train_init_from_tflite_keeps_padding_and_normalisation(tmp_path):
    """``train --init FILE.tflite``: the backbone loads, the file's padding mode and normalisation carry over
    and are saved with the weights; a build from them rebuilds the same architecture."""
    from edgemnv2.data.synthetic import write_dataset
    from edgemnv2.model_source import BuildOptions, resolve_source
    from edgemnv2.models.metadata import read_metadata
    from edgemnv2.training.loop import TrainConfig, train

    _model, path = _float_tflite(tmp_path, "classify", Padding.tf, 64)
    data = write_dataset(tmp_path / "d", "segment", {"train": 4, "val": 0, "calib": 0}, 64, seed=1)
    out = tmp_path / "seg.safetensors"
    torch.set_num_threads(1)
    train(TrainConfig(task="segment", data=str(data), out=str(out), width_mult=0.35, resolution=64, epochs=1,
                      batch_size=4, max_steps=1, augment=False, init=str(path)))
    meta = read_metadata(out)
    assert meta["arch"] == {"padding": "tf", "align_corners": False}
    assert np.allclose(meta["normalization"]["mean"], NORM.mean)
    src = resolve_source(BuildOptions(task="segment", out=tmp_path / "b", weights=out, width_mult=0.35,
                                      resolution=64, num_classes=5))
    # std 1: our float files carry 1/std inside the first convolution's weights (docs/pi.md)
    assert src.arch.padding is Padding.tf and np.allclose(src.normalization.std, 1.0)
    with pytest.raises(Exception, match="width 0.35, not --width-mult 1"):
        train(TrainConfig(task="segment", data=str(data), out=str(tmp_path / "x.safetensors"), width_mult=1.0,
                          resolution=64, epochs=1, batch_size=4, max_steps=1, init=str(path)))


def test_own_pi_bundle_reimports_with_its_labels(tmp_path):
    """A Pi bundle's model.tflite (TFLite Model Metadata with labels zipped on) imports with its labels,
    normalisation and padding mode, and round-trips through the agreement check at 100%."""
    from edgemnv2.build_options import BuildOptions
    from edgemnv2.import_check import builtin_images, compare_with_tflite
    from edgemnv2.targets.pi.build import build_pi_bundle

    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"thing {i}\n" for i in range(6)))
    build_pi_bundle(BuildOptions(task="classify", out=tmp_path / "b", target="pi", width_mult=0.35, resolution=96,
                                 num_classes=6, labels=labels))
    imp = import_tflite(tmp_path / "b" / "model.tflite")
    assert imp.labels == [f"thing {i}" for i in range(6)]
    assert imp.arch.padding is Padding.torch and imp.normalization.mean == pytest.approx((123.675, 116.28, 103.53))
    images, _ = builtin_images(imp.task, 8)
    assert compare_with_tflite(imp, tmp_path / "b" / "model.tflite", images)["top1_agreement"] == 1.0
