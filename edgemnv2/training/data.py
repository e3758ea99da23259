"""Training data in memory: one split read with the dataset readers, resized once, plus augmentation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ..tasks.base import Task
from ..tasks.preprocess import Normalization, resize_rgb

__all__ = ["TrainingData", "load_training_data", "augment", "to_tensor"]


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

    from ..data import open_dataset
    from ..ui import track

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


def augment(rng: np.random.Generator, imgs: np.ndarray, task: Task, boxes: Optional[List[np.ndarray]],
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


def to_tensor(imgs: np.ndarray, norm: Normalization):  # -> torch.Tensor
    import torch

    x = (np.asarray(imgs, np.float32) - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
