"""The int8 quality gate: judge the fp32 -> int8 change with its uncertainty (Pi and Jetson share it).

The held-out images are a sample, so the measured drop (or agreement) carries sampling noise: on
40 images one image moves top-1 by 2.5 points. The gate therefore judges an interval, not a point:

* ``lower``/``upper`` are each a one-sided 95% confidence bound (together a two-sided 90%
  interval), so "fail" means "95% sure the drop exceeds ``--max-drop``" (lower bound above it), or,
  without labels, "95% sure the agreement is below ``--min-agreement``" (upper bound below it);
  "pass" means the other bound is inside the limit with the same confidence;
* when the interval straddles the limit, or fewer than ``MIN_IMAGES`` images were compared, the
  build goes on with a warning and the manifest records ``not judged (n=...)``.

Intervals:

* top-1 agreement without labels is a share of images (each agrees or not): the exact binomial
  (Clopper-Pearson) interval from ``scipy.stats.binomtest``. It is exact for any n and never
  leaves 0..100, where a normal approximation fails at the agreement near 100% that int8 gives;
* the top-1 accuracy drop with labels is ``(b - c) / n`` with b images only fp32 gets right and c
  only int8 gets right: its bounds are Clopper-Pearson bounds of b/n and c/n at 97.5% each
  (Bonferroni: both hold with >= 95%), so they stay honest when no image disagrees (b = c = 0
  still bounds the drop by about 370/n points, where a bootstrap would claim exactly 0);
* mAP and mIoU (with or without labels) are not sums over images, so they get a
  paired percentile bootstrap over images (``scipy.stats.bootstrap``): each resample draws images
  with replacement and recomputes the task metric of both models on the same draw, keeping their
  pairing (the drop's noise is much smaller than each model's). Percentile rather than BCa: BCa
  fails (NaN) on the degenerate resamples common here (every image agrees) and its jackknife
  would double the number of COCO evaluations. Below ``MIN_IMAGES`` a bootstrap cannot see the
  spread its sample lacks, hence the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

from ..errors import EdgeError
from .evaluation import Comparison

__all__ = ["Interval", "Verdict", "CONFIDENCE", "MIN_IMAGES", "exact_share_interval", "exact_paired_drop_interval",
           "bootstrap_interval",
           "interval_of", "judge", "describe", "enforce"]

CONFIDENCE = 0.95  # of each one-sided bound
MIN_IMAGES = 20  # fewer compared images: not judged


@dataclass(frozen=True)
class Interval:
    value: float  # points
    lower: float
    upper: float
    n: int
    method: str


def exact_share_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Clopper-Pearson bounds (points) of a share ``successes / n``; each bound one-sided at ``confidence``."""
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=2 * confidence - 1, method="exact")
    return Interval(100.0 * successes / n, 100.0 * ci.low, 100.0 * ci.high, int(n),
                    "exact binomial (Clopper-Pearson)")


def exact_paired_drop_interval(b: int, c: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Bounds (points) of the paired drop ``(b - c) / n``: Clopper-Pearson bounds of b/n and c/n, Bonferroni."""
    each = 1 - (1 - confidence) / 2
    pb, pc = exact_share_interval(b, n, each), exact_share_interval(c, n, each)
    return Interval(100.0 * (b - c) / n, pb.lower - pc.upper, pb.upper - pc.lower, int(n),
                    "exact paired (Clopper-Pearson bounds of both discordant shares, Bonferroni)")


def bootstrap_interval(measure: Any, n: int, resamples: int = 2000, seed: int = 0,
                       confidence: float = CONFIDENCE) -> Interval:
    """Percentile bootstrap bounds of ``measure(indices)`` over ``n`` images (paired: one draw for both models)."""
    from scipy.stats import bootstrap

    every = np.arange(n)
    value = float(measure(every))
    res = bootstrap((every,), lambda idx: measure(np.asarray(idx, np.int64)), vectorized=False, paired=False,
                    n_resamples=resamples, confidence_level=2 * confidence - 1, method="percentile",
                    rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Interval(value, min(low, value), max(high, value), int(n),
                    f"paired bootstrap over images (percentile, {resamples} resamples)")


def interval_of(comparison: Comparison, seed: int = 0) -> Interval:
    if comparison.successes is not None:
        return exact_share_interval(comparison.successes, comparison.units)
    if comparison.discordant is not None:
        return exact_paired_drop_interval(*comparison.discordant, comparison.units)
    return bootstrap_interval(comparison.measure, comparison.units, comparison.resamples, seed)


class Verdict:
    PASSED = "passed"
    FAILED = "failed"

    @staticmethod
    def not_judged(n: int) -> str:
        return f"not judged (n={n})"


def judge(comparison: Comparison, max_drop: float, min_agreement: float, seed: int = 0) -> Dict[str, Any]:
    """The gate's record for the manifest: verdict, the quantity judged, its interval, the limit, why."""
    drop = comparison.gated == "drop"
    limit = max_drop if drop else min_agreement
    record: Dict[str, Any] = {"judged": comparison.gated, "value": round(comparison.value, 3), "limit": limit,
                              "limit_option": "--max-drop" if drop else "--min-agreement",
                              "images": comparison.units, "confidence": CONFIDENCE}
    if comparison.units < MIN_IMAGES:
        return dict(record, verdict=Verdict.not_judged(comparison.units),
                    reason=f"fewer than {MIN_IMAGES} images to judge on")
    iv = interval_of(comparison, seed)
    record.update(lower=round(iv.lower, 3), upper=round(iv.upper, 3), method=iv.method)
    bad, good = (iv.lower > limit, iv.upper <= limit) if drop else (iv.upper < min_agreement, iv.lower >= limit)
    if bad:
        return dict(record, verdict=Verdict.FAILED)
    if good:
        return dict(record, verdict=Verdict.PASSED)
    return dict(record, verdict=Verdict.not_judged(comparison.units),
                reason=f"the interval {iv.lower:.2f}..{iv.upper:.2f} straddles the limit {limit:g}")


def describe(report: Dict[str, Any], gate: Dict[str, Any]) -> str:
    """One line: what was measured, its interval, the limit and the verdict."""
    what = "drop" if gate["judged"] == "drop" else "agreement with fp32"
    ival = f" (95% bounds {gate['lower']:.2f}..{gate['upper']:.2f})" if "lower" in gate else ""
    line = (f"int8 {report['metric']} {what}: {gate['value']:.2f} points{ival} on {gate['images']} images, "
            f"limit {gate['limit_option']} {gate['limit']:g}: {gate['verdict']}")
    line += f" ({gate['reason']})" if gate.get("reason") else ""
    if gate["judged"] != "drop":
        line += "; agreement is not accuracy: --eval DIR (labelled images) gives a real judgement"
    return line


def enforce(report: Dict[str, Any], gate: Dict[str, Any], what: str = "int8") -> Optional[str]:
    """Raise EdgeError when the gate failed; return a warning line when it did not judge, else None."""
    n, lo, hi = gate["images"], gate.get("lower"), gate.get("upper")
    if gate["verdict"] == Verdict.FAILED and gate["judged"] == "drop":
        raise EdgeError(f"{what} loses {gate['value']:.2f} points of {report['metric']} vs fp32 on {n} images "
                        f"(95% sure it is more than {lo:.2f}; limit --max-drop {gate['limit']:g}); "
                        "no bundle was written",
                        "calibrate with more representative images (--calib, --calib-count), or raise --max-drop")
    if gate["verdict"] == Verdict.FAILED:
        raise EdgeError(f"{what} agrees with fp32 on only {gate['value']:.2f} points of {report['metric']} on {n} "
                        f"held-out images (95% sure it is below {hi:.2f}; limit --min-agreement {gate['limit']:g}); "
                        "no bundle was written",
                        "calibrate with more representative images (--calib), or judge accuracy on labelled images "
                        "with --eval DIR")
    if gate["verdict"] != Verdict.PASSED:
        return (f"{what} quality {gate['verdict']}: {gate['reason']}; for a judgement pass --eval DIR with a few "
                "hundred labelled images")
    return None
