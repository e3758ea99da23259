#!/usr/bin/env python3
"""Reproduce the built-in default models: ``python scripts/train_defaults.py [--task T ...]``.

For each task: generate the synthetic dataset from its seed (``edgemnv2 data synth``), train
(``edgemnv2 train``), build a CPU bundle from the result (``edgemnv2 build --target cpu``), evaluate it
on the held-out ``val`` split (``edgemnv2 eval``) and publish ``edgemnv2/weights/shapes_<task>.safetensors`` +
``shapes_<task>.json`` with the recipe and the measured metrics. Work files go to ``build/defaults/``.
Every step is the public CLI, so the recipe is exactly what a user would run.

Steps whose output exists are skipped (pass --force to redo); ``--stage train`` stops after training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "defaults"
WEIGHTS = ROOT / "edgemnv2" / "weights"

# The recipe: one entry per task. Dataset counts are per split; the seed makes them reproducible.
RECIPES = {
    "classify": {"size": 128, "seed": 1, "counts": {"train": 1500, "val": 300, "calib": 100},
                 "train": {"width-mult": 0.35, "resolution": 128, "epochs": 10, "batch-size": 32, "lr": 3e-3}},
    "detect": {"size": 160, "seed": 2, "counts": {"train": 2000, "val": 300, "calib": 200},
               "train": {"width-mult": 0.35, "resolution": 160, "epochs": 12, "batch-size": 32, "lr": 3e-3}},
    "segment": {"size": 160, "seed": 3, "counts": {"train": 1500, "val": 300, "calib": 100},
                "train": {"width-mult": 0.35, "resolution": 160, "epochs": 12, "batch-size": 32, "lr": 3e-3}},
}
TRAIN_SEED = 0
TRAIN_THREADS = 1  # the published weights were trained with one torch thread (bit-exact runs need the same)


def cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "edgemnv2", *args]
    print("+ edgemnv2 " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def dataset_args(task: str, out: Path) -> list:
    r = RECIPES[task]
    args = ["data", "synth", "--task", task, "--out", str(out), "--size", str(r["size"]), "--seed", str(r["seed"])]
    for split, n in r["counts"].items():
        args += [f"--{split}", str(n)]
    return args


def train_args(task: str, data: Path, out: Path, threads: int = TRAIN_THREADS) -> list:
    args = ["train", "--task", task, "--data", str(data), "--seed", str(TRAIN_SEED), "--threads", str(threads)]
    for k, v in RECIPES[task]["train"].items():
        args += [f"--{k}", str(v)]
    return args + ["--out", str(out), "--resume"]


def eval_json(*args: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "edgemnv2", "eval", *args, "--json"], check=True, cwd=ROOT,
                         capture_output=True, text=True)
    return json.loads(res.stdout)


def measure_int8(task: str) -> None:
    """Build the Pi int8 (LiteRT) and Jetson Q/DQ int8 bundles of the published default model, evaluate them
    on the held-out split and record the numbers in edgemnv2/weights/<task>.json."""
    r = RECIPES[task]
    data = WORK / f"data_{task}"
    calib = WORK / f"calib_{task}"
    cli("data", "synth", "--task", task, "--out", str(calib), "--size", str(r["size"]), "--seed", str(r["seed"]),
        "--train", "0", "--val", "0", "--calib", str(r["counts"]["calib"]))
    pi, jetson = WORK / f"bundle_{task}_pi_int8", WORK / f"bundle_{task}_jetson_int8"
    n = str(r["counts"]["calib"])
    cli("build", "--target", "pi", "--task", task, "--precision", "int8", "--calib", str(calib / "calib"),
        "--calib-count", n, "--max-drop", "100", "--out", str(pi))
    cli("build", "--target", "jetson", "--task", task, "--precision", "int8", "--calib", str(calib / "calib"),
        "--calib-count", n, "--max-drop", "100", "--out", str(jetson))
    meta_path = WEIGHTS / f"shapes_{task}.json"
    meta = json.loads(meta_path.read_text())
    got_pi = eval_json("--bundle", str(pi), "--data", str(data), "--split", "val")
    got_qdq = eval_json("--model", str(jetson / "model.qdq.onnx"), "--task", task, "--labels",
                        str(jetson / "labels.txt"), "--data", str(data), "--split", "val")
    meta["metrics"]["pi_int8_tflite"] = got_pi["metrics"]
    meta["metrics"]["jetson_int8_qdq_onnxruntime"] = got_qdq["metrics"]
    meta["metrics"]["int8_calibration"] = {"images": int(n), "folder": "calib (same seed)"}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{task}: {json.dumps(meta['metrics'])}", flush=True)


def main() -> int:
    global WORK, WEIGHTS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", action="append", choices=list(RECIPES), help="task(s) to do (default: all)")
    ap.add_argument("--stage", choices=["train", "all", "int8"], default="all",
                    help="train: stop after training; int8: only measure the int8 builds of published models")
    ap.add_argument("--force", action="store_true", help="redo steps whose output exists")
    ap.add_argument("--threads", type=int, default=TRAIN_THREADS,
                    help=f"torch threads for training (default {TRAIN_THREADS}, as the published weights)")
    ap.add_argument("--work", type=Path, default=None, help=f"work folder (default {WORK})")
    ap.add_argument("--publish", type=Path, default=None,
                    help=f"where to write shapes_<task>.safetensors/.json (default {WEIGHTS}; another folder "
                    "to compare)")
    a = ap.parse_args()
    WORK = (a.work or WORK).resolve()
    WEIGHTS = (a.publish or WEIGHTS).resolve()
    for task in a.task or list(RECIPES):
        if a.stage == "int8":
            measure_int8(task)
            continue
        data = WORK / f"data_{task}"
        weights = WORK / f"{task}.safetensors"
        bundle = WORK / f"bundle_{task}"
        if a.force or not (data / "dataset.json").is_file():
            cli(*dataset_args(task, data))
        if a.force or not weights.is_file():
            cli(*train_args(task, data, weights, a.threads))
        if a.stage == "train":
            continue
        meta = json.loads(weights.with_suffix(".json").read_text())
        cli("build", "--target", "cpu", "--task", task, "--weights", str(weights),
            "--width-mult", str(meta["width_mult"]), "--resolution", str(meta["resolution"]),
            "--num-classes", str(meta["num_classes"]), "--labels", str(weights.with_suffix(".labels.txt")),
            "--out", str(bundle))
        res = subprocess.run([sys.executable, "-m", "edgemnv2", "eval", "--bundle", str(bundle), "--data", str(data),
                              "--split", "val", "--json"], check=True, cwd=ROOT, capture_output=True, text=True)
        metrics = json.loads(res.stdout)
        r = RECIPES[task]
        meta["name"] = f"shapes_{task}_mnv2_{meta['width_mult']}_{meta['resolution']}"
        meta["recipe"] = "python scripts/train_defaults.py --task " + task
        meta["recipe_commands"] = ["edgemnv2 " + " ".join(dataset_args(task, Path("DATA"))),
                                   "edgemnv2 " + " ".join(train_args(task, Path("DATA"), Path(f"{task}.safetensors")))]
        meta["dataset"] = {"generator": "edgemnv2.data.synthetic", "seed": r["seed"], "size": r["size"],
                           "counts": r["counts"], "held_out_split": "val"}
        meta["metrics"] = {"split": "val", "images": metrics["images"], "fp32": metrics["metrics"]}
        WEIGHTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, WEIGHTS / f"shapes_{task}.safetensors")
        (WEIGHTS / f"shapes_{task}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{task}: {json.dumps(meta['metrics'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
