"""Host-side training and fine-tuning (torch): ``edgemnv2 train``.

* Data: the readers in :mod:`edgemnv2.data` (ImageFolder, COCO JSON, VOC-style masks). Images are
  resized once with the same ``resize_rgb`` (cv2.INTER_LINEAR) used at inference and kept in memory.
* Augmentation (simple, seeded): horizontal flip, brightness/contrast jitter.
* Determinism: the shuffle and augmentation of epoch ``e`` come from ``(seed, e)``, so a resumed run
  sees the same batches as an uninterrupted one.
* Checkpoints: ``<out>.ckpt`` is written atomically after every epoch (model, optimiser, schedule,
  epoch, history); ``--resume`` continues from it. The final weights are ``--out`` (safetensors)
  and ``<out stem>.json`` (metadata in the format of the built-in default models).
"""

from __future__ import annotations

import io
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .errors import EdgeError
from .tasks.base import Task
from .tasks.preprocess import IMAGENET, Normalization, resize_rgb

__all__ = ["TrainConfig", "TrainResult", "train", "load_training_data", "TrainingData"]


@dataclass
class TrainConfig:
    task: str
    data: str
    out: str
    width_mult: float = 0.35
    resolution: int = 160
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    init: Optional[str] = None
    seed: int = 0
    resume: bool = False
    threads: Optional[int] = None
    max_steps: Optional[int] = None  # stop after this many optimiser steps in total (tests, smoke runs)
    limit: Optional[int] = None  # use only the first N training images
    name: Optional[str] = None
    augment: bool = True


@dataclass
class TrainResult:
    out: Path
    meta: Dict[str, Any]
    history: List[Dict[str, float]] = field(default_factory=list)


@dataclass
class TrainingData:
    """A split resized to the model resolution, in memory."""

    images: np.ndarray  # (N, R, R, 3) uint8
    labels: List[str]
    targets: Optional[np.ndarray] = None  # classify: (N,) int64
    boxes: Optional[List[np.ndarray]] = None  # detect: normalised xyxy per image
    classes: Optional[List[np.ndarray]] = None  # detect: class index 1..K per image
    masks: Optional[np.ndarray] = None  # segment: (N, R, R) uint8

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_training_data(task: Task, root: str | Path, split: Optional[str], resolution: int,
                       limit: Optional[int] = None, description: str = "loading") -> TrainingData:
    """Read and resize one split of a dataset (errors name the offending file)."""
    import cv2

    from .data import open_dataset
    from .ui import track

    ds = open_dataset(task, root, split)
    n = len(ds) if limit is None else min(limit, len(ds))
    r = resolution
    images = np.zeros((n, r, r, 3), np.uint8)
    out = TrainingData(images, list(ds.labels))
    if task is Task.classify:
        out.targets = np.zeros(n, np.int64)
    elif task is Task.detect:
        out.boxes, out.classes = [], []
    else:
        out.masks = np.zeros((n, r, r), np.uint8)
    for i in track(range(n), f"{description} {n} images"):
        img, tgt = ds.load(i)
        h, w = img.shape[:2]
        images[i] = resize_rgb(img, r, r)
        if task is Task.classify:
            out.targets[i] = tgt  # type: ignore[index]
        elif task is Task.detect:
            scale = np.array([w, h, w, h], np.float32)
            out.boxes.append(np.clip(tgt.boxes / scale, 0.0, 1.0))  # type: ignore[union-attr]
            out.classes.append(tgt.classes)  # type: ignore[union-attr]
        else:
            out.masks[i] = cv2.resize(tgt, (r, r), interpolation=cv2.INTER_NEAREST)  # type: ignore[index]
    return out


def _augment(rng: np.random.Generator, imgs: np.ndarray, task: Task, boxes: Optional[List[np.ndarray]],
             masks: Optional[np.ndarray]) -> Tuple[np.ndarray, Optional[List[np.ndarray]], Optional[np.ndarray]]:
    imgs = imgs.astype(np.float32)
    n = imgs.shape[0]
    flip = rng.random(n) < 0.5
    imgs[flip] = imgs[flip, :, ::-1]
    if boxes is not None:
        boxes = [np.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], 1) if f and len(b) else b
                 for b, f in zip(boxes, flip)]
    if masks is not None:
        masks = masks.copy()
        masks[flip] = masks[flip, :, ::-1]
    contrast = rng.uniform(0.75, 1.25, (n, 1, 1, 1)).astype(np.float32)
    bright = rng.uniform(-25, 25, (n, 1, 1, 1)).astype(np.float32)
    mean = imgs.mean(axis=(1, 2, 3), keepdims=True)
    imgs = np.clip((imgs - mean) * contrast + mean + bright, 0, 255)
    return imgs, boxes, masks


def _to_tensor(imgs: np.ndarray, norm: Normalization):  # -> torch.Tensor
    import torch

    x = (np.asarray(imgs, np.float32) - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _schedule(total_steps: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(total_steps - warmup, 1)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return f


def recalibrate_batchnorm(model: Any, images: np.ndarray, norm: Normalization, batch: int,
                          max_images: int = 512) -> None:
    """Re-estimate BatchNorm running statistics with the current weights ("precise BN").

    Running averages lag behind weights that still move fast (from-scratch training on small data), so
    eval-mode outputs can differ wildly from train-mode ones; a cumulative average over a few hundred
    training images with the final weights removes that gap.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    with torch.no_grad():
        for s in range(0, min(len(images), max_images), batch):
            model(_to_tensor(images[s:s + batch], norm))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


def _init_heads(model: Any, task: Task) -> None:
    """Small initial class logits (normal std 0.01, zero bias): training starts near the uniform prior."""
    import torch

    if task is Task.detect:
        convs = [head[-1] for head in list(model.cls_head) + list(model.reg_head)]
    elif task is Task.segment:
        convs = [model.classifier]
    else:
        return
    for conv in convs:
        torch.nn.init.normal_(conv.weight, 0.0, 0.01)
        torch.nn.init.zeros_(conv.bias)


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def _save_checkpoint(path: Path, model: Any, opt: Any, sched: Any, epoch: int, step: int, cfg: TrainConfig,
                     history: List[Dict[str, float]]) -> None:
    import torch

    from .fileio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch, "step": step, "config": json.dumps(asdict(cfg)), "history": json.dumps(history)},
               buf)
    atomic_write_bytes(path, buf.getvalue())


def _load_checkpoint(path: Path) -> Dict[str, Any]:
    import torch

    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise EdgeError(f"cannot read checkpoint {path}: {str(e).splitlines()[0][:160]}",
                        "delete it to start over, or run without --resume") from None
    if not isinstance(ck, dict) or "model" not in ck or "epoch" not in ck:
        raise EdgeError(f"{path} is not an edgemnv2 training checkpoint", "run without --resume")
    return ck


_SAME_RUN = ("task", "width_mult", "resolution", "batch_size", "lr", "seed", "epochs")


def _evaluate_torch(model: Any, task: Task, data: TrainingData, norm: Normalization, batch: int,
                    anchors: Optional[np.ndarray]) -> Dict[str, float]:
    """Quick validation in torch (loss; top-1 or mIoU). Reported metrics come from ``edgemnv2 eval``."""
    import torch

    from .metrics import ConfusionMatrix
    from .training.losses import batch_targets, multibox_loss, segment_loss

    model.eval()
    tot, n, correct = 0.0, 0, 0
    cm = ConfusionMatrix(len(data.labels)) if task is Task.segment else None
    with torch.no_grad():
        for s in range(0, len(data), batch):
            x = _to_tensor(data.images[s:s + batch], norm)
            b = x.shape[0]
            if task is Task.classify:
                logits = model(x)
                t = torch.from_numpy(data.targets[s:s + batch])  # type: ignore[index]
                tot += float(torch.nn.functional.cross_entropy(logits, t, reduction="sum"))
                correct += int((logits.argmax(1) == t).sum())
            elif task is Task.detect:
                regs, logits = model.forward_raw(x)
                cls_t, reg_t = batch_targets(data.boxes[s:s + batch], data.classes[s:s + batch], anchors)  # type: ignore
                bl, cl = multibox_loss(regs, logits, cls_t, reg_t)
                tot += float(bl + cl) * b
            else:
                logits = model(x)
                m = torch.from_numpy(data.masks[s:s + batch])  # type: ignore[index]
                tot += float(segment_loss(logits, m)) * b
                cm.update(logits.argmax(1).numpy(), m.numpy())  # type: ignore[union-attr]
            n += b
    out = {"val_loss": tot / max(n, 1)}
    if task is Task.classify:
        out["val_top1"] = correct / max(n, 1)
    if cm is not None:
        out["val_miou"] = cm.miou()
    return out


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or fine-tune) one model as ``cfg`` says; returns where the weights went and their metadata."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .labels import labels_text
    from .models.weights import load_weights, save_weights
    from .models.zoo import build_model, check_resolution
    from .tasks.detect import feature_map_sizes, ssd_anchors
    from .training.losses import batch_targets, multibox_loss, segment_loss
    from .ui import err_console, say

    task = Task(cfg.task)
    out = Path(cfg.out)
    if out.suffix != ".safetensors":
        raise EdgeError(f"--out {out} should end in .safetensors", "e.g. --out shapes_detect.safetensors")
    if out.is_dir():
        raise EdgeError(f"--out {out} is a directory", "pass a file name ending in .safetensors")
    check_resolution(cfg.resolution)
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise EdgeError("--epochs and --batch-size must be >= 1 and --lr > 0")
    if not 0.1 <= cfg.width_mult <= 2.0:
        raise EdgeError(f"--width-mult {cfg.width_mult} is out of range", "use 0.35 to 1.4")
    out.parent.mkdir(parents=True, exist_ok=True)
    from .fileio import ensure_writable_dir

    ensure_writable_dir(out.parent, "output directory")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    norm = IMAGENET

    train_data = load_training_data(task, cfg.data, "train", cfg.resolution, cfg.limit, "loading train:")
    if len(train_data) == 0:
        raise EdgeError(f"no training images in {cfg.data}", "check --data")
    val_data = None
    if (Path(cfg.data) / "val").is_dir():
        val_data = load_training_data(task, cfg.data, "val", cfg.resolution, None, "loading val:")
        if val_data.labels != train_data.labels:
            raise EdgeError(f"{cfg.data}/val has labels {val_data.labels} but train has {train_data.labels}",
                            "both splits need the same classes")
    labels = train_data.labels
    model = build_model(task, cfg.width_mult, len(labels), cfg.resolution)
    _init_heads(model, task)
    if cfg.init:
        info = load_weights(model, cfg.init, backbone_only=True)
        say(f"initialised from {cfg.init}: {info['loaded']} tensors loaded, {info['skipped']} left at random init")
    anchors = ssd_anchors(feature_map_sizes(cfg.resolution)) if task is Task.detect else None

    steps_per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total_steps, max(1, min(200, total_steps // 20))))
    start_epoch, step, history = 0, 0, []
    ckpt = checkpoint_path(out)
    if cfg.resume and ckpt.is_file():
        ck = _load_checkpoint(ckpt)
        prev = json.loads(ck.get("config", "{}"))
        diff = [k for k in _SAME_RUN if k in prev and prev[k] != getattr(cfg, k)]
        if diff:
            raise EdgeError(f"checkpoint {ckpt} was made with {diff[0]}={prev[diff[0]]!r}, not "
                            f"{getattr(cfg, diff[0])!r}", "pass the same options, or run without --resume")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, step, history = int(ck["epoch"]), int(ck["step"]), json.loads(ck.get("history", "[]"))
        say(f"resuming from {ckpt} after epoch {start_epoch}")
    elif cfg.resume:
        say(f"no checkpoint at {ckpt}; starting from the beginning")

    t0 = time.time()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    stop = False
    with Progress(*columns, console=err_console(), transient=False) as progress:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 100003 + epoch)  # dropout: the same per epoch whether resumed or not
            order = rng.permutation(len(train_data))
            bar = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=steps_per_epoch, info="")
            run_loss, seen = 0.0, 0
            for s in range(steps_per_epoch):
                idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
                imgs = train_data.images[idx]
                boxes = [train_data.boxes[i] for i in idx] if task is Task.detect else None  # type: ignore[index]
                masks = train_data.masks[idx] if task is Task.segment else None  # type: ignore[index]
                if cfg.augment:
                    imgs, boxes, masks = _augment(rng, imgs, task, boxes, masks)
                x = _to_tensor(imgs, norm)
                if task is Task.classify:
                    loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(train_data.targets[idx]))
                elif task is Task.detect:
                    regs, logits = model.forward_raw(x)
                    cls_t, reg_t = batch_targets(boxes, [train_data.classes[i] for i in idx], anchors)  # type: ignore
                    bl, cl = multibox_loss(regs, logits, cls_t, reg_t)
                    loss = bl + cl
                else:
                    loss = segment_loss(model(x), torch.from_numpy(np.ascontiguousarray(masks)))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                run_loss += float(loss.detach()) * len(idx)
                seen += len(idx)
                if cfg.max_steps:
                    history.append({"step": step, "loss": float(loss.detach())})
                progress.update(bar, advance=1, info=f"loss {run_loss / seen:.4f} lr {sched.get_last_lr()[0]:.2e}")
                if cfg.max_steps and step >= cfg.max_steps:
                    stop = True
                    break
            rec: Dict[str, float] = {"epoch": epoch + 1, "train_loss": run_loss / max(seen, 1),
                                     "seconds": round(time.time() - t0, 1)}
            recalibrate_batchnorm(model, train_data.images[order], norm, cfg.batch_size)
            if val_data is not None and not stop:
                rec.update(_evaluate_torch(model, task, val_data, norm, cfg.batch_size * 2, anchors))
            if not cfg.max_steps:
                history.append(rec)
            progress.update(bar, info=" ".join(f"{k} {v:.4f}" for k, v in rec.items()
                                               if k not in ("epoch", "seconds")))
            _save_checkpoint(ckpt, model, opt, sched, epoch + 1, step, cfg, history)
            if not err_console().is_terminal:  # logs: one line per epoch
                err_console().print(f"epoch {epoch + 1}/{cfg.epochs}: " + " ".join(
                    f"{k} {v:.4f}" for k, v in rec.items() if k != "epoch"), soft_wrap=True)
            if stop:
                break

    model.eval()
    meta = {
        "name": cfg.name or out.stem,
        "task": task.value,
        "architecture": {"classify": "mobilenet_v2", "detect": "ssdlite_mobilenet_v2",
                         "segment": "deeplabv3_mobilenet_v2_os16_no_aspp"}[task.value],
        "width_mult": cfg.width_mult,
        "resolution": cfg.resolution,
        "num_classes": len(labels),
        "labels": labels,
        "normalization": norm.to_dict(),
        "recipe": "edgemnv2 train " + " ".join(shlex.quote(a) for a in _recipe_args(cfg)),
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
                     "init": Path(cfg.init).name if cfg.init else None, "steps": step,
                     "train_images": len(train_data), "seconds": round(time.time() - t0, 1),
                     "torch": torch.__version__, "python": sys.version.split()[0]},
        "history": history[-cfg.epochs:] if not cfg.max_steps else history,
    }
    dataset_json = Path(cfg.data) / "dataset.json"
    if dataset_json.is_file():
        try:
            meta["dataset"] = json.loads(dataset_json.read_text())
        except json.JSONDecodeError:
            pass
    save_weights(model, out, metadata={"edgemnv2": json.dumps({k: meta[k] for k in
                                                               ("name", "task", "width_mult", "resolution",
                                                                "num_classes")})})
    from .fileio import atomic_write_text

    atomic_write_text(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".labels.txt"), labels_text(labels))
    return TrainResult(out, meta, history)


def _recipe_args(cfg: TrainConfig) -> List[str]:
    args = ["--task", cfg.task, "--data", str(cfg.data), "--width-mult", str(cfg.width_mult),
            "--resolution", str(cfg.resolution), "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size),
            "--lr", str(cfg.lr), "--seed", str(cfg.seed)]
    if cfg.init:
        args += ["--init", str(cfg.init)]
    return args + ["--out", str(cfg.out)]
