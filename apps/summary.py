"""What a camera run reports: the p50/p90/p99 table printed at exit and the ``--profile`` JSON.

The JSON is ``PipelineStats.to_dict()``: every latency block has the keys of
``edgemnv2.profiling.latency_stats`` (``count, mean, std, min, p50, p90, p99, max`` in ms, the schema
the bench report uses), with a bounded sample of the raw values beside them under ``samples_ms``.
``ProfileWriter`` rewrites the file atomically every few seconds during a run, so a crash or power
cut leaves the last complete profile. Documented in docs/camera.md.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

from ..errors import EdgeError
from ..fileio import atomic_write_text
from .pipeline import STAGES, PipelineStats

__all__ = ["summary_lines", "print_summary", "write_profile", "ProfileWriter"]


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}"


def summary_lines(stats: PipelineStats) -> List[str]:
    """Plain-text summary: frames, FPS and a p50/p90/p99 row per stage plus frame age."""
    lines = [f"frames: captured {stats.frames_captured}, processed {stats.frames_processed}, "
             f"dropped {stats.frames_dropped}, skipped {stats.frames_skipped}; "
             f"{stats.fps:.1f} FPS over {stats.wall_s:.2f} s ({stats.end_reason})",
             f"{'stage (ms)':<12} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8}"]
    rows: Dict[str, Any] = dict(stats.stage_summary())
    rows["frame age"] = stats.times.stats("frame_age")
    rows["interval"] = stats.times.stats("interval")
    rows["infer wait"] = stats.times.stats("inference_wait")
    for name in [*STAGES, "frame age", "interval", "infer wait"]:
        st = rows.get(name)
        if not st or not st.get("count"):
            continue
        lines.append(f"{name:<12} {_fmt(st['p50']):>8} {_fmt(st['p90']):>8} {_fmt(st['p99']):>8} "
                     f"{_fmt(st['mean']):>8}")
    if len(stats.streams) > 1:
        for st in stats.streams:
            age = st["frame_age_ms"]
            lines.append(f"stream {st['stream']} ({st['source']}): processed {st['processed']}, dropped "
                         f"{st['dropped']}, {st['fps']:.1f} FPS, frame age p50 {_fmt(age.get('p50'))} ms")
    for t in stats.tracking.get("streams", []):
        which = f"stream {t['stream']}: " if len(stats.tracking["streams"]) > 1 else ""
        counts = f"; line crossings in {t['in']}, out {t['out']}" if "in" in t else ""
        lines.append(f"{which}{t['tracks']} tracks ({stats.tracking['tracker']}){counts}")
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


class ProfileWriter:
    """``--profile FILE``: written during the run (``on_progress``, marked ``"final": false``) and at the end.

    A periodic write that fails (e.g. disk full) is reported once and retried at the next period; the
    final write raises.
    """

    def __init__(self, path: str | os.PathLike, extra: Optional[Dict[str, Any]] = None) -> None:
        self.path = path
        self.extra = dict(extra or {})
        self.writes = 0
        self._warned = False

    def progress(self, stats: PipelineStats) -> None:
        try:
            write_profile(self.path, stats, {**self.extra, "final": False, "written_at_s": round(time.time(), 3)})
            self.writes += 1
        except (OSError, EdgeError) as e:
            if not self._warned:
                from ..ui import warn

                warn(f"could not update the profile {self.path} during the run: {e}")
                self._warned = True

    def final(self, stats: PipelineStats) -> Dict[str, Any]:
        self.writes += 1
        return write_profile(self.path, stats, {**self.extra, "final": True})
