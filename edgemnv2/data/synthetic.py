"""A synthetic "shapes" dataset in the standard on-disk formats, deterministic by seed.

Objects of four classes (circle, square, triangle, star) in varied colours, sizes and rotations are
painted over varied backgrounds: crops of photos shipped with scikit-image (``skimage.data``, when
installed) and procedural textures (gradients, smooth noise, stripes, checkers). Each image is drawn
from its own random generator seeded by ``(seed, split, index)``, so image ``i`` of a split is the
same whatever ``count`` was asked for.

Layouts written by :func:`write_dataset` (the readers in :mod:`edgemnv2.data` read them back):

* classify: ``<split>/<class name>/<split>_00000.jpg`` (ImageFolder), one object per image;
* detect:   ``<split>/images/*.jpg`` + ``<split>/annotations.json`` (COCO, category ids 1..4);
* segment:  ``<split>/images/*.jpg`` + ``<split>/masks/*.png`` (VOC-style uint8 class index per pixel,
  0 = background) and ``labels.txt`` at the root (background first);
* every task: ``calib/*.jpg`` (flat folder of the task's scenes for int8 calibration) and ``dataset.json``
  (the generator's parameters, so the split can be regenerated; its ``kind`` marks the folder as ours,
  which a rerun may replace).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeError
from ..tasks.base import Task

__all__ = ["CLASSES", "Scene", "SceneObject", "render_scene", "write_dataset", "DEFAULT_SPLITS", "MovingScene",
           "synthetic_frame"]

CLASSES: Tuple[str, ...] = ("circle", "square", "triangle", "star")
SPLITS = ("train", "val", "calib")
DEFAULT_SPLITS: Dict[str, int] = {"train": 2000, "val": 200, "calib": 100}
# Photos from skimage.data that hold no shapes resembling our classes (coins, clock, retina are left out).
_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "camera",
           "grass", "gravel", "brick", "moon", "cat", "text", "page")
# Object size (fraction of the image side) and object count per image, per task.
_LAYOUT = {
    Task.classify: ((0.35, 0.75), (1, 1)),
    Task.detect: ((0.16, 0.45), (1, 4)),
    Task.segment: ((0.25, 0.55), (1, 3)),
}
_photo_cache: Optional[List[np.ndarray]] = None


@dataclass
class SceneObject:
    class_index: int  # 0-based index into CLASSES
    box: Tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels (exclusive right/bottom edge)


@dataclass
class Scene:
    image: np.ndarray  # (H, W, 3) RGB uint8
    mask: np.ndarray  # (H, W) uint8, 0 background, k = CLASSES[k - 1]
    objects: List[SceneObject]


def _photos() -> List[np.ndarray]:
    global _photo_cache
    if _photo_cache is None:
        out: List[np.ndarray] = []
        try:
            import skimage.data as skd
        except ImportError:  # procedural backgrounds only
            skd = None
        for name in _PHOTOS if skd is not None else ():
            try:
                img = np.asarray(getattr(skd, name)())
            except Exception:  # a photo that needs a download (pooch) or is missing from this version
                continue
            if img.dtype != np.uint8:
                continue
            if img.ndim == 2:
                img = np.repeat(img[:, :, None], 3, axis=2)
            out.append(np.ascontiguousarray(img[:, :, :3]))
        _photo_cache = out
    return _photo_cache


def _smooth_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    import cv2

    cells = int(rng.integers(3, 12))
    small = rng.random((cells, cells, 3)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    import cv2

    photos = _photos()
    kind = int(rng.integers(0, 5 if photos else 4))
    if kind == 4:  # photo crop
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        bg = cv2.resize(photo[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        return np.ascontiguousarray(bg).astype(np.float32)
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * math.pi)
        t = np.clip((math.cos(a) * (xx - 0.5) + math.sin(a) * (yy - 0.5)) + 0.5, 0, 1)[..., None]
        bg = c1 * (1 - t) + c2 * t
    elif kind == 1:  # smooth noise
        bg = _smooth_noise(rng, size) * 255.0
    elif kind == 2:  # stripes
        a, f = rng.uniform(0, math.pi), rng.uniform(3, 12)
        t = (np.sin(2 * math.pi * f * (math.cos(a) * xx + math.sin(a) * yy)) > 0).astype(np.float32)[..., None]
        bg = c1 * (1 - t) + c2 * t
    else:  # checkers
        n = int(rng.integers(3, 10))
        t = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
        bg = c1 * (1 - t) + c2 * t
    bg = bg + rng.normal(0, rng.uniform(0, 12), (size, size, 3))
    return np.clip(bg, 0, 255).astype(np.float32)


def _polygon(class_index: int, cx: float, cy: float, r: float, angle: float) -> Optional[np.ndarray]:
    name = CLASSES[class_index]
    if name == "circle":
        return None
    if name == "square":
        n, radii = 4, [r]
    elif name == "triangle":
        n, radii = 3, [r]
    else:  # star: 5 points, inner radius 0.45 r
        n, radii = 10, [r, 0.45 * r]
    pts = []
    for k in range(n):
        a = angle + 2 * math.pi * k / n
        rr = radii[k % len(radii)]
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return np.asarray(pts, np.float32)


def _shape_mask(class_index: int, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    import cv2

    m = np.zeros((size, size), np.uint8)
    shift = 4  # sub-pixel precision
    if CLASSES[class_index] == "circle":
        cv2.circle(m, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 16)), 1, -1, cv2.LINE_8, shift)
    else:
        pts = _polygon(class_index, cx, cy, r, angle)
        cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, shift)
    return m


# Each class's colours come from its own hue band (with free saturation/value and jitter), so that the small
# default models learn the task in minutes on a CPU; shape alone (rotated, over photos) takes far longer.
CLASS_HUES: Tuple[float, ...] = (0.0, 0.33, 0.61, 0.14)  # red-ish circles, green squares, blue triangles, yellow stars
HUE_SPREAD = 0.06


def _colour_for(rng: np.random.Generator, class_index: int) -> np.ndarray:
    import colorsys

    h = (CLASS_HUES[class_index] + rng.uniform(-HUE_SPREAD, HUE_SPREAD)) % 1.0
    return np.asarray(colorsys.hsv_to_rgb(h, rng.uniform(0.65, 1.0), rng.uniform(0.6, 1.0)), np.float32) * 255.0


def render_scene(rng: np.random.Generator, size: int = 160, task: Task | str = Task.detect,
                 sizes: Optional[Tuple[float, float]] = None, counts: Optional[Tuple[int, int]] = None) -> Scene:
    """Paint one scene: background, then non-overlapping objects; returns image, class mask and boxes."""
    task = Task(task)
    (smin, smax), (nmin, nmax) = _LAYOUT[task]
    smin, smax = sizes or (smin, smax)
    nmin, nmax = counts or (nmin, nmax)
    bg = _background(rng, size)
    grey = bg.mean()
    img = grey + (bg - grey) * rng.uniform(0.35, 0.7)  # calmer, lower-contrast backgrounds: objects stand out
    img = (img * 0.6 + img.mean(axis=2, keepdims=True) * 0.4)  # and less saturated
    mask = np.zeros((size, size), np.uint8)
    occupied = np.zeros((size, size), bool)
    objects: List[SceneObject] = []
    want = int(rng.integers(nmin, nmax + 1))
    for _ in range(want * 15):
        if len(objects) >= want:
            break
        k = int(rng.integers(len(CLASSES)))
        r = rng.uniform(smin, smax) * size / 2
        cx, cy = rng.uniform(r * 0.8, size - r * 0.8), rng.uniform(r * 0.8, size - r * 0.8)
        m = _shape_mask(k, size, cx, cy, r, rng.uniform(0, 2 * math.pi)).astype(bool)
        area = int(m.sum())
        if area < 0.25 * (smin * size / 2) ** 2 * math.pi * 0.3 or (m & occupied).any():
            continue
        # keep objects mostly inside the frame (the visible part decides the box)
        ys, xs = np.nonzero(m)
        grown = np.zeros_like(occupied)
        grown[max(ys.min() - 2, 0):ys.max() + 3, max(xs.min() - 2, 0):xs.max() + 3] = True
        if (grown & occupied).any():
            continue
        colour = _colour_for(rng, k)
        # gentle shading across the object so it is not a flat colour
        yy, xx = np.nonzero(m)
        a = rng.uniform(0, 2 * math.pi)
        t = ((xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)) / max(r, 1.0)
        shade = 1.0 + rng.uniform(0.0, 0.25) * t[:, None]
        img[yy, xx] = np.clip(colour[None] * shade + rng.normal(0, 4, (yy.size, 3)), 0, 255)
        mask[m] = k + 1
        occupied |= grown
        objects.append(SceneObject(k, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))))
    if rng.random() < 0.3:
        import cv2

        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.0))
    img = img * rng.uniform(0.8, 1.15) + rng.uniform(-15, 15)  # global exposure
    return Scene(np.clip(img, 0, 255).astype(np.uint8), mask, objects)


def synthetic_frame(index: int, size: int = 160, seed: int = 0, task: Task | str = Task.detect) -> np.ndarray:
    """One synthetic RGB frame (for demos and synthetic camera sources): deterministic per index."""
    return render_scene(np.random.default_rng([seed, 7, index]), size, task).image


def _imwrite(path: Path, rgb_or_mask: np.ndarray, quality: int = 95) -> None:
    import cv2

    img = rgb_or_mask if rgb_or_mask.ndim == 2 else cv2.cvtColor(rgb_or_mask, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else []
    ok, buf = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise EdgeError(f"cannot encode {path}")
    try:
        path.write_bytes(buf.tobytes())
    except OSError as e:  # a full disk: say which file
        from ..fileio import os_error

        raise os_error(e, "write", path) from None


def write_dataset(out: str | Path, task: Task | str, counts: Optional[Dict[str, int]] = None, size: int = 160,
                  seed: int = 0, progress: bool = False) -> Path:
    """Write the synthetic dataset for ``task`` under ``out`` (staged, renamed into place on success)."""
    from ..fileio import DATASET_KIND, OutputKind, ensure_writable_dir, staged_dir

    task = Task(task)
    counts = dict(DEFAULT_SPLITS if counts is None else counts)
    bad = [k for k in counts if k not in SPLITS]
    if bad:
        raise EdgeError(f"unknown split {bad[0]!r}", f"use {', '.join(SPLITS)}")
    if size < 32:
        raise EdgeError(f"image size {size} is too small", "use 96 or more")
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeError(f"cannot create {out.parent}: {e.strerror}", "choose another --out") from None
    ensure_writable_dir(out.parent, "output directory")
    with staged_dir(out, OutputKind.dataset) as tmp:
        coco: Dict[str, dict] = {}
        for split in SPLITS:
            if counts.get(split, 0) <= 0:
                continue
            root = tmp / split
            if split == "calib":
                root.mkdir(parents=True)
            elif task is Task.classify:
                for name in CLASSES:
                    (root / name).mkdir(parents=True)
            else:
                (root / "images").mkdir(parents=True)
                if task is Task.segment:
                    (root / "masks").mkdir()
                coco[split] = {"images": [], "annotations": [],
                               "categories": [{"id": i + 1, "name": n, "supercategory": "shape"}
                                              for i, n in enumerate(CLASSES)]}
        items = [(split, i) for split in SPLITS for i in range(max(counts.get(split, 0), 0))]
        if progress:
            from ..ui import track

            items = track(items, f"synthesising {task.value} images")  # type: ignore[assignment]
        for split, i in items:
            root = tmp / split
            rng = np.random.default_rng([seed, SPLITS.index(split), i])
            scene = render_scene(rng, size, task)
            stem = f"{split}_{i:05d}"
            if split == "calib":
                _imwrite(root / f"{stem}.jpg", scene.image)
            elif task is Task.classify:
                _imwrite(root / CLASSES[scene.objects[0].class_index] / f"{stem}.jpg", scene.image)
            else:
                _imwrite(root / "images" / f"{stem}.jpg", scene.image)
                if task is Task.segment:
                    _imwrite(root / "masks" / f"{stem}.png", scene.mask)
                c = coco[split]
                c["images"].append({"id": i + 1, "file_name": f"{stem}.jpg", "height": size, "width": size})
                for o in scene.objects:
                    x1, y1, x2, y2 = o.box
                    c["annotations"].append({"id": len(c["annotations"]) + 1, "image_id": i + 1,
                                             "category_id": o.class_index + 1,
                                             "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                             "iscrowd": 0})
        for split, c in coco.items():
            if task is Task.detect:
                (tmp / split / "annotations.json").write_text(json.dumps(c))
        labels = list(CLASSES) if task is Task.classify else ["background", *CLASSES]
        (tmp / "labels.txt").write_text("".join(f"{n}\n" for n in labels))
        (tmp / "dataset.json").write_text(json.dumps({  # also the marker that lets a rerun replace it
            "kind": DATASET_KIND, "generator": "edgemnv2.data.synthetic", "task": task.value, "seed": seed,
            "size": size, "counts": counts, "classes": list(CLASSES), "labels": labels,
            "regenerate": f"edgemnv2 data synth --task {task.value} --out DIR --seed {seed} --size {size} "
                          + " ".join(f"--{k} {v}" for k, v in counts.items())}, indent=2))
    return out


class MovingScene:
    """A moving scene of the dataset's shapes for demos and synthetic camera sources (BGR frames).

    One background (a synthetic-dataset background at ``width`` x ``height``) and ``count`` shapes of
    the dataset's classes, in their class colours, bouncing off the edges; deterministic per
    ``(seed, index)``. The default detector, trained on these shapes, finds them.
    """

    def __init__(self, width: int = 640, height: int = 480, seed: int = 0, count: int = 4) -> None:
        rng = np.random.default_rng([seed, 99])
        self.width, self.height = int(width), int(height)
        side = max(self.width, self.height)
        bg = _background(rng, side)[:self.height, :self.width]
        grey = bg.mean()
        bg = grey + (bg - grey) * 0.5
        self.background = np.clip(bg * 0.6 + bg.mean(axis=2, keepdims=True) * 0.4, 0, 255).astype(np.float32)
        s = min(self.width, self.height)
        self.classes = [i % len(CLASSES) for i in range(count)]
        self.radius = rng.uniform(0.09, 0.17, count) * s
        self.pos = rng.uniform(0.2, 0.8, (count, 2)) * [self.width, self.height]
        self.vel = rng.uniform(-0.012, 0.012, (count, 2)) * s
        self.vel[np.abs(self.vel) < 0.004 * s] = 0.005 * s
        self.spin = rng.uniform(-0.05, 0.05, count)
        self.angle = rng.uniform(0, 2 * math.pi, count)
        self.colour = [_colour_for(rng, k) for k in self.classes]

    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` as BGR uint8 (H, W, 3)."""
        import cv2

        img = self.background.copy()
        span = np.array([self.width, self.height], np.float64)
        for k, cls in enumerate(self.classes):
            r = float(self.radius[k])
            lo = np.array([r, r])
            p = self.pos[k] + self.vel[k] * index - lo
            room = span - 2 * lo
            p = lo + room - np.abs(np.mod(p, 2 * room) - room)  # bounce inside the frame
            m = _shape_mask(cls, max(self.width, self.height), float(p[0]), float(p[1]), r,
                            float(self.angle[k] + self.spin[k] * index))[:self.height, :self.width].astype(bool)
            img[m] = self.colour[k]
        rgb = np.clip(img, 0, 255).astype(np.uint8)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
