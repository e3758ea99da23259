"""Numpy task logic shared by every runtime: preprocessing, top-k, anchors/NMS, segmentation."""

from __future__ import annotations

import numpy as np
import pytest

from edgemnv2.tasks import classify, detect, segment
from edgemnv2.tasks.base import dequantize, looks_like_probabilities
from edgemnv2.tasks.preprocess import InputFormat, Normalization, preprocess

pytestmark = pytest.mark.device


def test_preprocess_float_nchw_matches_formula():
    img = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    fmt = InputFormat.from_shape((1, 3, 37, 53), "float32")
    x = preprocess(img, fmt, Normalization())
    assert x.shape == (1, 3, 37, 53) and x.dtype == np.float32
    ref = (img.astype(np.float32) - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]
    np.testing.assert_allclose(x[0].transpose(1, 2, 0), ref, rtol=1e-6, atol=1e-5)


def test_preprocess_resizes_bilinear():
    import cv2

    img = np.random.default_rng(1).integers(0, 256, (100, 80, 3), dtype=np.uint8)
    fmt = InputFormat.from_shape((1, 32, 32, 3), "uint8", (1.0, 0))
    x = preprocess(img, fmt, Normalization((0, 0, 0), (1, 1, 1)))
    assert fmt.layout == "NHWC" and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], cv2.resize(img, (32, 32), interpolation=cv2.INTER_LINEAR))


def test_preprocess_quantizes_with_input_scale():
    img = np.full((4, 4, 3), 200, np.uint8)
    fmt = InputFormat.from_shape((1, 4, 4, 3), "int8", (0.02, -3))
    x = preprocess(img, fmt, Normalization((100.0, 100.0, 100.0), (50.0, 50.0, 50.0)))
    assert np.all(x == np.int8(round(2.0 / 0.02) - 3))


def test_raw_pixels_for_bare_quantized_models():
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    x = preprocess(img, InputFormat.from_shape((1, 4, 4, 3), "uint8", (0.0078125, 128)), Normalization.raw())
    np.testing.assert_array_equal(x[0], img)


def test_preprocess_rejects_non_rgb():
    with pytest.raises(ValueError):
        preprocess(np.zeros((4, 4), np.uint8), InputFormat(4, 4), Normalization())


def test_topk_softmax_and_probabilities():
    logits = np.array([1.0, 3.0, 2.0, -1.0], np.float32)
    top = classify.topk(logits, ["a", "b", "c", "d"], k=2)
    assert [c.label for c in top] == ["b", "c"]
    e = np.exp(logits - logits.max())
    assert top[0].score == pytest.approx(float(e[1] / e.sum()), rel=1e-6)
    probs = np.array([0.1, 0.7, 0.2], np.float32)
    assert looks_like_probabilities(probs)
    assert classify.topk(probs, k=1)[0].score == pytest.approx(0.7)


def test_dequantize():
    q = np.array([0, 128, 255], np.uint8)
    np.testing.assert_allclose(dequantize(q, (0.5, 128)), [-64.0, 0.0, 63.5])


def test_anchor_count_and_geometry():
    sizes = detect.feature_map_sizes(320)
    assert sizes == [20, 10, 5, 3, 2, 1]
    a = detect.ssd_anchors(sizes)
    assert a.shape == (20 * 20 * 3 + (100 + 25 + 9 + 4 + 1) * 6, 4)
    assert a[0].tolist() == pytest.approx([0.025, 0.025, 0.1, 0.1])  # (0.1, 1.0) box at the first cell
    assert np.all(a[:, :2] > 0) and np.all(a[:, :2] < 1)


def test_encode_decode_round_trip():
    a = detect.ssd_anchors(detect.feature_map_sizes(160))
    rng = np.random.default_rng(0)
    xy = rng.uniform(0.05, 0.5, (len(a), 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.05, 0.45, (len(a), 2))], 1).astype(np.float32)
    np.testing.assert_allclose(detect.decode_boxes(detect.encode_boxes(boxes, a), a), boxes, atol=1e-5)


def _brute_nms(boxes, scores, thr):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    for i in order:
        if all(detect.box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= thr for j in keep):
            keep.append(i)
    return keep


def test_nms_matches_brute_force():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 80, (60, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (60, 2))], 1)
    scores = rng.uniform(0, 1, 60)
    assert detect.nms(boxes, scores, 0.45).tolist() == _brute_nms(boxes, scores, 0.45)


def test_postprocess_per_class_nms_and_pixels():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]])
    scores = np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.1, 0.0, 0.7], [0.9, 0.05, 0.05]])
    dets = detect.postprocess(boxes, scores, (200, 100), ["bg", "cat", "dog"], score_threshold=0.3)
    # the overlapping "cat" pair collapses to one; "dog" on the same place survives (per-class NMS)
    assert [(d.label, round(d.score, 2)) for d in dets] == [("cat", 0.9), ("dog", 0.7)]
    assert dets[0].box == pytest.approx((10.0, 20.0, 50.0, 100.0))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", None])
def test_class_map_layouts(layout):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((1, 5, 6, 7)).astype(np.float32)
    expected = logits[0].argmax(0)
    x = logits if layout in ("NCHW", None) else logits.transpose(0, 2, 3, 1)
    assert np.array_equal(segment.class_map(x, 5, layout), expected)


def test_class_map_in_graph_argmax():
    m = np.random.default_rng(0).integers(0, 21, (1, 9, 9))
    assert np.array_equal(segment.class_map(m), m[0])


def test_colourise_lut_equals_fancy_indexing():
    mask = np.random.default_rng(0).integers(0, 21, (30, 40)).astype(np.uint8)
    assert np.array_equal(segment.colourise(mask), segment.palette(256)[mask][..., ::-1])
    assert segment.palette(3).tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]


def test_class_counts_and_resize():
    mask = np.array([[0, 1], [1, 2]], np.uint8)
    big = segment.resize_mask(mask, (4, 6))
    assert big.shape == (4, 6)
    assert segment.class_counts(big, ["bg", "a", "b"]) == {"bg": 6, "a": 12, "b": 6}


def test_topk_breaks_ties_by_lowest_index():
    """Tied scores (a uint8 softmax has many zeros) rank lowest index first, whatever the CPU's sort kernels."""
    scores = np.zeros(1001, np.float32)
    scores[[286, 282, 283]] = [0.8, 0.1, 0.05]
    top = classify.topk(scores, k=5, activation="softmax")
    assert [c.index for c in top] == [286, 282, 283, 0, 1]
