"""Checkpoints: torchvision mobilenet_v2 layout round trip, safetensors, mismatch messages."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgemnv2.errors import EdgeError  # noqa: E402
from edgemnv2.models.spec import make_divisible  # noqa: E402
from edgemnv2.models.weights import load_weights, read_state_dict, save_weights  # noqa: E402
from edgemnv2.models.zoo import build_model  # noqa: E402


def torchvision_mobilenet_v2_layout(num_classes: int = 1000, width: float = 1.0) -> dict:
    """Key names and shapes of torchvision.models.mobilenet_v2, written out from torchvision's definition
    (Conv2dNormActivation = conv/bn/relu6 at .0/.1; InvertedResidual.conv = [pw], dw, pw-linear, bn)."""
    keys: dict = {}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{name}"] = (c,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    cin = make_divisible(32 * width)
    keys["features.0.0.weight"] = (cin, 3, 3, 3)
    bn("features.0.1", cin)
    idx = 1
    for t, c, n, _s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                        (6, 320, 1, 1)]:
        cout = make_divisible(c * width)
        for _ in range(n):
            hidden = cin * t
            p = f"features.{idx}.conv"
            j = 0
            if t != 1:
                keys[f"{p}.0.0.weight"] = (hidden, cin, 1, 1)
                bn(f"{p}.0.1", hidden)
                j = 1
            keys[f"{p}.{j}.0.weight"] = (hidden, 1, 3, 3)
            bn(f"{p}.{j}.1", hidden)
            keys[f"{p}.{j + 1}.weight"] = (cout, hidden, 1, 1)
            bn(f"{p}.{j + 2}", cout)
            cin = cout
            idx += 1
    last = make_divisible(1280 * max(1.0, width))
    keys["features.18.0.weight"] = (last, cin, 1, 1)
    bn("features.18.1", last)
    keys["classifier.1.weight"] = (num_classes, last)
    keys["classifier.1.bias"] = (num_classes,)
    return keys


def test_state_dict_layout_is_torchvisions():
    model = build_model("classify", 1.0, 1000, 224)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == torchvision_mobilenet_v2_layout()


def test_torchvision_layout_checkpoint_round_trip(tmp_path):
    """A state dict saved with torchvision's key names loads unchanged and reproduces the outputs."""
    layout = torchvision_mobilenet_v2_layout(10, 0.5)
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.randn(s, generator=g) if s else torch.tensor(7)) for k, s in layout.items()}
    for k in sd:
        if k.endswith("running_var"):
            sd[k] = sd[k].abs() + 0.5
    path = tmp_path / "tv.pth"
    torch.save(sd, path)
    model = build_model("classify", 0.5, 10, 160)
    info = load_weights(model, path)
    assert info["loaded"] == len(layout)
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    # detection / segmentation backbones take its features.*
    det = build_model("detect", 0.5, 3, 160)
    load_weights(det, path, backbone_only=True)
    assert torch.equal(det.state_dict()["backbone.5.conv.1.0.weight"], sd["features.5.conv.1.0.weight"])


def test_safetensors_round_trip(tmp_path):
    a = build_model("segment", 0.35, 4, 128)
    save_weights(a, tmp_path / "w.safetensors")
    b = build_model("segment", 0.35, 4, 128)
    load_weights(b, tmp_path / "w.safetensors")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])


def test_mismatch_names_first_tensor_and_both_shapes(tmp_path):
    torch.save(build_model("classify", 0.5, 10, 96).state_dict(), tmp_path / "w05.pt")
    with pytest.raises(EdgeError) as e:
        load_weights(build_model("classify", 0.35, 10, 96), tmp_path / "w05.pt")
    # the first mismatch in state-dict order, with both shapes
    assert str(e.value).startswith("tensor 'features.2.conv.2.weight' has shape (16, 48, 1, 1) in the checkpoint "
                                   "but (8, 48, 1, 1) in the model")
    torch.save(build_model("classify", 0.35, 10, 96).state_dict(), tmp_path / "c10.pt")
    with pytest.raises(EdgeError, match=r"classifier.1.weight.*\(10, 1280\).*\(5, 1280\)"):
        load_weights(build_model("classify", 0.35, 5, 96), tmp_path / "c10.pt")
    sd = build_model("classify", 0.35, 10, 96).state_dict()
    del sd["features.3.conv.1.1.running_var"]
    torch.save(sd, tmp_path / "missing.pt")
    with pytest.raises(EdgeError, match="has no tensor 'features.3.conv.1.1.running_var'"):
        load_weights(build_model("classify", 0.35, 10, 96), tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "pickle_object", "not_a_dict", "directory"])
def test_bad_weight_files(tmp_path, kind):
    p = tmp_path / "w.pt"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        torch.save(build_model("classify", 0.35, 10, 96).state_dict(), p)
        p.write_bytes(p.read_bytes()[:5000])
    elif kind == "garbage":
        p.write_bytes(b"\x00\x01not a checkpoint" * 100)
    elif kind == "pickle_object":
        torch.save({"x": _Evil()}, p)
    elif kind == "not_a_dict":
        torch.save([1, 2, 3], p)
    else:
        p.mkdir()
    with pytest.raises(EdgeError) as e:
        read_state_dict(p)
    assert "\n" not in str(e.value)
