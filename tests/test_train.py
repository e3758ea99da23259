"""Training: the loss falls for every task, checkpoints resume to the same weights, --init, SSD matching."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgemnv2.data.synthetic import write_dataset  # noqa: E402
from edgemnv2.training.checkpoint import checkpoint_path  # noqa: E402
from edgemnv2.training.loop import TrainConfig, train  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny")
    return {t: write_dataset(root / t, t, {"train": 8, "val": 0, "calib": 0}, 64, seed=1)
            for t in ("classify", "detect", "segment")}


@pytest.mark.parametrize("task,res,lr", [("classify", 64, 3e-3), ("detect", 96, 3e-3), ("segment", 64, 3e-3)])
def test_loss_falls(tiny, tmp_path, task, res, lr):
    torch.set_num_threads(1)
    cfg = TrainConfig(task=task, data=str(tiny[task]), out=str(tmp_path / f"{task}.safetensors"), width_mult=0.35,
                      resolution=res, epochs=100, batch_size=8, lr=lr, max_steps=14, augment=False, seed=0)
    res_ = train(cfg)
    losses = [h["loss"] for h in res_.history]
    assert len(losses) == 14
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.7 * first, losses
    meta = json.loads((tmp_path / f"{task}.json").read_text())
    assert meta["task"] == task and meta["resolution"] == res and meta["num_classes"] == len(meta["labels"])
    assert (tmp_path / f"{task}.safetensors").stat().st_size > 100_000


def test_resume_matches_uninterrupted(tiny, tmp_path):
    torch.set_num_threads(1)
    from safetensors.torch import load_file

    common = dict(task="classify", data=str(tiny["classify"]), width_mult=0.35, resolution=64, epochs=2,
                  batch_size=4, lr=1e-3, seed=3)
    train(TrainConfig(out=str(tmp_path / "a.safetensors"), **common))
    b = tmp_path / "b.safetensors"
    train(TrainConfig(out=str(b), max_steps=2, **common))  # stops after epoch 1 (2 steps of 4 images)
    assert checkpoint_path(b).is_file()
    train(TrainConfig(out=str(b), resume=True, **common))
    wa, wb = load_file(str(tmp_path / "a.safetensors")), load_file(str(b))
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    assert worst < 1e-5


def test_resume_refuses_other_options(tiny, tmp_path, cli):
    out = tmp_path / "c.safetensors"
    base = ["train", "--task", "classify", "--data", tiny["classify"], "--resolution", "64", "--batch-size", "4",
            "--epochs", "2", "--out", out]
    r = cli(base + ["--max-steps", "1", "--threads", "1"])
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.with_suffix(".json").is_file() and checkpoint_path(out).is_file()
    r = cli(["train", "--task", "classify", "--data", tiny["classify"], "--resolution", "96", "--batch-size", "4",
             "--epochs", "2", "--out", out, "--resume"])
    assert r.returncode == 1 and "resolution=64" in r.stderr and "Traceback" not in r.stderr


def test_init_from_torchvision_layout(tiny, tmp_path):
    """A torchvision-layout ImageNet classifier checkpoint initialises a detector's backbone."""
    from edgemnv2.models.zoo import build_model

    clf = build_model("classify", 0.35, 1000, 96)
    sd = {k: v for k, v in clf.state_dict().items()}
    assert "features.0.0.weight" in sd and "classifier.1.weight" in sd
    ckpt = tmp_path / "mobilenet_v2_imagenet.pth"
    torch.save(sd, ckpt)
    out = tmp_path / "det.safetensors"
    train(TrainConfig(task="detect", data=str(tiny["detect"]), out=str(out), resolution=96, epochs=1, batch_size=8,
                      lr=1e-9, max_steps=1, init=str(ckpt), augment=False))
    from safetensors.torch import load_file

    w = load_file(str(out))
    # with a negligible learning rate the first backbone conv is still the checkpoint's
    assert torch.allclose(w["backbone.0.0.weight"], sd["features.0.0.weight"], atol=1e-5)


def test_ssd_matching_hand_case():
    from edgemnv2.tasks.detect import decode_boxes
    from edgemnv2.training.losses import match_anchors

    anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5], [0.5, 0.5, 0.2, 0.2]], np.float32)
    gt = np.array([[0.0, 0.0, 0.5, 0.5], [0.45, 0.45, 0.55, 0.55]], np.float32)  # = anchor 0; small, IoU 0.25 w/ a2
    cls_t, reg_t = match_anchors(gt, np.array([2, 3]), anchors)
    assert cls_t.tolist() == [2, 0, 3]  # anchor 2 is GT 1's best anchor although IoU < 0.5
    np.testing.assert_allclose(decode_boxes(reg_t[[0, 2]], anchors[[0, 2]]), gt, atol=1e-5)


def test_hard_negative_mining_ratio():
    from edgemnv2.training.losses import multibox_loss

    n, a, c = 1, 20, 3
    logits = torch.zeros(n, a, c)
    logits[0, :, 1] = torch.arange(a, dtype=torch.float32)  # negatives get harder with the index
    cls_t = torch.zeros(n, a, dtype=torch.long)
    cls_t[0, 0] = 2
    reg = torch.zeros(n, a, 4)
    box, cls = multibox_loss(reg, logits, cls_t, torch.zeros(n, a, 4))
    ce = torch.nn.functional.cross_entropy(logits[0], cls_t[0], reduction="none")
    expected = ce[0] + ce[17:].sum()  # the positive + the 3 hardest negatives (indices 19, 18, 17)
    assert float(box) == 0.0
    assert abs(float(cls) - float(expected)) < 1e-4
