"""The plots of report.html: matplotlib figures encoded as base64 PNG, one function per plot.

matplotlib is imported lazily: without it ``make_plots`` returns no plots and says why.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from .report import env_by_id, result_label

__all__ = ["make_plots", "PLOT_TITLES"]

PLOT_TITLES = [
    ("comparison", "Comparison: latency percentiles and throughput"),
    ("histogram", "Latency histogram (model-only)"),
    ("cdf", "Latency CDF (model-only)"),
    ("timeline", "Latency and temperature over time"),
    ("stages", "Per-stage breakdown (mean ms per image; in a pipeline run the stages run in parallel threads, "
               "so its bar is the work per frame, not the time between frames)"),
    ("clocks", "CPU clock over time (Pi: vcgencmd ARM clock; else mean cpufreq) - drops show throttling"),
    ("power", "Power over time"),
]


@dataclass
class _Ctx:
    """What every plot needs: pyplot, numpy, the results with samples, their labels and the colour cycle."""

    plt: Any
    np: Any
    results: List[Dict[str, Any]]
    labels: List[str]
    colors: List[str]

    def color(self, i: int) -> str:
        return self.colors[i % len(self.colors)]


def _comparison(c: _Ctx) -> Any:
    """p50 bars with p90/p99 markers, and model / end-to-end throughput."""
    np, results = c.np, c.results
    fig, (ax1, ax2) = c.plt.subplots(1, 2, figsize=(12, max(2.5, 0.5 * len(results) + 1.5)))
    y = np.arange(len(results))
    ax1.barh(y, [r["latency_ms"]["p50"] for r in results], color=[c.color(i) for i in range(len(results))],
             alpha=0.8, label="p50")
    ax1.scatter([r["latency_ms"]["p90"] for r in results], y, marker="|", s=200, color="k", label="p90")
    ax1.scatter([r["latency_ms"]["p99"] for r in results], y, marker="x", color="crimson", label="p99")
    ax1.set_yticks(y)
    ax1.set_yticklabels(c.labels, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("model-only latency (ms)")
    ax1.legend(fontsize=8, loc="lower right")
    ax2.barh(y - 0.2, [r["throughput"]["model_ips"] or 0 for r in results], height=0.4, label="model IPS")
    ax2.barh(y + 0.2, [r["throughput"]["end_to_end_ips"] or 0 for r in results], height=0.4, label="end-to-end IPS")
    ax2.set_yticks(y)
    ax2.set_yticklabels([])
    ax2.invert_yaxis()
    ax2.set_xlabel("inferences per second")
    ax2.legend(fontsize=8, loc="lower right")
    return fig


def _histogram(c: _Ctx) -> Any:
    np = c.np
    fig, ax = c.plt.subplots(figsize=(10, 4))
    every = np.concatenate([np.asarray(r["samples"]["latency_ms"], float) for r in c.results])
    lo, hi = float(every.min()), float(every.max())
    log = lo > 0 and hi / lo > 20  # long tails (or models of very different speed): log-spaced bins
    bins = np.geomspace(lo, hi, 50) if log else np.linspace(lo, hi if hi > lo else lo + 1e-3, 50)
    for i, (r, lab) in enumerate(zip(c.results, c.labels)):
        ax.hist(r["samples"]["latency_ms"], bins=bins, alpha=0.55, label=lab, color=c.color(i))
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("model-only latency (ms)" + (", log scale" if log else ""))
    ax.set_ylabel("runs")
    ax.legend(fontsize=8)
    return fig


def _cdf(c: _Ctx) -> Any:
    np = c.np
    fig, ax = c.plt.subplots(figsize=(10, 4))
    for i, (r, lab) in enumerate(zip(c.results, c.labels)):
        s = np.sort(np.asarray(r["samples"]["latency_ms"]))
        ax.step(s, np.arange(1, s.size + 1) / s.size, where="post", label=lab, color=c.color(i))
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("model-only latency (ms)")
    ax.set_ylabel("fraction of runs")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=8)
    return fig


def _hottest_sensor(samples: List[Dict[str, Any]]) -> Optional[str]:
    best: Optional[Tuple[float, str]] = None
    for smp in samples:
        for name, v in (smp.get("temps_c") or {}).items():
            if best is None or v > best[0]:
                best = (v, name)
    return best[1] if best else None


def _temperature_series(r: Dict[str, Any]) -> Tuple[Optional[str], List[Tuple[float, float]]]:
    """The hottest sensor's readings (one sensor's series, not a max across sources) on the latency clock."""
    tel = r.get("telemetry") or {}
    t0 = (tel.get("marks") or {}).get("timed_start", 0.0)
    samples = tel.get("samples") or []
    sensor = _hottest_sensor(samples)
    return sensor, [(s["t_s"] - t0, s["temps_c"][sensor]) for s in samples
                    if sensor and sensor in (s.get("temps_c") or {})]


def _timeline(c: _Ctx) -> Any:
    """Latency of every run over time, with the hottest sensor's temperature on a second axis."""
    fig, ax = c.plt.subplots(figsize=(10, 4))
    ax_t = None
    for i, (r, lab) in enumerate(zip(c.results, c.labels)):
        ax.plot(r["samples"]["t_s"], r["samples"]["latency_ms"], ".", ms=3, alpha=0.6, color=c.color(i), label=lab)
        sensor, pts = _temperature_series(r)
        if pts:
            if ax_t is None:
                ax_t = ax.twinx()
                ax_t.set_ylabel("temperature (C), lines")
            ax_t.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=c.color(i), lw=1.5, alpha=0.9,
                      label=f"{sensor} ({lab.split(' ')[0]})")
            ax_t.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("time since the timed loop started (s)")
    ax.set_ylabel("model-only latency (ms)")
    ax.legend(fontsize=8, loc="upper left")
    if ax_t is None:
        ax.set_title("no temperature source on this machine (see Telemetry sources)", fontsize=9)
    else:  # at least a 5 C span, so sensor noise does not look like a thermal event
        lo, hi = ax_t.get_ylim()
        if hi - lo < 5.0:
            mid = (hi + lo) / 2
            ax_t.set_ylim(mid - 2.5, mid + 2.5)
    return fig


def _stages(c: _Ctx) -> Any:
    """Stacked mean stage times: one bar per model (timed loop) plus one per pipeline run."""
    np = c.np
    bars = [(lab, r["stages_ms"]) for r, lab in zip(c.results, c.labels)]
    bars += [(f"{lab} pipeline", (r.get("pipeline") or {}).get("stages")) for r, lab in zip(c.results, c.labels)
             if (r.get("pipeline") or {}).get("stages")]
    stage_names = list(dict.fromkeys(k for _, st in bars for k in st))
    yb = np.arange(len(bars))
    fig, ax = c.plt.subplots(figsize=(10, max(2.5, 0.45 * len(bars) + 1.2)))
    left = np.zeros(len(bars))
    for j, stage in enumerate(stage_names):
        vals = np.array([(st.get(stage) or {}).get("mean") or 0.0 for _, st in bars])
        ax.barh(yb, vals, left=left, label=stage, color=c.color(j))
        left += vals
    ax.set_yticks(yb)
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean time per image (ms)")
    ax.legend(fontsize=8)
    return fig


def _telemetry_plot(value: Callable[[Dict[str, Any]], Any], ylabel: str, height: float) -> Callable[[_Ctx], Any]:
    """A plot of one telemetry value over time, one line per result (None when no result has it)."""

    def plot(c: _Ctx) -> Any:
        series = []
        for i, r in enumerate(c.results):
            tel = r.get("telemetry") or {}
            t0 = (tel.get("marks") or {}).get("timed_start", 0.0)
            pts = [(s["t_s"] - t0, value(s)) for s in tel.get("samples") or [] if value(s) is not None]
            if pts:
                series.append((c.labels[i], pts, c.color(i)))
        if not series:
            return None
        fig, ax = c.plt.subplots(figsize=(10, height))
        for lab, pts, color in series:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", label=lab, color=color)
        ax.set_xlabel("time since the timed loop started (s)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        return fig

    return plot


_PLOTS: Dict[str, Callable[[_Ctx], Any]] = {
    "comparison": _comparison, "histogram": _histogram, "cdf": _cdf, "timeline": _timeline, "stages": _stages,
    "clocks": _telemetry_plot(lambda s: s.get("arm_mhz", s.get("cpu_mhz")), "CPU clock (MHz)", 3),
    "power": _telemetry_plot(lambda s: s.get("power_mw"), "power (mW)", 3.5),
}


def make_plots(report: Dict[str, Any]) -> Tuple[Dict[str, str], Optional[str]]:
    """Base64 PNGs keyed by plot name, and why there are none (matplotlib missing) or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}, "matplotlib is not installed"
    import numpy as np

    envs = env_by_id(report)
    results = [r for r in report["results"] if r["samples"]["latency_ms"]]
    if not results:
        return {}, None
    ctx = _Ctx(plt, np, results, [result_label(r, envs, len(envs) > 1) for r in results],
               plt.rcParams["axes.prop_cycle"].by_key()["color"])
    plots: Dict[str, str] = {}
    for name, draw in _PLOTS.items():
        fig = draw(ctx)
        if fig is None:
            continue
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        plots[name] = base64.b64encode(buf.getvalue()).decode("ascii")
    return plots, None
