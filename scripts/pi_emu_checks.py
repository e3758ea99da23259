"""Checks of the emulated Raspberry Pi lane (scripts/pi_emulated.py): everything goes through the CLI.

Bundles are built on the host (``edgemnv2 build --target pi``), then ``predict`` / ``camera`` run them both
on x86 (host interpreters) and on emulated aarch64; their printed results must agree within ``TOLERANCE``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pi_emu_setup as setup

REPO = Path(__file__).resolve().parents[1]
CORAL = Path(os.environ.get("EDGEMNV2_CORAL_DIR", REPO.parent / "shared" / "data" / "coral"))
TASKS = ("classify", "detect", "segment")
PRECISIONS = ("fp32", "fp16", "int8")
# Largest |x86 - aarch64| allowed on the numbers predict/camera print (scores, boxes in pixels rounded to
# 0.01), and the share of mask pixels allowed to differ. int8 kernels are integer maths: identical. Float
# kernels differ between SSE/AVX and NEON in rounding (fused multiply-add, summation order).
TOLERANCE = {"int8": 0.0, "fp16": 1e-3, "fp32": 1e-3}
MASK_TOLERANCE = {"int8": 0.0, "fp16": 1e-3, "fp32": 1e-3}
# Camera records: fields that are timings or depend on them (not results).
VOLATILE = re.compile(r"time|latency|_ms$|age|fps|dropped|seq")
CLI_TIMEOUT = 900
SYNTHETIC = "synthetic://?fps=0&width=320&height=240&seed=1"  # fps=0: every frame in order, none dropped


class CheckFailed(Exception):
    """A check ran and its result is wrong."""


class CheckSkipped(Exception):
    """A check cannot run here (e.g. ../shared/data/coral is absent)."""


def cli(python: str, args: Sequence[Any], module: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m edgemnv2 ARGS`` with the TFLite runtime forced to ``module``; fails on a non-zero exit."""
    env = dict(os.environ, EDGEMNV2_TFLITE_RUNTIME=module)
    env.pop("EDGEMNV2_DEBUG", None)
    p = subprocess.run([python, "-m", "edgemnv2", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=CLI_TIMEOUT)
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]
        raise CheckFailed(f"edgemnv2 {args[0]} exited {p.returncode}: {lines[-1] if lines else ''}")
    return p


def json_lines(text: str) -> List[dict]:
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]


def max_diff(a: Any, b: Any, where: str = "$", skip: Callable[[str], bool] = lambda k: False) -> float:
    """Largest numeric difference between two JSON values; CheckFailed if their structure or text differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in a if not skip(k)]
        if sorted(keys) != sorted(k for k in b if not skip(k)):
            raise CheckFailed(f"{where}: keys differ ({sorted(a)} vs {sorted(b)})")
        return max([max_diff(a[k], b[k], f"{where}.{k}", skip) for k in keys] + [0.0])
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise CheckFailed(f"{where}: {len(a)} items on x86, {len(b)} on aarch64")
        return max([max_diff(x, y, f"{where}[{i}]", skip) for i, (x, y) in enumerate(zip(a, b))] + [0.0])
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b))
    if a != b:
        raise CheckFailed(f"{where}: {a!r} on x86, {b!r} on aarch64")
    return 0.0


def verdict(diff: float, tol: float, what: str) -> str:
    if diff > tol:
        raise CheckFailed(f"{what}: max |x86 - aarch64| {diff:.3g} > {tol:g}")
    return f"{what}: identical" if diff == 0 else f"{what}: max |x86 - aarch64| {diff:.2g} (<= {tol:g})"


def mask_mismatch(x86_dir: Path, arm_dir: Path) -> float:
    """Share of differing pixels over every mask PNG written by ``predict --mask-out`` on both sides."""
    import cv2
    import numpy as np

    names = sorted(p.name for p in x86_dir.glob("*.png"))
    if not names or names != sorted(p.name for p in arm_dir.glob("*.png")):
        raise CheckFailed(f"masks differ in number: {names} vs {sorted(p.name for p in arm_dir.glob('*.png'))}")
    bad = total = 0
    for n in names:
        a, b = (cv2.imread(str(d / n), cv2.IMREAD_UNCHANGED) for d in (x86_dir, arm_dir))
        if a.shape != b.shape:
            raise CheckFailed(f"mask {n}: shape {a.shape} vs {b.shape}")
        bad, total = bad + int(np.count_nonzero(a != b)), total + a.size
    return bad / total


class Lane:
    """Inputs shared by the checks (made once on the host) and the checks themselves."""

    def __init__(self, env: Any, log: Callable[[str], None]) -> None:
        self.env, self.log, self.work = env, log, env.work
        self.out = self.work / "out"
        self.bundles: Dict[str, Path] = {}
        self.tests_copy = self.work / "tests-copy"

    # ---- inputs, made with the host CLI
    def make_inputs(self) -> None:
        host = self.env.x86.get("litert") or next(iter(self.env.x86.values()))
        synth = self.work / "synth"
        cli(host, ["data", "synth", "--task", "classify", "--train", 0, "--val", 0, "--calib", 24, "--size", 160,
                   "--out", synth], "ai_edge_litert", self.work)
        self.calib = synth / "calib"
        self.images = sorted(self.calib.glob("*"))[:3] + ([CORAL / "cat.bmp"] if CORAL.is_dir() else [])
        self.video = self.work / "clip.avi"
        self._write_video(self.video)
        keys = ["classify-int8"] if self.env.smoke else [f"{t}-{p}" for t in TASKS for p in PRECISIONS]
        for key in keys:
            task, prec = key.split("-")
            self.log(f"building {key} on the host")
            calib = ["--calib", self.calib, "--calib-count", 24, "--max-drop", 100] if prec == "int8" else []
            cli(host, ["build", "--target", "pi", "--task", task, "--precision", prec, *calib,
                       "--out", self.work / "bundles" / key], "ai_edge_litert", self.work)
            self.bundles[key] = self.work / "bundles" / key
        # The device tests run from a copy: the checkout's edgemnv2/ must not shadow the installed wheel.
        shutil.copytree(REPO / "tests", self.tests_copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(REPO / "pyproject.toml", self.tests_copy)

    def _write_video(self, path: Path) -> None:
        """12 frames (MJPG .avi): calibration images sliding sideways."""
        import cv2
        import numpy as np

        frames = [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sorted(self.calib.glob("*"))[:3]]
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
        for i in range(12):
            w.write(np.roll(frames[i % 3], 8 * i, axis=1))
        w.release()

    # ---- checks
    def interpreter(self, rt: str) -> str:
        code = ("import platform, sys, importlib, numpy, cv2; m = importlib.import_module(sys.argv[1]); "
                "v = getattr(m, '__version__', '?'); "
                "print(platform.machine(), platform.python_version(), sys.argv[1], v, 'numpy', numpy.__version__, "
                "'cv2', cv2.__version__)")
        p = subprocess.run([str(self.env.emu[rt]), "-c", code, setup.RUNTIMES[rt].module], capture_output=True,
                           text=True, timeout=CLI_TIMEOUT)
        if p.returncode != 0 or not p.stdout.startswith("aarch64 3.11"):
            raise CheckFailed(f"emulated Python: {(p.stderr or p.stdout).strip().splitlines()[-1:]}")
        self.env.versions[rt] = p.stdout.strip()
        return p.stdout.strip()

    def pytest(self, rt: str, targets: Sequence[str]) -> str:
        """``pytest -m device`` by the emulated Python, from the copy of tests/ (no checkout on sys.path)."""
        env = dict(os.environ, EDGEMNV2_CORAL_DIR=str(CORAL), PYTHONDONTWRITEBYTECODE="1")
        if "tflite214" in self.env.emu:
            env["EDGEMNV2_TFLITE214_PYTHON"] = str(self.env.emu["tflite214"])
        p = subprocess.run([str(self.env.emu[rt]), "-m", "pytest", "-q", "-m", "device", "-p", "no:cacheprovider",
                            *targets], cwd=self.tests_copy, env=env, capture_output=True, text=True, timeout=3600)
        last = (p.stdout.strip().splitlines() or ["no output"])[-1]
        if p.returncode != 0:
            failed = [ln for ln in p.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
            raise CheckFailed("; ".join(failed[:3]) or last)
        return last.strip("= ")

    def predict(self, rt: str, name: str, args: Sequence[Any], tol: float, mask_tol: float) -> str:
        module = setup.RUNTIMES[rt].module
        res, masks = {}, {}
        for side, py in (("x86", self.env.x86[rt]), ("aarch64", str(self.env.emu[rt]))):
            masks[side] = self.out / rt / side / name / "masks"
            mask_out = ["--mask-out", masks[side]] if "segment" in name else []
            res[side] = json_lines(cli(py, ["predict", *args, "--json", *mask_out], module, self.work).stdout)
        if not res["x86"]:
            raise CheckFailed("predict printed no results")
        detail = verdict(max_diff(res["x86"], res["aarch64"]), tol, f"{len(res['x86'])} images")
        if any(masks["x86"].glob("*.png")):
            share = mask_mismatch(masks["x86"], masks["aarch64"])
            if share > mask_tol:
                raise CheckFailed(f"masks: {share:.4%} of pixels differ (> {mask_tol:.2%})")
            detail += ", masks identical" if share == 0 else f", masks {share:.4%} pixels differ"
        return detail

    def predict_bundle(self, rt: str, key: str) -> str:
        prec = key.split("-")[1]
        return self.predict(rt, key, [*self.images, "--bundle", self.bundles[key]], TOLERANCE[prec],
                            MASK_TOLERANCE[prec])

    def predict_coral(self, rt: str, task: str) -> str:
        if not CORAL.is_dir():
            raise CheckSkipped(f"{CORAL} is absent")
        model, labels, images = {
            "classify": ("mobilenet_v2_1.0_224_quant.tflite", "imagenet_labels.txt",
                         ["cat.bmp", "grace_hopper.bmp", "missvickie_potato_chips.bmp"]),
            "segment": ("deeplabv3_mnv2_pascal_quant.tflite", "pascal_voc_segmentation_labels.txt",
                        ["bird_segmentation.bmp", "dog_segmentation.bmp"]),
        }[task]
        return self.predict(rt, f"coral-{task}", [*(CORAL / i for i in images), "--model", CORAL / model,
                                                  "--labels", CORAL / labels, "--task", task], 0.0, 0.0)

    def camera(self, rt: str, key: str, source: str, frames: int) -> str:
        module, recs = setup.RUNTIMES[rt].module, {}
        for side, py in (("x86", self.env.x86[rt]), ("aarch64", str(self.env.emu[rt]))):
            out = self.out / rt / side / f"camera-{key}-{len(recs)}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            cli(py, ["camera", "--source", source, "--bundle", self.bundles[key], "--max-frames", frames,
                     "--no-window", "--no-hud", "--json-out", out], module, self.work)
            recs[side] = json_lines(out.read_text())
        if len(recs["x86"]) != frames:
            raise CheckFailed(f"{len(recs['x86'])} frames processed on x86, expected {frames}")
        diff = max_diff(recs["x86"], recs["aarch64"], skip=lambda k: bool(VOLATILE.search(k)))
        return verdict(diff, TOLERANCE[key.split("-")[1]], f"{frames} frames")

    def bench(self, rt: str, keys: Sequence[str]) -> str:
        report = self.out / rt / "bench"
        args = [a for k in keys for a in ("--bundle", self.bundles[k])]
        cli(str(self.env.emu[rt]), ["bench", *args, "--runs", 3, "--warmup", 1, "--report", report],
            setup.RUNTIMES[rt].module, self.work)
        doc = json.loads((report / "report.json").read_text())
        text = json.dumps(doc)
        if '"aarch64"' not in text or setup.RUNTIMES[rt].module not in text:
            raise CheckFailed("report.json names neither aarch64 nor the runtime")
        return f"report.json for {len(keys)} bundles (aarch64, {setup.RUNTIMES[rt].module}); timings not meaningful"

    def doctor(self, rt: str) -> str:
        module = setup.RUNTIMES[rt].module
        doc = json.loads(cli(str(self.env.emu[rt]), ["doctor", "--json"], module, self.work).stdout)
        text = json.dumps(doc)
        heavy = [k for k in ("torch", "tensorflow", "onnx") if doc.get("packages", {}).get(k)]
        if '"aarch64"' not in text or heavy:
            raise CheckFailed(f"doctor: machine not aarch64 or host packages present ({heavy})")
        if not doc.get("packages", {}).get(module):
            raise CheckFailed(f"doctor does not see {module}")
        return f"aarch64, {module} {doc['packages'][module]}, no torch/tensorflow/onnx"


def plan(env: Any, log: Callable[[str], None]) -> List[Tuple[str, str, Callable[[], str]]]:
    """The checks to run, in order: (runtime, name, thunk)."""
    lane = Lane(env, log)
    lane.make_inputs()
    int8 = [k for k in lane.bundles if k.endswith("int8")]
    steps: List[Tuple[str, str, Callable[[], str]]] = []
    for rt in env.emu:
        steps += [(rt, "interpreter + runtime", lambda rt=rt: lane.interpreter(rt)),
                  (rt, "import hygiene (pytest)", lambda rt=rt: lane.pytest(rt, ["tests/test_import_hygiene.py"])),
                  (rt, "predict coral-classify", lambda rt=rt: lane.predict_coral(rt, "classify"))]
        if not env.smoke:
            steps.append((rt, "predict coral-segment", lambda rt=rt: lane.predict_coral(rt, "segment")))
        steps += [(rt, f"predict {k}", lambda rt=rt, k=k: lane.predict_bundle(rt, k)) for k in lane.bundles]
        steps += [(rt, f"camera synthetic {k}", lambda rt=rt, k=k: lane.camera(rt, k, SYNTHETIC, 6)) for k in int8]
        vk = "detect-int8" if "detect-int8" in lane.bundles else int8[0]
        steps.append((rt, f"camera video {vk}", lambda rt=rt, vk=vk: lane.camera(rt, vk, str(lane.video), 12)))
        steps += [(rt, "bench", lambda rt=rt: lane.bench(rt, int8)), (rt, "doctor", lambda rt=rt: lane.doctor(rt))]
    if not env.smoke and "litert" in env.emu:
        # One interpreter runs them; tests that need tflite-runtime 2.14 use the other one (tests/support).
        steps.append(("both", "device tests (pytest -m device)", lambda: lane.pytest("litert", ["tests"])))
    return steps
