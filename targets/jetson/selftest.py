"""Jetson hardware self-test (``edgemnv2 selftest --target jetson``): build fp16 and int8 engines for the three
tasks on this device and compare their outputs with ONNX Runtime's on the same inputs; a short report to paste.

Two steps, which can run on two machines:

* prepare (needs torch + onnxruntime: a host, or a Jetson that has them): for each task and precision,
  a small Jetson bundle (``build_jetson_bundle``) plus ``selftest_ref.npz`` holding preprocessed inputs
  and ONNX Runtime's outputs for them: the fp32 ONNX for fp16 engines, the Q/DQ ONNX run with graph
  optimisations disabled for int8 engines;
* run (needs TensorRT and a GPU): finish each bundle's engine, run the saved inputs through it with
  ``TensorRTRunner`` and compare. Any exception (ours, TensorRT's, pycuda's) becomes that engine's FAIL row.

Tolerances (max |engine - ONNX Runtime| divided by max |ONNX Runtime|, per output): fp16 <= 0.02
(fp16 rounding through ~50 layers); int8 <= 0.10 (TensorRT's int8 kernels vs Q/DQ simulated in
float: same scales, different accumulation order and fusions). Task agreement (top-1, mask pixels)
is reported alongside. Device side: imports the host packages only for the prepare step.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

__all__ = ["TOLERANCES", "TASKS", "REF_FILE", "prepare", "run_checks", "compare", "format_row", "format_report"]

TOLERANCES = {"fp16": 0.02, "int8": 0.10}
TASKS = {"classify": (0.35, 96, 10), "detect": (0.35, 160, 4), "segment": (0.35, 128, 5)}
REF_FILE = "selftest_ref.npz"
N_INPUTS = 4


def _synthetic_images(n: int, seed: int) -> List[Any]:
    """Smooth random RGB images (low-frequency noise, upsampled): less degenerate than white noise."""
    import numpy as np

    from ...tasks.preprocess import resize_rgb

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = resize_rgb(small, 180, 240)
        noise = rng.integers(-12, 13, img.shape)
        out.append(np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return out


def prepare(work: Path, tasks: List[str], precisions: List[str], say: Callable[[str], None]) -> List[Path]:
    """Build the self-test bundles and their ONNX Runtime reference outputs under ``work`` (host side)."""
    import numpy as np

    from ...bundle import load_bundle
    from ...errors import MissingDependency
    from ...model_source import BuildOptions, default_weights
    from ...predictor import Predictor
    from ...tasks.base import Task

    try:
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        raise MissingDependency(e.name or "torch", "host", "preparing the self-test bundles (run "
                                "'edgemnv2 selftest --target jetson --prepare DIR' on a host, copy DIR here, then "
                                "'edgemnv2 selftest --target jetson --work DIR')") from None
    from ...fileio import atomic_write_bytes
    from ..cpu.runner import OnnxRuntimeRunner
    from .export import build_jetson_bundle

    work.mkdir(parents=True, exist_ok=True)
    calib = work / "calib"
    if not calib.is_dir():
        import cv2

        calib.mkdir()
        for i, img in enumerate(_synthetic_images(12, seed=7)):
            cv2.imwrite(str(calib / f"synthetic_{i:02d}.png"), img[:, :, ::-1])
    inputs_rgb = _synthetic_images(N_INPUTS, seed=11)
    made = []
    for task in tasks:
        width, res, ncls = TASKS[task]
        use_default = default_weights(Task(task), "shapes") is not None  # small trained models
        for prec in precisions:
            out = work / f"{task}-{prec}"
            say(f"preparing {out.name} ({'built-in shapes weights' if use_default else 'random weights'})")
            opts = BuildOptions(task=Task(task), out=out, target="jetson", precision=prec, calib=calib,
                                calib_count=12, max_drop=100.0,
                                **(dict(weights=Path("shapes")) if use_default else
                                   dict(width_mult=width, resolution=res, num_classes=ncls)))
            build_jetson_bundle(opts, progress=None)
            b = load_bundle(out)
            onnx_name = b.manifest["model"]["onnx"]["qdq" if prec == "int8" else "fp32"]
            pred = Predictor(OnnxRuntimeRunner(out / onnx_name, optimize=False), b.task, b.labels,
                             b.normalization, b.manifest)
            with pred:
                feeds = [pred.preprocess(img) for img in inputs_rgb]
                name = next(iter(feeds[0]))
                outs = [pred.runner.infer(f) for f in feeds]
            arrays = {"input": np.concatenate([f[name] for f in feeds])}
            for k in outs[0]:
                arrays[f"out:{k}"] = np.concatenate([o[k] for o in outs])
            import io

            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(out / REF_FILE, buf.getvalue())
            made.append(out)
    return made


def compare(task: str, prec: str, got: Dict[str, Any], ref: Dict[str, Any]) -> Dict[str, Any]:
    import numpy as np

    worst = 0.0
    for k, r in ref.items():
        g = got[k].astype(np.float64)
        r = r.astype(np.float64)
        scale = max(float(np.abs(r).max()), 1e-12)
        worst = max(worst, float(np.abs(g - r).max()) / scale)
    row: Dict[str, Any] = {"task": task, "precision": prec, "rel_max_abs_diff": worst, "tolerance": TOLERANCES[prec]}
    if task == "classify":
        (k,) = list(ref)
        row["top1_agree"] = f"{int((got[k].argmax(-1) == ref[k].argmax(-1)).sum())}/{ref[k].shape[0]}"
    elif task == "segment":
        (k,) = list(ref)
        row["pixel_agree_pct"] = round(100.0 * float((got[k].argmax(1) == ref[k].argmax(1)).mean()), 2)
    else:
        sk = next(k for k in ref if ref[k].shape[-1] != 4)
        row["score_argmax_agree_pct"] = round(100.0 * float((got[sk].argmax(-1) == ref[sk].argmax(-1)).mean()), 2)
    row["pass"] = worst <= TOLERANCES[prec]
    return row


def run_checks(bundles: List[Path], say: Callable[[str], None], workspace_mb: int = 1024) -> Dict[str, Any]:
    """Finish each bundle's engine here and compare it with the saved ONNX Runtime outputs."""
    import numpy as np

    from ...bundle import load_bundle
    from .engine import finish_jetson_bundle
    from .runner import TensorRTRunner

    rows: List[Dict[str, Any]] = []
    device: Dict[str, Any] = {}
    for root in bundles:
        b = load_bundle(root)
        task, prec = b.task.value, b.precision
        try:
            say(f"building the {prec} engine for {task} ...")
            t0 = time.perf_counter()
            finish_jetson_bundle(root, workspace_mb=workspace_mb, progress=None)
            build_s = time.perf_counter() - t0
            b = load_bundle(root)
            with np.load(root / REF_FILE) as z:
                inputs = z["input"]
                ref_batches = {k[4:]: z[k] for k in z.files if k.startswith("out:")}
            runner = TensorRTRunner(b.model_path, manifest=b.manifest)
            with runner:
                device = runner.facts
                name = runner.input_specs()[0].name
                outs = [runner.infer({name: inputs[i:i + 1]}) for i in range(inputs.shape[0])]
                times = []
                for _ in range(10):
                    runner.infer({name: inputs[:1]})
                    times.append(runner.last_inference_ms)
            got = {k: np.concatenate([o[k] for o in outs]) for k in ref_batches}
            row = compare(task, prec, got, ref_batches)
            row.update(build_s=round(build_s, 1), infer_ms_median=round(float(np.median(times)), 3),
                       method=b.manifest["model"]["engine"]["method"])
        except Exception as e:  # noqa: BLE001 - TensorRT/CUDA raise their own types: one FAIL row, not a traceback
            row = {"task": task, "precision": prec, "pass": False, "error": _first_line(e)}
        rows.append(row)
        say(format_row(row))
    return {"device": device, "rows": rows, "ok": all(r["pass"] for r in rows), "tolerances": dict(TOLERANCES)}


def format_row(r: Dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['task']:<8} {r['precision']:<4} FAIL  {r['error']}"
    extra = ", ".join(f"{k}={r[k]}" for k in ("top1_agree", "pixel_agree_pct", "score_argmax_agree_pct") if k in r)
    return (f"{r['task']:<8} {r['precision']:<4} {'PASS' if r['pass'] else 'FAIL'}  rel max|Δ| "
            f"{r['rel_max_abs_diff']:.4f} (tol {r['tolerance']}), {extra}, build {r['build_s']} s, "
            f"infer {r['infer_ms_median']} ms (median of 10, incl. copies), {r['method']}")


def format_report(result: Dict[str, Any]) -> str:
    """The paste-able report: environment line, one line per engine, verdict."""
    from ... import __version__

    d = result.get("device") or {}
    model = _board()
    lines = ["edgemnv2 selftest --target jetson",
             f"edgemnv2 {__version__}, Python {platform.python_version()}, TensorRT {d.get('tensorrt')}, "
             f"CUDA runtime {d.get('cuda_runtime')}, driver {d.get('cuda_driver')} ({d.get('cuda_bindings')}), "
             f"L4T {d.get('l4t') or '-'}",
             f"device: {model or '-'}; GPU {d.get('gpu')} (compute {d.get('compute_capability')})",
             "engine vs ONNX Runtime on the same inputs (fp16 vs fp32 ONNX; int8 vs Q/DQ ONNX, graph optimisations "
             "off); rel max|Δ| = max|engine - ORT| / max|ORT|"]
    lines += [format_row(r) for r in result["rows"]]
    lines.append("RESULT: " + ("PASS" if result["ok"] else "FAIL"))
    return "\n".join(lines)


def _board() -> Optional[str]:
    from ...bench.telemetry_pi import board_model

    return board_model()


def _first_line(e: BaseException) -> str:
    """``EdgeError``'s message, or ``TypeName: first line`` of anything else (TensorRT, pycuda, numpy)."""
    from ...errors import EdgeError

    if isinstance(e, EdgeError):
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    text = (str(e).strip().splitlines() or [""])[0][:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
