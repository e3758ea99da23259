"""The int8 gate's interval maths against hand-computed cases, and its verdicts (calibration/gate.py)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

pytest.importorskip("scipy")

from edgemnv2.calibration.evaluation import Comparison  # noqa: E402
from edgemnv2.calibration.gate import (  # noqa: E402
    MIN_IMAGES,
    bootstrap_interval,
    enforce,
    exact_paired_drop_interval,
    exact_share_interval,
    judge,
)
from edgemnv2.errors import EdgeError  # noqa: E402


def _binom_tail_ge(k: int, n: int, p: float) -> float:
    return sum(comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


def test_exact_share_all_agree_closed_form() -> None:
    """k = n: the lower bound solves p^n = 0.05, so it is 0.05^(1/n); the upper bound is 100."""
    iv = exact_share_interval(20, 20)
    assert iv.value == 100.0 and iv.upper == pytest.approx(100.0)
    assert iv.lower == pytest.approx(100 * 0.05 ** (1 / 20), abs=1e-6)  # 86.089
    assert iv.lower == pytest.approx(86.089, abs=1e-3)


def test_exact_share_none_agree_closed_form() -> None:
    """k = 0: the upper bound solves (1 - p)^n = 0.05: 1 - 0.05^(1/n); 40 images -> 7.216 points."""
    iv = exact_share_interval(0, 40)
    assert iv.lower == pytest.approx(0.0) and iv.upper == pytest.approx(100 * (1 - 0.05 ** (1 / 40)), abs=1e-6)
    assert iv.upper == pytest.approx(7.216, abs=1e-3)


def test_exact_share_middle_case_meets_its_definition() -> None:
    """5 of 10: the bounds are where the binomial tails are exactly 5% (tables: 22.24 .. 77.76)."""
    iv = exact_share_interval(5, 10)
    assert (iv.lower, iv.upper) == (pytest.approx(22.24, abs=0.01), pytest.approx(77.76, abs=0.01))
    assert _binom_tail_ge(5, 10, iv.lower / 100) == pytest.approx(0.05, abs=1e-9)  # P(X >= 5 | p = lower)
    assert 1 - _binom_tail_ge(6, 10, iv.upper / 100) == pytest.approx(0.05, abs=1e-9)  # P(X <= 5 | p = upper)


def test_exact_paired_drop_without_discordant_images() -> None:
    """b = c = 0 on 60 images: drop 0 with bounds -/+ (1 - 0.025^(1/60)) = 5.96 points (not a zero-width 0)."""
    iv = exact_paired_drop_interval(0, 0, 60)
    half = 100 * (1 - 0.025 ** (1 / 60))
    assert iv.value == 0.0 and iv.upper == pytest.approx(half, abs=1e-6) and iv.lower == pytest.approx(-half, abs=1e-6)
    assert half == pytest.approx(5.96, abs=0.01)


def test_exact_paired_drop_all_lost() -> None:
    """b = n = 30, c = 0: drop 100; lower bound = 0.025^(1/30) - (1 - 0.025^(1/30)) = 2 * 0.025^(1/30) - 1."""
    iv = exact_paired_drop_interval(30, 0, 30)
    assert iv.value == 100.0 and iv.upper == pytest.approx(100.0)
    assert iv.lower == pytest.approx(100 * (2 * 0.025 ** (1 / 30) - 1), abs=1e-6)


def test_bootstrap_of_constant_measure_is_a_point() -> None:
    iv = bootstrap_interval(lambda idx: 42.0, 25, resamples=200)
    assert (iv.value, iv.lower, iv.upper) == (42.0, 42.0, 42.0)


def test_bootstrap_of_a_share_matches_the_normal_approximation() -> None:
    """80 of 100: se = sqrt(0.8 * 0.2 / 100) = 4 points; 5% / 95% bounds ~ 80 -/+ 1.645 * 4 = 73.4 .. 86.6."""
    x = np.array([1.0] * 80 + [0.0] * 20)
    iv = bootstrap_interval(lambda idx: 100 * x[idx].mean(), 100, resamples=4000, seed=1)
    assert iv.value == pytest.approx(80.0)
    assert iv.lower == pytest.approx(73.42, abs=1.5) and iv.upper == pytest.approx(86.58, abs=1.5)


def test_bootstrap_is_paired() -> None:
    """Two models whose per-image scores move together: the paired drop's interval is tight.

    Each image's scores vary a lot (0..100) but int8 is always exactly 2 points below fp32:
    resampling images keeps the pairs, so the drop's bounds are exactly 2 .. 2.
    """
    ref = np.random.default_rng(0).uniform(0, 100, 50)
    test = ref - 2.0
    iv = bootstrap_interval(lambda idx: ref[idx].mean() - test[idx].mean(), 50, resamples=500)
    assert iv.lower == pytest.approx(2.0) and iv.upper == pytest.approx(2.0)


def _agreement(k: int, n: int) -> Comparison:
    report = {"metric": "top1", "agreement": 100.0 * k / n, "images": n}
    return Comparison(report, "agreement", n, lambda idx: 0.0, successes=k)


def _drop(b: int, c: int, n: int) -> Comparison:
    report = {"metric": "top1", "drop": 100.0 * (b - c) / n, "images": n}
    return Comparison(report, "drop", n, lambda idx: 0.0, discordant=(b, c))


@pytest.mark.parametrize(("k", "n", "verdict"), [
    (40, 40, "passed"),  # lower bound 92.8 >= 90
    (20, 40, "failed"),  # upper bound 63.5 < 90
    (36, 40, "not judged (n=40)"),  # 90% with bounds 78.6 .. 96.3: straddles 90
    (4, 4, "not judged (n=4)"),  # fewer than MIN_IMAGES
])
def test_agreement_verdicts(k: int, n: int, verdict: str) -> None:
    c = _agreement(k, n)
    gate = judge(c, max_drop=1.0, min_agreement=90.0)
    assert gate["verdict"] == verdict and gate["judged"] == "agreement" and gate["limit"] == 90.0
    if verdict == "failed":
        with pytest.raises(EdgeError, match=r"agrees with fp32 on only 50.00 points .*--min-agreement 90.*--eval DIR"):
            enforce(c.report, gate)
    elif verdict == "passed":
        assert enforce(c.report, gate) is None
    else:
        assert verdict in enforce(c.report, gate) and "--eval DIR" in enforce(c.report, gate)


def test_drop_verdicts() -> None:
    # lower bound: CP lower of 30/40 (58.8) - CP upper of 0/40 (1 - 0.025^(1/40) = 8.8), both at 97.5%: 50.0
    failed = judge(_drop(30, 0, 40), max_drop=1.0, min_agreement=90.0)
    assert failed["verdict"] == "failed" and failed["lower"] == pytest.approx(50.0, abs=0.05)
    with pytest.raises(EdgeError, match=r"int8 loses 75.00 points of top1 vs fp32 on 40 images .*--max-drop 1\)"):
        enforce(_drop(30, 0, 40).report, failed)
    # No image disagrees on 400 images: bounds -/+ 0.92 points, inside --max-drop 1.
    assert judge(_drop(0, 0, 400), max_drop=1.0, min_agreement=90.0)["verdict"] == "passed"
    # ... but on 60 images they are -/+ 5.96: too wide to call a 1-point limit.
    assert judge(_drop(0, 0, 60), max_drop=1.0, min_agreement=90.0)["verdict"] == "not judged (n=60)"
    assert judge(_drop(0, 0, 60), max_drop=10.0, min_agreement=90.0)["verdict"] == "passed"


def test_min_images_is_sane() -> None:
    assert 10 <= MIN_IMAGES <= 50


def test_segment_measure_resamples_like_the_metric() -> None:
    """The mIoU of any resample (summed per-image confusion matrices) is metrics.miou on those images."""
    from types import SimpleNamespace

    from edgemnv2.calibration.evaluation import _segment
    from edgemnv2.metrics import miou

    rng = np.random.default_rng(0)
    ref = [SimpleNamespace(mask=rng.integers(0, 4, (8, 9))) for _ in range(6)]
    test = [SimpleNamespace(mask=np.where(rng.random((8, 9)) < 0.8, r.mask, 0)) for r in ref]
    c = _segment(ref, test, None, SimpleNamespace(labels=["a", "b", "c", "d"]))
    idx = np.array([0, 0, 3, 5, 5, 5])
    assert c.gated == "agreement" and c.units == 6
    assert c.measure(idx) == pytest.approx(100 * miou([test[i].mask for i in idx], [ref[i].mask for i in idx], 4))
    assert c.report["agreement"] == pytest.approx(100 * miou([t.mask for t in test], [r.mask for r in ref], 4),
                                                  abs=1e-3)
