"""Measure one model: cold start, warm-up, timed loop (model-only latency + per-stage), sustained windows.

Definitions (also in docs/report.md):

* **cold start** - from creating the runner (runtime import included when it is the first model of the
  process) to the first task result of one image: ``load_ms`` (open + activate) + ``first_result_ms``
  (preprocess + first inference + postprocess).
* **model-only latency** - wall time of ``runner.infer`` (the runtime call with the prepared input
  tensor), one sample per timed iteration after ``warmup`` untimed iterations. Statistics come from
  :func:`edgemnv2.profiling.latency_stats`; the raw samples are kept in the report.
* **stages** - preprocess / inference / postprocess times of the same iterations.
* **throughput** - ``model_ips`` = 1000 / mean model-only latency (batch 1, sequential);
  ``end_to_end_ips`` = iterations / wall time of the timed loop (image in, task result out).
* **sustained** (``duration_s``) - the loop runs for that long; latency and telemetry are also reported
  per time window so thermal throttling shows as a rising latency / falling clock.
* **energy** - board power integrated over the timed loop divided by its iterations (needs a power
  source: Jetson rails). Includes idle and pre/post power of the board, as a wall meter would.

Device side: numpy, psutil (optional), the runner. No torch/tensorflow/onnx imports here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..errors import EdgeError
from ..profiling import StageTimes, latency_stats
from ..targets.registry import FORMAT_FOR_SUFFIX, RUNTIME_NEEDS
from .telemetry import TelemetrySampler, energy_between

__all__ = ["BenchConfig", "ModelRef", "bench_model", "check_runtime", "synthetic_image"]


@dataclass
class BenchConfig:
    runs: int = 100
    warmup: int = 10
    threads: Optional[int] = None
    duration_s: Optional[float] = None
    interval_s: float = 0.5
    window_s: Optional[float] = None  # sustained-mode window; default duration / 12, at least 1 s

    def validate(self) -> None:
        if self.duration_s is None and self.runs < 1:
            raise EdgeError(f"--runs is {self.runs}: nothing would be measured", "pass --runs 1 or more")
        if self.duration_s is not None and self.duration_s <= 0:
            raise EdgeError(f"--duration is {self.duration_s}", "pass a positive number of seconds")
        if self.warmup < 0:
            raise EdgeError(f"--warmup is {self.warmup}", "pass 0 or more warm-up runs")
        if self.threads is not None and self.threads < 1:
            raise EdgeError(f"--threads is {self.threads}", "pass 1 or more, or leave it out for the runtime default")
        if self.interval_s <= 0:
            raise EdgeError(f"--interval is {self.interval_s}", "pass a positive sampling interval in seconds")


@dataclass
class ModelRef:
    """A bundle directory, or a bare model file with its task (and optional labels)."""

    bundle: Optional[Path] = None
    model: Optional[Path] = None
    task: Optional[str] = None
    labels: Optional[Path] = None

    @property
    def name(self) -> str:
        p = self.bundle if self.bundle is not None else self.model
        assert p is not None
        return Path(p).resolve().name if self.bundle is not None else Path(p).name


def check_runtime(model_format: str, what: str) -> str:
    """Raise EdgeError naming what to install when no runtime for ``model_format`` is importable."""
    entry = RUNTIME_NEEDS.get(model_format)
    if entry is None:
        raise EdgeError(f"{what}: unknown model format '{model_format}'", "pass a .onnx, .tflite or .engine model")
    modules, label, install = entry
    for mod in modules:
        try:
            if importlib.util.find_spec(mod) is not None:
                return mod
        except (ImportError, ValueError):
            continue
    raise EdgeError(f"{what} needs {label}, which is not installed here", install)


def synthetic_image(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A deterministic RGB uint8 test image (smooth gradients plus noise), the size of a VGA camera frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                     (xx + yy) * 255 // max(width + height - 2, 1)], axis=-1)
    noise = rng.integers(-20, 21, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _open_predictor(ref: ModelRef, threads: Optional[int]) -> Any:
    from ..predictor import Predictor

    try:
        if ref.bundle is not None:
            return Predictor.from_bundle(ref.bundle, threads=threads)
        return Predictor.from_model(ref.model, ref.task, ref.labels, threads=threads)  # type: ignore[arg-type]
    except ImportError as e:  # the runner module for this format is not part of this install
        raise EdgeError(f"cannot open {ref.name}: {e}", "update edgemnv2 or install the runtime it names") from None


def describe_ref(ref: ModelRef) -> Dict[str, Any]:
    """Validate the bundle / model and return what the report records about it (before loading)."""
    from ..bundle import load_bundle
    from ..fileio import sha256_file

    if ref.bundle is not None:
        b = load_bundle(ref.bundle)
        fmt = b.model_format
        if b.manifest["model"].get("pending"):  # before the runtime check: the engine must be built first
            from ..targets.jetson.engine import pending_engine_error

            raise pending_engine_error(b.root, b.manifest["model"]["file"])
        check_runtime(fmt, f"bundle {ref.bundle} ({b.target}, {fmt})")
        return {"bundle": str(ref.bundle), "model_file": b.manifest["model"]["file"], "model_format": fmt,
                "model_sha256": b.manifest["model"].get("sha256"), "task": b.task.value, "target": b.target,
                "precision": b.precision, "architecture": b.manifest.get("architecture"),
                "num_classes": b.manifest.get("num_classes")}
    assert ref.model is not None
    model = Path(ref.model)
    if not model.exists():
        raise EdgeError(f"model file {model} does not exist", "check the path")
    if model.is_dir():
        raise EdgeError(f"{model} is a directory", "use --bundle DIR for a bundle, --model FILE for a model file")
    if ref.task is None:
        raise EdgeError("--task is required with --model", "pass --task classify, detect or segment")
    fmt = FORMAT_FOR_SUFFIX.get(model.suffix.lower())
    if fmt is None:
        raise EdgeError(f"unsupported model file type '{model.suffix}' for {model.name}",
                        "pass a .onnx, .tflite or .engine file")
    check_runtime(fmt, f"{model.name} ({fmt})")
    return {"bundle": None, "model_file": str(model), "model_format": fmt, "model_sha256": sha256_file(model),
            "task": str(ref.task), "target": None, "precision": None, "architecture": None, "num_classes": None}


def bench_model(ref: ModelRef, cfg: BenchConfig, image_rgb: np.ndarray,
                say: Callable[[str], None] = lambda m: None,
                extra: Optional[Callable[[Any], Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Run the whole measurement for one model and return its ``results[]`` entry (see docs/report.md).

    ``extra(predictor)`` runs after the timed loop with the active predictor (pipeline, accuracy) and
    its dict is merged into the result.
    """
    cfg.validate()
    info = describe_ref(ref)
    try:
        import psutil

        proc: Any = psutil.Process()
    except ImportError:  # pragma: no cover - psutil is a core dependency
        proc = None
    sampler = TelemetrySampler(cfg.interval_s)
    sampler.start()
    try:
        result = _run(ref, cfg, image_rgb, info, sampler, proc, say, extra)
    finally:
        telemetry = sampler.stop()
    t0, t1 = telemetry["marks"].get("timed_start"), telemetry["marks"].get("timed_end")
    window = [s for s in telemetry["samples"] if t0 is not None and t1 is not None and t0 <= s["t_s"] <= t1]
    result["telemetry"] = telemetry
    result["energy"] = _energy(telemetry["samples"], t0, t1, result["latency_ms"]["count"])
    sys_cpu = [s["cpu_percent"] for s in window if s.get("cpu_percent") is not None]
    result["cpu"]["system_percent_mean"] = float(np.mean(sys_cpu)) if sys_cpu else None
    rss = [s["rss_mb"] for s in telemetry["samples"] if s.get("rss_mb") is not None]
    if rss:
        result["memory"]["peak_rss_mb"] = max([result["memory"]["peak_rss_mb"] or 0.0] + rss)
    if result.get("sustained") is not None and t0 is not None:
        _windows_telemetry(result["sustained"], telemetry["samples"], t0)
    return result


def _energy(samples: List[Dict[str, Any]], t0: Optional[float], t1: Optional[float], n: int) -> Dict[str, Any]:
    if t0 is None or t1 is None or n == 0:
        return {"available": False, "reason": "no timed loop"}
    e = energy_between(samples, t0, t1)
    if e is None:
        return {"available": False, "reason": "no power source on this machine (Jetson power rails via tegrastats)"}
    return {"available": True, "source": e["source"], "joules": e["joules"], "mean_power_mw": e["mean_power_mw"],
            "per_inference_mj": e["joules"] * 1000.0 / n, "power_samples": e["samples"]}


def _rss_mb(proc: Any) -> Optional[float]:
    if proc is None:
        return None
    try:
        return proc.memory_info().rss / 2**20
    except Exception:
        return None


def _max_or_none(*vals: Optional[float]) -> Optional[float]:
    got = [v for v in vals if v is not None]
    return max(got) if got else None


def _ru_maxrss_mb() -> Optional[float]:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except (ImportError, OSError):  # pragma: no cover - not Linux
        return None


def _import_runtime(model_format: str) -> float:
    """Import the runtime now and return how long that took (0 when it was already imported)."""
    t = time.perf_counter()
    for mod in RUNTIME_NEEDS[model_format][0]:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
            break
    return (time.perf_counter() - t) * 1e3


@dataclass
class _Loop:
    """The timed loop's raw outcome: per-stage samples, sample times, iterations, wall time, CPU times."""

    stages: StageTimes
    times_s: List[float]
    t_start: float
    n: int
    wall: float
    process_cpu: Optional[float]


def _warmup(predictor: Any, image: np.ndarray, runs: int) -> List[float]:
    size = image.shape[:2]
    warm: List[float] = []
    for _ in range(runs):
        feeds = predictor.preprocess(image)
        t = time.perf_counter()
        raw = predictor.infer(feeds)
        warm.append((time.perf_counter() - t) * 1e3)
        predictor.postprocess(raw, size)
    return warm


def _timed_loop(predictor: Any, image: np.ndarray, cfg: BenchConfig, sampler: TelemetrySampler, proc: Any) -> _Loop:
    size = image.shape[:2]
    stages = StageTimes()
    times_s: List[float] = []
    cpu0 = proc.cpu_times() if proc is not None else None
    t_start = sampler.mark("timed_start")
    wall0 = time.perf_counter()
    deadline = wall0 + cfg.duration_s if cfg.duration_s else None
    n = 0
    while (n < cfg.runs) if deadline is None else (time.perf_counter() < deadline):
        a = time.perf_counter()
        feeds = predictor.preprocess(image)
        b = time.perf_counter()
        raw = predictor.infer(feeds)
        c = time.perf_counter()
        predictor.postprocess(raw, size)
        d = time.perf_counter()
        stages.add("preprocess", (b - a) * 1e3)
        stages.add("inference", (c - b) * 1e3)
        stages.add("postprocess", (d - c) * 1e3)
        times_s.append(b - sampler.t0)
        n += 1
    wall = time.perf_counter() - wall0
    sampler.mark("timed_end")
    cpu1 = proc.cpu_times() if proc is not None else None
    process_cpu = None
    if cpu0 is not None and cpu1 is not None and wall > 0:
        process_cpu = 100.0 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall
    return _Loop(stages, times_s, t_start, n, wall, process_cpu)


def _run(ref: ModelRef, cfg: BenchConfig, image: np.ndarray, info: Dict[str, Any], sampler: TelemetrySampler,
         proc: Any, say: Callable[[str], None], extra: Optional[Callable[[Any], Dict[str, Any]]]) -> Dict[str, Any]:
    size = image.shape[:2]
    rss_before = _rss_mb(proc)
    say(f"{ref.name}: loading")
    import_ms = _import_runtime(info["model_format"])  # the runtime's own import time, reported apart
    sampler.mark("load_start")
    t_load = time.perf_counter()
    predictor = _open_predictor(ref, cfg.threads)
    predictor.activate()
    try:
        t_loaded = time.perf_counter()
        predictor.postprocess(predictor.infer(predictor.preprocess(image)), size)
        t_first = time.perf_counter()
        sampler.mark("first_result")
        rss_loaded = _rss_mb(proc)
        say(f"{ref.name}: warm-up ({cfg.warmup} runs)")
        warm = _warmup(predictor, image, cfg.warmup)
        say(f"{ref.name}: measuring ({f'{cfg.duration_s:g} s sustained' if cfg.duration_s else f'{cfg.runs} runs'})")
        loop = _timed_loop(predictor, image, cfg, sampler, proc)
        rss_end = _rss_mb(proc)
        runtime_desc = _describe(predictor)
        layer_profile = getattr(predictor.runner, "layer_profile", None)  # TensorRT: per-layer times + precisions
        if layer_profile is not None:
            runtime_desc["layers"] = layer_profile()
        input_spec = [s.to_dict() for s in predictor.runner.input_specs()]
        extra_out = extra(predictor) if extra is not None else {}
    finally:
        predictor.deactivate()
    # samples are stored rounded to 0.1 us (far below timer noise) and the statistics are computed from the
    # stored values, so anyone can recompute them exactly from report.json
    samples = {k: [round(v, 4) for v in vals] for k, vals in loop.stages.samples.items()}
    loop.stages.samples.update(samples)
    infer_ms = samples.get("inference", [])
    rel_s = [round(t - loop.t_start, 6) for t in loop.times_s]
    lat = latency_stats(infer_ms)
    result: Dict[str, Any] = {
        "name": ref.name, **info, "runtime": runtime_desc, "threads": cfg.threads, "input": input_spec,
        "image_size": [int(size[0]), int(size[1])],
        "cold_start_ms": {"runtime_import_ms": import_ms, "load_ms": (t_loaded - t_load) * 1e3,
                          "first_result_ms": (t_first - t_loaded) * 1e3, "total_ms": (t_first - t_load) * 1e3},
        "warmup_ms": [round(v, 4) for v in warm],
        "latency_ms": lat,
        "stages_ms": loop.stages.summary(),
        "throughput": {"model_ips": 1000.0 / lat["mean"] if lat["mean"] else None,
                       "end_to_end_ips": loop.n / loop.wall if loop.wall > 0 else None, "iterations": loop.n,
                       "wall_s": loop.wall},
        "samples": {"t_s": rel_s, "latency_ms": infer_ms, "preprocess_ms": samples.get("preprocess", []),
                    "postprocess_ms": samples.get("postprocess", [])},
        "memory": {"rss_before_load_mb": rss_before, "rss_after_load_mb": rss_loaded,
                   "peak_rss_mb": _max_or_none(rss_loaded, rss_end), "process_max_rss_mb": _ru_maxrss_mb()},
        "cpu": {"process_percent": loop.process_cpu, "cpu_count": os.cpu_count()},
        "sustained": _sustained(rel_s, infer_ms, cfg) if cfg.duration_s else None,
        "pipeline": None,
        "accuracy": None,
    }
    result.update(extra_out)
    return result


def _describe(predictor: Any) -> Dict[str, Any]:
    try:
        d = dict(predictor.runner.describe())
    except Exception as e:  # describe() is informational; never fail the benchmark over it
        d = {"runtime": getattr(predictor.runner, "runtime", "unknown"), "describe_error": str(e)[:120]}
    return {k: (v if isinstance(v, (str, int, float, bool, list, dict)) or v is None else str(v)) for k, v in d.items()}


def _sustained(rel_s: List[float], infer_ms: List[float], cfg: BenchConfig) -> Dict[str, Any]:
    """Latency per time window of the sustained run; ``rel_s`` = the stored ``samples.t_s``.

    Windows are ``[start, end)``; the last one is closed and stretched to the last sample (the final run
    may end just after the deadline), so every sample is in exactly one window.
    """
    assert cfg.duration_s is not None
    width = cfg.window_s or max(1.0, cfg.duration_s / 12.0)
    rel = np.asarray(rel_s, dtype=np.float64)
    lat = np.asarray(infer_ms, dtype=np.float64)
    n = max(1, int(np.ceil(cfg.duration_s / width - 1e-9)))
    last_end = max(cfg.duration_s, float(rel.max()) if rel.size else 0.0)
    windows = []
    for k in range(n):
        start, end = k * width, (last_end if k == n - 1 else (k + 1) * width)
        sel = (rel >= start) & ((rel <= end) if k == n - 1 else (rel < end))
        st = latency_stats(lat[sel].tolist())
        windows.append({"start_s": start, "end_s": end, "count": st["count"], "p50": st["p50"], "p90": st["p90"],
                        "mean": st["mean"]})
    full = [w for w in windows if w["count"]]
    ratio = (full[-1]["p50"] / full[0]["p50"]) if len(full) >= 2 and full[0]["p50"] else None
    return {"duration_s": cfg.duration_s, "window_s": width, "windows": windows, "last_over_first_p50": ratio}


def _windows_telemetry(sustained: Dict[str, Any], samples: List[Dict[str, Any]], t0: float) -> None:
    """Add each window's max temperature, mean CPU clock and mean power, where those were measured."""
    for w in sustained["windows"]:
        inside = [s for s in samples if t0 + w["start_s"] <= s["t_s"] < t0 + w["end_s"]]
        temps = [max(s["temps_c"].values()) for s in inside if s.get("temps_c")]
        mhz = [s["cpu_mhz"] for s in inside if s.get("cpu_mhz") is not None] or \
              [s["arm_mhz"] for s in inside if s.get("arm_mhz") is not None]
        power = [s["power_mw"] for s in inside if s.get("power_mw") is not None]
        w["temp_max_c"] = max(temps) if temps else None
        w["cpu_mhz_mean"] = float(np.mean(mhz)) if mhz else None
        w["power_mw_mean"] = float(np.mean(power)) if power else None
