"""Paper fidelity of the model zoo: structure and counts (computed by code) vs published figures."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from edgemnv2.models.mobilenetv2 import InvertedResidual, MobileNetV2  # noqa: E402
from edgemnv2.models.spec import INVERTED_RESIDUAL_SETTING, backbone_blocks, last_channels, make_divisible  # noqa: E402
from edgemnv2.models.zoo import PAPER_VARIANTS, build_model, count_madds, count_params  # noqa: E402


def test_paper_table_is_the_papers():
    assert INVERTED_RESIDUAL_SETTING == [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


@pytest.mark.parametrize("variant", [v for v in PAPER_VARIANTS if v.ref_params_m or v.ref_madds_m],
                         ids=lambda v: v.name)
def test_counts_within_3_percent_of_reference(variant):
    params, madds = variant.counts()
    if variant.ref_params_m:
        assert abs(params / 1e6 - variant.ref_params_m) / variant.ref_params_m <= 0.03, params
    if variant.ref_madds_m:
        assert abs(madds / 1e6 - variant.ref_madds_m) / variant.ref_madds_m <= 0.03, madds


def test_headline_figures():
    m = build_model("classify", 1.0, 1000, 224)
    assert 3.3e6 < count_params(m) < 3.5e6
    assert 295e6 < count_madds(m, 224) < 305e6
    # torchvision's mobilenet_v2 has exactly 3,504,872 parameters (BatchNorm unfolded)
    assert sum(p.numel() for p in m.parameters()) == 3_504_872


def test_inverted_residual_structure():
    m = MobileNetV2(10, 1.0)
    blocks = [b for b in m.features if isinstance(b, InvertedResidual)]
    assert len(blocks) == 17
    for b in blocks:
        s = b.spec
        assert b.use_res_connect == (s.stride == 1 and s.in_ch == s.out_ch)
        layers = list(b.conv)
        # last two layers: 1x1 linear projection + BN, no activation (linear bottleneck)
        assert isinstance(layers[-2], nn.Conv2d) and layers[-2].kernel_size == (1, 1)
        assert isinstance(layers[-1], nn.BatchNorm2d)
        acts = [mod for mod in b.modules() if isinstance(mod, (nn.ReLU, nn.ReLU6))]
        assert all(isinstance(a, nn.ReLU6) for a in acts)
        assert len(acts) == (1 if s.expand == 1 else 2)
        dw = [c for c in b.modules() if isinstance(c, nn.Conv2d) and c.groups > 1]
        assert len(dw) == 1 and dw[0].kernel_size == (3, 3) and dw[0].groups == s.hidden


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.0, 1.4])
def test_width_multiplier_rounding(width):
    for b in backbone_blocks(width):
        assert b.out_ch % 8 == 0 and b.out_ch >= 8
    assert last_channels(width) == (1280 if width <= 1.0 else make_divisible(1280 * width))


@pytest.mark.parametrize("res", [96, 128, 160, 192, 224])
def test_any_resolution_divisible_by_32(res):
    m = build_model("classify", 0.35, 7, res)
    with torch.no_grad():
        assert m(torch.zeros(1, 3, res, res)).shape == (1, 7)


def test_resolution_must_be_multiple_of_32_for_detection_only():
    """Detection's anchor grid needs a multiple of 32; classifiers and DeepLab take any size >= 32 (513)."""
    from edgemnv2.errors import EdgeError

    with pytest.raises(EdgeError, match="multiple of 32"):
        build_model("detect", 0.35, 4, 100)
    with pytest.raises(EdgeError, match="multiple of 32"):
        build_model("classify", 0.35, 10, 16)
    assert build_model("classify", 0.35, 10, 100).resolution == 100
    assert build_model("segment", 0.35, 21, 65).resolution == 65


def test_ssdlite_feature_maps_follow_the_paper():
    m = build_model("detect", 1.0, 91, 320)
    feats = m.feature_maps(torch.zeros(1, 3, 320, 320))
    assert [f.shape[-1] for f in feats] == [20, 10, 5, 3, 2, 1]
    assert [f.shape[1] for f in feats] == [576, 1280, 512, 256, 256, 128]  # layer_15 expansion, layer_19, extras
    boxes, scores = m(torch.zeros(1, 3, 320, 320))
    assert boxes.shape == (1, 1200 + 600 + 150 + 54 + 24 + 6, 4) and scores.shape[-1] == 91
    # prediction layers are depthwise separable
    for pred in list(m.cls_head) + list(m.reg_head):
        assert pred[0][0].groups == pred[0][0].in_channels and pred[1].kernel_size == (1, 1)


def test_deeplab_output_stride_16_and_full_resolution_logits():
    m = build_model("segment", 0.5, 21, 256)
    x = torch.zeros(1, 3, 256, 256)
    assert m.forward_low(x).shape == (1, 21, 16, 16)
    assert m(x).shape == (1, 21, 256, 256)
    dilated = [b for b in m.backbone if isinstance(b, InvertedResidual) and b.spec.dilation == 2]
    assert [b.spec.index for b in dilated] == [15, 16, 17]
    assert all(b.spec.stride == 1 for b in m.backbone[14:] if isinstance(b, InvertedResidual))
