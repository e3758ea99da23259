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
