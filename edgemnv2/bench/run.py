"""One ``edgemnv2 bench`` run: check every input, measure each model in turn, write the report.

Everything that can fail on bad input (bundles, runtimes, report directory, dataset classes) is
checked before the first model is measured. Device side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..errors import EdgeError
from .measure import BenchConfig, ModelRef, bench_model, describe_ref, synthetic_image
from .render import write_report
from .report import check_report_dir, new_report
from .steps import Step, combine_steps

__all__ = ["BenchRequest", "model_refs", "run_bench"]


@dataclass
class BenchRequest:
    """What ``edgemnv2 bench`` was asked to do (its options, checked by :func:`run_bench`)."""

    refs: List[ModelRef]
    cfg: BenchConfig
    report: Path
    image: Optional[Path] = None
    source: Optional[str] = None  # pipeline source; None = no pipeline run
    frames: int = 200
    eval_data: Optional[Path] = None
    eval_limit: Optional[int] = None


def model_refs(bundles: Sequence[Path], model: Optional[Path], task: Optional[str],
               labels: Optional[Path]) -> List[ModelRef]:
    """The models to measure: every ``--bundle``, then a bare ``--model`` with its task and labels."""
    refs = [ModelRef(bundle=b) for b in bundles]
    if model is not None:
        refs.append(ModelRef(model=model, task=task, labels=labels))
    elif task is not None or labels is not None:
        raise EdgeError("--task and --labels are for a bare --model; a bundle records its own")
    if not refs:
        raise EdgeError("nothing to benchmark", "pass --bundle DIR (repeatable) or --model FILE --task T")
    return refs


def _steps(req: BenchRequest, infos: List[Dict[str, Any]]) -> Optional[Step]:
    """The optional per-model steps, checked now (the dataset's classes against every model's)."""
    from . import steps

    chosen = []
    if req.source is not None:
        chosen.append(steps.pipeline_step(req.source, req.frames))
    if req.eval_data is not None:
        chosen.append(steps.eval_step(req.eval_data, req.eval_limit))
        from ..bundle import load_bundle
        from ..labels import read_labels

        for ref, info in zip(req.refs, infos):
            names = load_bundle(ref.bundle).labels if ref.bundle is not None else \
                (read_labels(ref.labels) if ref.labels else None)
            steps.eval_precheck(req.eval_data, info["task"], names, ref.name)
    return combine_steps(chosen)


def _delegation_warning(r: Dict[str, Any]) -> Optional[str]:
    warning = ((r.get("runtime") or {}).get("delegation") or {}).get("warning")
    return f"{r['name']}: {warning}" if warning else None


def run_bench(req: BenchRequest, command: Sequence[str], say: Callable[[str], None] = lambda m: None,
              warn: Callable[[str], None] = lambda m: None) -> Dict[str, Path]:
    """Measure every model of ``req`` and write report.json / .md / .html; returns their paths."""
    from .environment import collect_environment
    from .telemetry import device_state

    req.cfg.validate()
    check_report_dir(req.report)
    infos = [describe_ref(ref) for ref in req.refs]  # a bad bundle or a missing runtime fails before measuring
    extra = _steps(req, infos)
    if req.image is not None:
        from ..imageio import read_rgb

        img, image_desc = read_rgb(req.image), str(req.image)
    else:
        img, image_desc = synthetic_image(), "synthetic 640x480 RGB"
    state = device_state()
    env = collect_environment(state)
    notes = []
    if (state.get("throttled") or {}).get("now"):
        notes.append(f"the Pi reported throttling before the run: {', '.join(state['throttled']['now'])}")
    results: List[Dict[str, Any]] = []
    for ref in req.refs:
        r = bench_model(ref, req.cfg, img, say=say, extra=extra)
        r["environment"] = env["id"]
        results.append(r)
        lat = r["latency_ms"]
        say(f"{r['name']}: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, {r['throughput']['model_ips']:.1f} "
            f"inferences/s (model only), cold start {r['cold_start_ms']['total_ms']:.0f} ms")
        warning = _delegation_warning(r)
        if warning:
            warn(warning)
            notes.append(warning)
    env["device_state_end"] = device_state()
    cfg = req.cfg
    config = {"runs": cfg.runs if cfg.duration_s is None else None, "warmup": cfg.warmup, "threads": cfg.threads,
              "duration_s": cfg.duration_s, "interval_s": cfg.interval_s, "image": image_desc,
              "pipeline": req.source, "frames": req.frames if req.source is not None else None,
              "eval": str(req.eval_data) if req.eval_data else None, "eval_limit": req.eval_limit}
    return write_report(new_report("bench", command, config, [env], results, notes), req.report)
