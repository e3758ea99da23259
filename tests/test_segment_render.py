"""Segmentation rendering (issue 14 item 5): colouring at the model's size and resizing once draws the
same pixels as colouring the frame-size mask; quantized logits give the same class map as dequantized."""

from __future__ import annotations

import numpy as np
import pytest

from edgemnv2.tasks import segment
from edgemnv2.tasks.base import dequantize

cv2 = pytest.importorskip("cv2")


@pytest.mark.parametrize("frame_hw", [(720, 1280), (480, 640), (300, 200)])
def test_overlay_from_model_size_mask_is_identical(frame_hw):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 21, (65, 65), dtype=np.uint8)
    small[20:40, 10:50] = 15  # regions, not only noise
    big = segment.resize_mask(small, frame_hw)
    frame = rng.integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    ref = segment.overlay(frame.copy(), big)
    got = segment.overlay(frame.copy(), big, source=small)
    assert np.array_equal(ref, got)
    assert not np.array_equal(ref, frame)  # the overlay did draw something


def test_argmax_on_quantized_logits_matches_dequantized():
    rng = np.random.default_rng(1)
    q = rng.integers(-128, 128, (1, 33, 33, 21), dtype=np.int8)
    real = dequantize(q, (0.37, -5))
    assert np.array_equal(segment.class_map(q, 21, "NHWC"), segment.class_map(real, 21, "NHWC"))
