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
RAW = Path(__file__).with_name("pi_emu_raw.py")
# x86 and aarch64 kernels differ (XNNPACK requantizes int8 differently on SSE/AVX and NEON; tflite-runtime
# 2.14 runs int8 on reference kernels on x86, optimised ones on aarch64, which differ from each other as much
# as either differs from LiteRT; float sums run in another order), so raw outputs of the same input tensors
# may differ by: integer outputs, in LSB, per runtime; float ones relative to the output's largest magnitude;
# class ids (DeepLab's in-graph argmax) in share of pixels.
RAW_LSB = {"litert": 2, "tflite214": 32}
RAW_FLOAT, RAW_CLASS_IDS = 1e-3, 0.02
# and what the CLI prints must agree in its decisions (top-1 class, the set of detections, >= 99% of mask
# pixels); score and box differences are reported, not gated.
MASK_AGREEMENT = 0.99
# ... except borderline ones: a top-1 that x86 itself ranked within this much of the aarch64 one, a
# detection scored within this much of the threshold. OpenCV 5's x86 and aarch64 wheels resize differently
# (+-1 on ~22% of pixels), which moved the small synthetic-shape detector's scores by up to 0.12 (LiteRT).
BORDERLINE = 0.15
SCORE_THRESHOLD = 0.3  # passed to predict/camera for detect bundles
# Camera records: fields that are timings or depend on them (not results).
VOLATILE = re.compile(r"time|latency|_ms$|age|fps|dropped|seq")
CLI_TIMEOUT = 900
HYGIENE_TESTS = "tests/test_import_hygiene.py"
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


def _box(d: dict) -> List[float]:
    """x1, y1, x2, y2 of a printed detection: ``bbox`` is COCO's x, y, w, h (what ``predict --json`` and
    ``camera --json-out`` print), ``box`` is x1, y1, x2, y2."""
    if "bbox" in d:
        x, y, w, h = d["bbox"]
        return [x, y, x + w, y + h]
    return list(d.get("box") or [])


def _iou(a: List[float], b: List[float]) -> float:
    if len(a) != 4 or len(b) != 4:
        return 0.0
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a, b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def _compare_top(a: list, b: list, where: str, notes: List[str]) -> float:
    sa, sb = ({c["index"]: c["score"] for c in t} for t in (a, b))
    if a[0]["index"] != b[0]["index"]:
        margin = a[0]["score"] - sa.get(b[0]["index"], 0.0)
        if margin >= BORDERLINE:
            raise CheckFailed(f"{where}: top-1 {a[0]['label']!r} on x86, {b[0]['label']!r} on aarch64 "
                              f"(x86 margin {margin:.3f})")
        notes.append(f"{where} top-1 flip at margin {margin:.3f}")
    return max(abs(s - sb[i]) for i, s in sa.items() if i in sb)


def _compare_detections(a: list, b: list, where: str, notes: List[str]) -> Tuple[float, float]:
    """Match by class and IoU >= 0.5; an unmatched detection is allowed only near the score threshold."""
    rest, score, box = list(b), 0.0, 0.0
    unmatched = []
    for d in sorted(a, key=lambda d: -d["score"]):
        cands = [e for e in rest if e["index"] == d["index"] and _iou(_box(d), _box(e)) >= 0.5]
        if not cands:
            unmatched.append(d)
            continue
        m = max(cands, key=lambda e: _iou(_box(d), _box(e)))
        rest.remove(m)
        score = max(score, abs(d["score"] - m["score"]))
        box = max([box] + [abs(x - y) for x, y in zip(_box(d), _box(m))])
    for d in unmatched + rest:
        if d["score"] >= SCORE_THRESHOLD + BORDERLINE:
            side = "x86" if d in unmatched else "aarch64"
            raise CheckFailed(f"{where}: {d['label']} ({d['score']:.3f}) found only on {side}")
        notes.append(f"{where} {d['label']} {d['score']:.3f} near the threshold")
    return score, box


def compare_result(a: dict, b: dict, where: str, notes: List[str]) -> Tuple[float, float]:
    """Same decisions in one x86 / aarch64 result pair; returns (max score diff, max box diff in pixels)."""
    skip = {"top", "detections", "classes"}  # classes: segment pixel counts, gated by mask agreement
    keys = sorted(k for k in a if k not in skip and not VOLATILE.search(k))
    if keys != sorted(k for k in b if k not in skip and not VOLATILE.search(k)):
        raise CheckFailed(f"{where}: fields differ ({sorted(a)} vs {sorted(b)})")
    for k in keys:
        if a[k] != b[k] and not (isinstance(a[k], float) and abs(a[k] - b[k]) < 1e-3):
            raise CheckFailed(f"{where}.{k}: {a[k]!r} on x86, {b[k]!r} on aarch64")
    if "top" in a:
        return _compare_top(a["top"], b["top"], where, notes), 0.0
    if "detections" in a:
        return _compare_detections(a["detections"], b["detections"], where, notes)
    return 0.0, 0.0


def compare_results(x86: List[dict], arm: List[dict]) -> str:
    if not x86 or len(x86) != len(arm):
        raise CheckFailed(f"{len(x86)} results on x86, {len(arm)} on aarch64")
    notes: List[str] = []
    diffs = [compare_result(a, b, f"[{i}]", notes) for i, (a, b) in enumerate(zip(x86, arm))]
    score, box = max(d[0] for d in diffs), max(d[1] for d in diffs)
    if score == box == 0 and not notes:
        return f"{len(x86)} results identical"
    return (f"{len(x86)} results, same decisions" + (f" but {len(notes)} borderline ({notes[0]})" if notes else "")
            + f"; max |Δ| score {score:.2g}" + (f", box {box:.2g} px" if box else ""))


def mask_agreement(x86_dir: Path, arm_dir: Path) -> float:
    """Share of equal pixels over every mask PNG written by ``predict --mask-out`` on both sides."""
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
    return 1 - bad / total


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
        for d in ("tests", "scripts"):  # tests/test_pi_emulated.py imports scripts/
            shutil.copytree(REPO / d, self.tests_copy / d, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(REPO / "pyproject.toml", self.tests_copy)

    def _write_video(self, path: Path) -> None:
        """12 frames (lossless FFV1 .avi): calibration images sliding sideways. Lossless, because FFmpeg's
        MJPEG decoder does not give bit-identical pixels on x86-64 and aarch64, which moved a detection
        across the threshold in an earlier run; the lane compares our code, not the JPEG decoders."""
        import cv2
        import numpy as np

        frames = [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sorted(self.calib.glob("*"))[:3]]
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
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

    def predict(self, rt: str, name: str, args: Sequence[Any]) -> str:
        module = setup.RUNTIMES[rt].module
        res, masks = {}, {}
        for side, py in (("x86", self.env.x86[rt]), ("aarch64", str(self.env.emu[rt]))):
            masks[side] = self.out / rt / side / name / "masks"
            mask_out = ["--mask-out", masks[side]] if "segment" in name else []
            res[side] = json_lines(cli(py, ["predict", *args, "--json", *mask_out], module, self.work).stdout)
        detail = compare_results(res["x86"], res["aarch64"])
        if mask_out:
            share = mask_agreement(masks["x86"], masks["aarch64"])
            if share < MASK_AGREEMENT:
                raise CheckFailed(f"masks: {share:.2%} of pixels agree (< {MASK_AGREEMENT:.0%})")
            detail += ", masks identical" if share == 1 else f", masks {share:.3%} equal"
        return detail

    def predict_bundle(self, rt: str, key: str) -> str:
        thr = ["--score-threshold", SCORE_THRESHOLD] if key.startswith("detect") else []
        return self.predict(rt, key, [*self.images, "--bundle", self.bundles[key], *thr])

    def coral(self, task: str) -> Tuple[Path, Path, List[Path]]:
        if not CORAL.is_dir():
            raise CheckSkipped(f"{CORAL} is absent")
        model, labels, images = {
            "classify": ("mobilenet_v2_1.0_224_quant.tflite", "imagenet_labels.txt",
                         ["cat.bmp", "grace_hopper.bmp", "missvickie_potato_chips.bmp", "kite_and_cold.jpg"]),
            "segment": ("deeplabv3_mnv2_pascal_quant.tflite", "pascal_voc_segmentation_labels.txt",
                        ["bird_segmentation.bmp", "dog_segmentation.bmp"]),
        }[task]
        return CORAL / model, CORAL / labels, [CORAL / i for i in images]

    def predict_coral(self, rt: str, task: str) -> str:
        model, labels, images = self.coral(task)
        return self.predict(rt, f"coral-{task}", [*images, "--model", model, "--labels", labels, "--task", task])

    def raw(self, rt: str, name: str) -> str:
        """The same input tensors through both runtimes' kernels: outputs within RAW_LSB / RAW_FLOAT / RAW_CLASS_IDS."""
        import numpy as np

        if name.startswith("coral-"):
            model, _, images = self.coral(name.split("-")[1])
        else:
            model, images = self.bundles[name] / "model.tflite", self.images
        inp = self.out / "raw" / f"{name}.npy"
        if not inp.exists():
            inp.parent.mkdir(parents=True, exist_ok=True)
            self._python(self.env.x86[rt], [RAW, "inputs", model, inp, *images], rt)
        got = {}
        for side, py in (("x86", self.env.x86[rt]), ("aarch64", str(self.env.emu[rt]))):
            got[side] = self.out / rt / side / f"raw-{name}.npz"
            got[side].parent.mkdir(parents=True, exist_ok=True)
            self._python(py, [RAW, "outputs", model, inp, got[side]], rt)
        a, b = np.load(got["x86"]), np.load(got["aarch64"])
        worst, kind = 0.0, "float"
        for k in a.files:
            x, y = a[k], b[k]
            if x.dtype == np.int64:  # class ids (argmax in the graph)
                d, kind = float(np.mean(x != y)), "class_ids"
            elif np.issubdtype(x.dtype, np.integer):
                d, kind = float(np.abs(x.astype(np.int64) - y).max()), "int"
            else:
                d = float(np.abs(x - y).max() / max(float(np.abs(x).max()), 1e-12))
            worst = max(worst, d)
        unit = {"int": " LSB", "float": " (relative)", "class_ids": " of pixels"}[kind]
        tol = {"int": RAW_LSB[rt], "float": RAW_FLOAT, "class_ids": RAW_CLASS_IDS}[kind]
        if worst > tol:
            raise CheckFailed(f"raw outputs differ by {worst:.3g}{unit} > {tol:g}")
        n = len(a.files)
        return f"{n} outputs identical" if worst == 0 else f"{n} outputs, max |Δ| {worst:.3g}{unit}"

    def _python(self, py: str, args: Sequence[Any], rt: str) -> None:
        env = dict(os.environ, EDGEMNV2_TFLITE_RUNTIME=setup.RUNTIMES[rt].module)
        p = subprocess.run([py, *map(str, args)], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        if p.returncode != 0:
            raise CheckFailed(f"{Path(str(args[0])).name} {args[1]}: {(p.stderr.strip().splitlines() or [''])[-1]}")

    def camera(self, rt: str, key: str, source: str, frames: int) -> str:
        module, recs = setup.RUNTIMES[rt].module, {}
        for side, py in (("x86", self.env.x86[rt]), ("aarch64", str(self.env.emu[rt]))):
            # one file per (bundle, source): --json-out appends, so a reused name would mix two runs' records
            tag = "".join(c if c.isalnum() else "_" for c in Path(source).name or source)
            out = self.out / rt / side / f"camera-{key}-{tag}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            thr = ["--score-threshold", SCORE_THRESHOLD] if key.startswith("detect") else []
            cli(py, ["camera", "--source", source, "--bundle", self.bundles[key], "--max-frames", frames,
                     "--no-window", "--no-hud", "--json-out", out, *thr], module, self.work)
            recs[side] = json_lines(out.read_text())
        if len(recs["x86"]) != frames:
            raise CheckFailed(f"{len(recs['x86'])} frames processed on x86, expected {frames}")
        return compare_results(recs["x86"], recs["aarch64"])

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
    models = ["coral-classify"] + ([] if env.smoke else ["coral-segment"]) + list(lane.bundles)
    steps: List[Tuple[str, str, Callable[[], str]]] = []
    for rt in env.emu:
        steps.append((rt, "interpreter + runtime", lambda rt=rt: lane.interpreter(rt)))
        if not env.smoke or rt == next(iter(env.emu)):
            steps.append((rt, "import hygiene (pytest)", lambda rt=rt: lane.pytest(rt, [HYGIENE_TESTS])))
        steps += [(rt, f"raw outputs {m}", lambda rt=rt, m=m: lane.raw(rt, m)) for m in models]
        steps += [(rt, f"predict {m}", lambda rt=rt, m=m: lane.predict_coral(rt, m.split("-")[1])
                   if m.startswith("coral-") else lane.predict_bundle(rt, m)) for m in models]
        steps += [(rt, f"camera synthetic {k}", lambda rt=rt, k=k: lane.camera(rt, k, SYNTHETIC, 6)) for k in int8]
        if not env.smoke:
            vk = "detect-int8"
            steps += [(rt, f"camera video {vk}", lambda rt=rt, vk=vk: lane.camera(rt, vk, str(lane.video), 12)),
                      (rt, "bench", lambda rt=rt: lane.bench(rt, int8))]
        steps.append((rt, "doctor", lambda rt=rt: lane.doctor(rt)))
    if not env.smoke and "litert" in env.emu:
        # One interpreter runs them; tests that need tflite-runtime 2.14 use the other one (tests/support).
        steps.append(("both", "device tests (pytest -m device)", lambda: lane.pytest("litert", ["tests"])))
    return steps
