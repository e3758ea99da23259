"""Profiling output of a camera run: the p50/p90/p99 table printed at exit and the ``--profile`` JSON.

The JSON is ``PipelineStats.to_dict()``: every latency block is ``edgemnv2.profiling.latency_stats``
(``count, mean, std, min, p50, p90, p99, max`` in ms), the schema the bench report uses, with the raw
samples beside them under ``samples_ms``. Documented in docs/camera.md.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from ..fileio import atomic_write_text
from .pipeline import STAGES, PipelineStats

__all__ = ["summary_lines", "print_summary", "write_profile"]


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}"


def summary_lines(stats: PipelineStats) -> List[str]:
    """Plain-text summary: frames, FPS and a p50/p90/p99 row per stage plus frame age."""
    lines = [f"frames: captured {stats.frames_captured}, processed {stats.frames_processed}, "
             f"dropped {stats.frames_dropped}, skipped {stats.frames_skipped}; "
             f"{stats.fps:.1f} FPS over {stats.wall_s:.2f} s ({stats.end_reason})",
             f"{'stage (ms)':<12} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8}"]
    rows: Dict[str, Any] = dict(stats.stage_summary())
    d = stats.to_dict(samples=False)
    rows["frame age"], rows["interval"], rows["infer wait"] = (d["frame_age_ms"], d["interval_ms"],
                                                               d["inference_wait_ms"])
    for name in [*STAGES, "frame age", "interval", "infer wait"]:
        st = rows.get(name)
        if not st or not st.get("count"):
            continue
        lines.append(f"{name:<12} {_fmt(st['p50']):>8} {_fmt(st['p90']):>8} {_fmt(st['p99']):>8} "
                     f"{_fmt(st['mean']):>8}")
    return lines


def print_summary(stats: PipelineStats) -> None:
    """The summary on stderr (stdout stays free for ``--sink json:-``)."""
    from ..ui import err_console

    err_console().print("\n".join(summary_lines(stats)), highlight=False, markup=False, soft_wrap=True)


def write_profile(path: str | os.PathLike, stats: PipelineStats, extra: Optional[Dict[str, Any]] = None,
                  samples: bool = True) -> Dict[str, Any]:
    """Write the profile JSON atomically and return it."""
    d = stats.to_dict(samples=samples)
    if extra:
        d.update(extra)
    atomic_write_text(path, json.dumps(d, indent=1) + "\n")
    return d
