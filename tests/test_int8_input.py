"""int8 pixel input (issue 14): an integer shift of the pixels is computed exactly, without float maths."""

from __future__ import annotations

import numpy as np
import pytest

from edgemnv2.tasks.preprocess import InputFormat, Normalization, to_model_input


@pytest.mark.parametrize("mean,std,quant", [(128.0, 128.0, (1 / 128, 0)), (128.0, 1.0, (1.0, 0)),
                                            (0.0, 255.0, (1 / 255, -128))])
def test_integer_shift_equals_the_general_formula(mean, std, quant):
    px = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    fmt = InputFormat(16, 16, "NHWC", "int8", quant)
    got = to_model_input(px, fmt, Normalization((mean,) * 3, (std,) * 3))
    real = (px.astype(np.float64) - mean) / std
    want = np.clip(np.round(real / quant[0] + quant[1]), -128, 127).astype(np.int8)
    assert got.dtype == np.int8 and np.array_equal(got[0], want)


@pytest.mark.parametrize("fmt,norm", [
    (InputFormat(513, 513, "NHWC", "int8", (1 / 128, 0)), Normalization((128.0,) * 3, (128.0,) * 3)),
    (InputFormat(224, 224, "NCHW", "float32"), Normalization((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))),
    (InputFormat(97, 131, "NHWC", "uint8", (1.0, 0)), Normalization((0.0,) * 3, (1.0,) * 3))], ids=str)
def test_bgr_frames_give_exactly_the_rgb_input(fmt, norm):
    """Camera frames: resizing before the channel swap (on the model's pixels) changes nothing."""
    import cv2

    from edgemnv2.tasks.preprocess import preprocess, preprocess_bgr

    frame = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    want = preprocess(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), fmt, norm)
    got = preprocess_bgr(frame, fmt, norm)
    assert got.dtype == want.dtype and np.array_equal(got, want)
