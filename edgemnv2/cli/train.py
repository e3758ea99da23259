"""``edgemnv2 train``: host-side training / fine-tuning on a dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..tasks.base import Task


def train(
    task: Task = typer.Option(..., "--task", help="classify, detect or segment."),
    data: Path = typer.Option(..., "--data", help="Dataset folder with train/ (and optionally val/) splits: "
                              "ImageFolder, COCO JSON or images/ + masks/ (see docs/training.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="Weights file to write (.safetensors); <out>.json holds the "
                             "metadata and <out>.ckpt the per-epoch checkpoint."),
    width_mult: float = typer.Option(0.35, "--width-mult", help="MobileNetV2 width multiplier."),
    resolution: int = typer.Option(160, "--resolution", help="Square input size (>= 32; a multiple of 32 for "
                                   "detect)."),
    epochs: int = typer.Option(10, "--epochs", help="Passes over the training split."),
    batch_size: int = typer.Option(32, "--batch-size", help="Images per optimiser step."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (AdamW, warm-up then cosine)."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this checkpoint: a torchvision-layout "
                                        "ImageNet MobileNetV2 (backbone), an edgemnv2 model (matching tensors), a "
                                        "MobileNetV2 / DeepLabv3 .tflite (imported; its padding mode and "
                                        "normalisation carry over) or a built-in name: imagenet, voc, shapes, "
                                        "torchvision."),
    seed: int = typer.Option(0, "--seed", help="Seed for initialisation, shuffling and augmentation."),
    resume: bool = typer.Option(False, "--resume", help="Continue from <out>.ckpt if it exists."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps (smoke tests)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N training images."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Turn off flips and colour jitter."),
) -> None:
    """Train or fine-tune a MobileNetV2 classifier, SSDLite detector or DeepLabV3 segmenter."""
    from ..training.loop import TrainConfig
    from ..training.loop import train as run_train
    from ..ui import say

    cfg = TrainConfig(task=task.value, data=str(data), out=str(out), width_mult=width_mult, resolution=resolution,
                      epochs=epochs, batch_size=batch_size, lr=lr, init=str(init) if init else None, seed=seed,
                      resume=resume, threads=threads, max_steps=max_steps, limit=limit, augment=not no_augment)
    res = run_train(cfg)
    last = res.meta["history"][-1] if res.meta["history"] else {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if isinstance(v, float) and k != "seconds")
    say(f"wrote {res.out} and {res.out.with_suffix('.json').name} ({summary})")
    say(f"build a bundle: edgemnv2 build --target cpu --task {task.value} --weights {res.out} --width-mult "
        f"{width_mult} --resolution {resolution} --num-classes {res.meta['num_classes']} --labels "
        f"{res.out.with_suffix('.labels.txt')} --out BUNDLE")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
