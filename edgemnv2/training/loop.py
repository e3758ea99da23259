"""Host-side training and fine-tuning (torch): ``edgemnv2 train``.

* Data: the readers in :mod:`edgemnv2.data` (ImageFolder, COCO JSON, VOC-style masks). Images are
  resized once with the same ``resize_rgb`` (cv2.INTER_LINEAR) used at inference and kept in memory
  (:mod:`.data`).
* Augmentation (simple, seeded): horizontal flip, brightness/contrast jitter.
* Determinism: the shuffle and augmentation of epoch ``e`` come from ``(seed, e)``, so a resumed run
  sees the same batches as an uninterrupted one.
* Checkpoints (:mod:`.checkpoint`): ``<out>.ckpt`` is written atomically after every epoch (model,
  optimiser, schedule, epoch, history); ``--resume`` continues from it. The final weights are ``--out``
  (safetensors) and ``<out stem>.json`` (metadata in the format of the built-in default models).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeError
from ..tasks.base import Task
from ..tasks.preprocess import IMAGENET, Normalization
from .checkpoint import SAME_RUN, checkpoint_path, load_checkpoint, save_checkpoint
from .data import TrainingData, augment, load_training_data, to_tensor

__all__ = ["TrainConfig", "TrainResult", "train"]

ARCHITECTURE = {"classify": "mobilenet_v2", "detect": "ssdlite_mobilenet_v2",
                "segment": "deeplabv3_mobilenet_v2_os16_no_aspp"}


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
            model(to_tensor(images[s:s + batch], norm))
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


def _evaluate_torch(model: Any, task: Task, data: TrainingData, norm: Normalization, batch: int,
                    anchors: Optional[np.ndarray]) -> Dict[str, float]:
    """Quick validation in torch (loss; top-1 or mIoU). Reported metrics come from ``edgemnv2 eval``."""
    import torch

    from ..metrics import ConfusionMatrix
    from .losses import batch_targets, multibox_loss, segment_loss

    model.eval()
    tot, n, correct = 0.0, 0, 0
    cm = ConfusionMatrix(len(data.labels)) if task is Task.segment else None
    with torch.no_grad():
        for s in range(0, len(data), batch):
            x = to_tensor(data.images[s:s + batch], norm)
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


@dataclass
class _Run:
    """What one training run carries from epoch to epoch."""

    cfg: TrainConfig
    task: Task
    model: Any
    opt: Any
    sched: Any
    data: TrainingData
    val: Optional[TrainingData]
    anchors: Optional[np.ndarray]
    norm: Normalization
    steps_per_epoch: int
    step: int = 0
    history: List[Dict[str, float]] = field(default_factory=list)
    t0: float = field(default_factory=time.time)


def _check_config(cfg: TrainConfig) -> Tuple[Task, Path]:
    from ..fileio import ensure_writable_dir
    from ..models.zoo import check_resolution

    task = Task(cfg.task)
    out = Path(cfg.out)
    if out.suffix != ".safetensors":
        raise EdgeError(f"--out {out} should end in .safetensors", "e.g. --out shapes_detect.safetensors")
    if out.is_dir():
        raise EdgeError(f"--out {out} is a directory", "pass a file name ending in .safetensors")
    check_resolution(cfg.resolution, task)
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise EdgeError("--epochs and --batch-size must be >= 1 and --lr > 0")
    if not 0.1 <= cfg.width_mult <= 2.0:
        raise EdgeError(f"--width-mult {cfg.width_mult} is out of range", "use 0.35 to 1.4")
    out.parent.mkdir(parents=True, exist_ok=True)
    ensure_writable_dir(out.parent, "output directory")
    return task, out


def _load_splits(cfg: TrainConfig, task: Task) -> Tuple[TrainingData, Optional[TrainingData]]:
    train_data = load_training_data(task, cfg.data, "train", cfg.resolution, cfg.limit, "loading train:")
    if len(train_data) == 0:
        raise EdgeError(f"no training images in {cfg.data}", "check --data")
    val_data = None
    if (Path(cfg.data) / "val").is_dir():
        val_data = load_training_data(task, cfg.data, "val", cfg.resolution, None, "loading val:")
        if val_data.labels != train_data.labels:
            raise EdgeError(f"{cfg.data}/val has labels {val_data.labels} but train has {train_data.labels}",
                            "both splits need the same classes")
    return train_data, val_data


def _new_run(cfg: TrainConfig, task: Task) -> _Run:
    import torch

    from ..models.spec import ArchOptions
    from ..models.weights import load_weights
    from ..models.zoo import build_model
    from ..pretrained import resolve_init
    from ..tasks.detect import feature_map_sizes, ssd_anchors
    from ..ui import say

    arch, norm = ArchOptions(), IMAGENET
    with tempfile.TemporaryDirectory(prefix="edgemnv2-init-") as tmp:
        if cfg.init:  # a file, a .tflite (imported into tmp) or a built-in name; its padding/normalisation carry
            init_path, arch, norm, init_note = resolve_init(cfg.init, task, cfg.width_mult, Path(tmp))
        train_data, val_data = _load_splits(cfg, task)
        model = build_model(task, cfg.width_mult, len(train_data.labels), cfg.resolution, arch)
        _init_heads(model, task)
        if cfg.init:
            info = load_weights(model, init_path, backbone_only=True)
            say(f"initialised from {init_note}: {info['loaded']} tensors loaded, {info['skipped']} left at random "
                f"init ({arch.padding.value} padding, input mean {list(norm.mean)} std {list(norm.std)})")
    anchors = ssd_anchors(feature_map_sizes(cfg.resolution)) if task is Task.detect else None
    steps_per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total_steps, max(1, min(200, total_steps // 20))))
    return _Run(cfg, task, model, opt, sched, train_data, val_data, anchors, norm, steps_per_epoch)


def _resume(run: _Run, ckpt: Path) -> int:
    """Restore model, optimiser, schedule and history from ``ckpt``; returns the epoch to start at."""
    from ..ui import say

    cfg = run.cfg
    if not (cfg.resume and ckpt.is_file()):
        if cfg.resume:
            say(f"no checkpoint at {ckpt}; starting from the beginning")
        return 0
    ck = load_checkpoint(ckpt)
    prev = json.loads(ck.get("config", "{}"))
    diff = [k for k in SAME_RUN if k in prev and prev[k] != getattr(cfg, k)]
    if diff:
        raise EdgeError(f"checkpoint {ckpt} was made with {diff[0]}={prev[diff[0]]!r}, not "
                        f"{getattr(cfg, diff[0])!r}", "pass the same options, or run without --resume")
    run.model.load_state_dict(ck["model"])
    run.opt.load_state_dict(ck["optimizer"])
    run.sched.load_state_dict(ck["scheduler"])
    run.step, run.history = int(ck["step"]), json.loads(ck.get("history", "[]"))
    say(f"resuming from {ckpt} after epoch {int(ck['epoch'])}")
    return int(ck["epoch"])


def _loss(run: _Run, idx: np.ndarray, imgs: np.ndarray, boxes: Any, masks: Any) -> Any:
    import torch

    from .losses import batch_targets, multibox_loss, segment_loss

    x = to_tensor(imgs, run.norm)
    if run.task is Task.classify:
        return torch.nn.functional.cross_entropy(run.model(x), torch.from_numpy(run.data.targets[idx]))
    if run.task is Task.detect:
        regs, logits = run.model.forward_raw(x)
        cls_t, reg_t = batch_targets(boxes, [run.data.classes[i] for i in idx], run.anchors)  # type: ignore
        bl, cl = multibox_loss(regs, logits, cls_t, reg_t)
        return bl + cl
    return segment_loss(run.model(x), torch.from_numpy(np.ascontiguousarray(masks)))


def _train_epoch(run: _Run, epoch: int, progress: Any) -> Tuple[Dict[str, float], np.ndarray, bool]:
    """One epoch of optimiser steps; returns its record, the epoch's order and whether --max-steps was hit."""
    import torch

    cfg, data = run.cfg, run.data
    run.model.train()
    rng = np.random.default_rng([cfg.seed, epoch])
    torch.manual_seed(cfg.seed * 100003 + epoch)  # dropout: the same per epoch whether resumed or not
    order = rng.permutation(len(data))
    bar = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=run.steps_per_epoch, info="")
    run_loss, seen, stop = 0.0, 0, False
    for s in range(run.steps_per_epoch):
        idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        imgs = data.images[idx]
        boxes = [data.boxes[i] for i in idx] if run.task is Task.detect else None  # type: ignore[index]
        masks = data.masks[idx] if run.task is Task.segment else None  # type: ignore[index]
        if cfg.augment:
            imgs, boxes, masks = augment(rng, imgs, run.task, boxes, masks)
        loss = _loss(run, idx, imgs, boxes, masks)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.sched.step()
        run.step += 1
        run_loss += float(loss.detach()) * len(idx)
        seen += len(idx)
        if cfg.max_steps:
            run.history.append({"step": run.step, "loss": float(loss.detach())})
        progress.update(bar, advance=1, info=f"loss {run_loss / seen:.4f} lr {run.sched.get_last_lr()[0]:.2e}")
        if cfg.max_steps and run.step >= cfg.max_steps:
            stop = True
            break
    rec: Dict[str, float] = {"epoch": epoch + 1, "train_loss": run_loss / max(seen, 1),
                             "seconds": round(time.time() - run.t0, 1)}
    return rec, order, stop


def _finish_epoch(run: _Run, rec: Dict[str, float], order: np.ndarray, stop: bool, progress: Any,
                  ckpt: Path, epoch: int) -> None:
    from ..ui import err_console

    cfg = run.cfg
    recalibrate_batchnorm(run.model, run.data.images[order], run.norm, cfg.batch_size)
    if run.val is not None and not stop:
        rec.update(_evaluate_torch(run.model, run.task, run.val, run.norm, cfg.batch_size * 2, run.anchors))
    if not cfg.max_steps:
        run.history.append(rec)
    progress.update(progress.task_ids[-1], info=" ".join(f"{k} {v:.4f}" for k, v in rec.items()
                                                        if k not in ("epoch", "seconds")))
    save_checkpoint(ckpt, run.model, run.opt, run.sched, epoch + 1, run.step, asdict(cfg), run.history)
    if not err_console().is_terminal:  # logs: one line per epoch
        err_console().print(f"epoch {epoch + 1}/{cfg.epochs}: " + " ".join(
            f"{k} {v:.4f}" for k, v in rec.items() if k != "epoch"), soft_wrap=True)


def _metadata(run: _Run, out: Path) -> Dict[str, Any]:
    import torch

    cfg = run.cfg
    meta = {
        "name": cfg.name or out.stem,
        "task": run.task.value,
        "architecture": ARCHITECTURE[run.task.value],
        "width_mult": cfg.width_mult,
        "resolution": cfg.resolution,
        "num_classes": len(run.data.labels),
        "labels": run.data.labels,
        "normalization": run.norm.to_dict(),
        "arch": run.model.arch.to_dict(),
        "recipe": "edgemnv2 train " + " ".join(shlex.quote(a) for a in _recipe_args(cfg)),
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
                     "init": Path(cfg.init).name if cfg.init else None, "steps": run.step,
                     "train_images": len(run.data), "seconds": round(time.time() - run.t0, 1),
                     "torch": torch.__version__, "python": sys.version.split()[0]},
        "history": run.history[-cfg.epochs:] if not cfg.max_steps else run.history,
    }
    dataset_json = Path(cfg.data) / "dataset.json"
    if dataset_json.is_file():
        try:
            meta["dataset"] = json.loads(dataset_json.read_text())
        except json.JSONDecodeError:
            pass
    return meta


def _save(run: _Run, out: Path, meta: Dict[str, Any]) -> None:
    from ..fileio import atomic_write_text
    from ..labels import labels_text
    from ..models.metadata import weights_metadata
    from ..models.weights import save_weights

    keys = ("name", "task", "width_mult", "resolution", "num_classes", "normalization")
    save_weights(run.model, out, metadata=weights_metadata(run.model, **{k: meta[k] for k in keys}))
    atomic_write_text(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".labels.txt"), labels_text(run.data.labels))


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or fine-tune) one model as ``cfg`` says; returns where the weights went and their metadata."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..ui import err_console

    task, out = _check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = _new_run(cfg, task)
    ckpt = checkpoint_path(out)
    start_epoch = _resume(run, ckpt)
    run.t0 = time.time()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err_console(), transient=False) as progress:
        for epoch in range(start_epoch, cfg.epochs):
            rec, order, stop = _train_epoch(run, epoch, progress)
            _finish_epoch(run, rec, order, stop, progress, ckpt, epoch)
            if stop:
                break
    run.model.eval()
    meta = _metadata(run, out)
    _save(run, out, meta)
    return TrainResult(out, meta, run.history)


def _recipe_args(cfg: TrainConfig) -> List[str]:
    args = ["--task", cfg.task, "--data", str(cfg.data), "--width-mult", str(cfg.width_mult),
            "--resolution", str(cfg.resolution), "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size),
            "--lr", str(cfg.lr), "--seed", str(cfg.seed)]
    if cfg.init:
        args += ["--init", str(cfg.init)]
    return args + ["--out", str(cfg.out)]
