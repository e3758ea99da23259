"""Dataset readers in standard formats: ImageFolder (classify), COCO JSON (detect), VOC-style masks (segment).

Device-light (numpy, OpenCV, Pillow for palette PNG masks). Every problem with the data is an
``EdgeError`` naming the offending file. A dataset directory may hold splits (``train/``, ``val/``)
or be a split itself; :func:`split_dir` picks the one asked for.

Layouts
* classify: ``<split>/<class name>/*.jpg``; class index = sorted sub-folder name order (or the order of
  ``labels.txt`` beside the splits when present).
* detect: ``<split>/annotations.json`` (COCO: images, annotations with ``bbox`` [x, y, w, h] in pixels,
  categories) and the images in ``<split>/images/`` (or beside the JSON). Model class ``k`` (1..K) is
  the k-th category by ascending id; class 0 is background.
* segment: ``<split>/images/*`` (or ``JPEGImages/``) and ``<split>/masks/<stem>.png`` (or
  ``SegmentationClass/``): one uint8 class index per pixel (grayscale or palette PNG), 255 = ignore;
  ``labels.txt`` (background first) beside the splits or in the split.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeError
from ..imageio import IMAGE_SUFFIXES, list_images, read_rgb
from ..labels import read_labels
from ..tasks.base import Task

__all__ = ["split_dir", "ClassifyDataset", "DetectDataset", "DetSample", "SegmentDataset", "open_dataset",
           "read_mask", "IGNORE_INDEX"]

IGNORE_INDEX = 255
BOX_TOLERANCE_PX = 1.0  # COCO boxes may exceed the image by rounding; more than this is an error


def split_dir(root: str | os.PathLike, split: Optional[str]) -> Path:
    """``root/split`` when it exists, else ``root`` itself (a dataset that is one split)."""
    root = Path(root)
    if not root.exists():
        raise EdgeError(f"dataset directory {root} does not exist", "check --data")
    if not root.is_dir():
        raise EdgeError(f"dataset path {root} is not a directory", "pass the dataset folder to --data")
    if split and (root / split).is_dir():
        return root / split
    return root


def _labels_near(folder: Path) -> Optional[List[str]]:
    for cand in (folder / "labels.txt", folder.parent / "labels.txt"):
        if cand.is_file():
            return read_labels(cand)
    return None


# -- classification ----------------------------------------------------------------------------------
@dataclass
class ClassifyDataset:
    root: Path
    classes: List[str]
    samples: List[Tuple[Path, int]]

    @property
    def labels(self) -> List[str]:
        return self.classes

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int) -> Tuple[np.ndarray, int]:
        path, target = self.samples[i]
        return read_rgb(path), target

    @classmethod
    def open(cls, folder: str | os.PathLike) -> ClassifyDataset:
        folder = Path(folder)
        subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not subdirs:
            raise EdgeError(f"{folder} has no class sub-folders (ImageFolder layout: <class name>/<image>)",
                            "put each class's images in a folder named after the class")
        names = [p.name for p in subdirs]
        labels = _labels_near(folder)
        if labels is not None and set(names) <= set(labels):
            classes = labels
        else:
            classes = names
        samples = []
        for d in subdirs:
            for p in list_images(d):
                samples.append((p, classes.index(d.name)))
        if not samples:
            raise EdgeError(f"dataset folder {folder} has no images in its class sub-folders",
                            f"add {', '.join(IMAGE_SUFFIXES[:4])} files under {folder}/<class>/")
        return cls(folder, classes, samples)


# -- detection -----------------------------------------------------------------------------------------
@dataclass
class DetSample:
    path: Path
    image_id: int
    height: int
    width: int
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 pixels
    classes: np.ndarray  # (N,) model class index, 1..K
    category_ids: np.ndarray  # (N,) COCO category id


@dataclass
class DetectDataset:
    root: Path
    annotations: Path
    labels: List[str]  # background first
    category_ids: List[int]  # model class k (1..K) -> category_ids[k - 1]
    samples: List[DetSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int) -> Tuple[np.ndarray, DetSample]:
        s = self.samples[i]
        img = read_rgb(s.path)
        if img.shape[:2] != (s.height, s.width):
            raise EdgeError(f"{s.path} is {img.shape[1]}x{img.shape[0]} but {self.annotations.name} says "
                            f"{s.width}x{s.height}", f"fix the image entry in {self.annotations}")
        return img, s

    @classmethod
    def open(cls, folder: str | os.PathLike) -> DetectDataset:
        folder = Path(folder)
        ann = folder / "annotations.json"
        if not ann.is_file():
            found = sorted(folder.glob("*.json"))
            found = [p for p in found if p.name != "dataset.json"]
            if len(found) != 1:
                raise EdgeError(f"{folder} has no annotations.json (COCO detection format)",
                                "put the COCO JSON at <split>/annotations.json and the images in <split>/images/")
            ann = found[0]
        try:
            coco = json.loads(ann.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EdgeError(f"cannot read COCO annotations {ann}: {e}", "pass a valid COCO JSON file") from None
        if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list) for k in
                                                 ("images", "annotations", "categories")):
            raise EdgeError(f"{ann} is not COCO detection JSON (needs 'images', 'annotations', 'categories' lists)",
                            "export the annotations in COCO format")
        img_dir = folder / "images" if (folder / "images").is_dir() else folder
        cats = sorted(coco["categories"], key=lambda c: int(c["id"]))
        cat_ids = [int(c["id"]) for c in cats]
        cat_index = {cid: k + 1 for k, cid in enumerate(cat_ids)}
        labels = ["background"] + [str(c.get("name", c["id"])) for c in cats]
        images: Dict[int, dict] = {}
        for im in coco["images"]:
            try:
                images[int(im["id"])] = {"file": str(im["file_name"]), "h": int(im["height"]), "w": int(im["width"])}
            except (KeyError, TypeError, ValueError):
                raise EdgeError(f"{ann}: image entry {str(im)[:80]} lacks id/file_name/height/width",
                                "each COCO image needs id, file_name, height and width") from None
        if not images:
            raise EdgeError(f"{ann} lists no images", "add images to the COCO JSON")
        per_image: Dict[int, List[Tuple[List[float], int]]] = {i: [] for i in images}
        for a in coco["annotations"]:
            aid = a.get("id", "?")
            iid = int(a.get("image_id", -1))
            if iid not in images:
                raise EdgeError(f"{ann}: annotation {aid} refers to unknown image id {iid}",
                                "every annotation's image_id must be listed in 'images'")
            cid = int(a.get("category_id", -1))
            if cid not in cat_index:
                raise EdgeError(f"{ann}: annotation {aid} ({images[iid]['file']}) has unknown category id {cid}",
                                f"known category ids: {cat_ids}")
            if a.get("iscrowd", 0):
                continue
            try:
                x, y, w, h = (float(v) for v in a["bbox"])
            except (KeyError, TypeError, ValueError):
                raise EdgeError(f"{ann}: annotation {aid} has no valid bbox [x, y, width, height]") from None
            W, H = images[iid]["w"], images[iid]["h"]
            t = BOX_TOLERANCE_PX
            if w <= 0 or h <= 0 or x < -t or y < -t or x + w > W + t or y + h > H + t:
                raise EdgeError(f"{ann}: annotation {aid} box [{x:g}, {y:g}, {w:g}, {h:g}] is out of bounds of "
                                f"{images[iid]['file']} ({W}x{H})",
                                "bbox is [x, y, width, height] in pixels inside the image")
            per_image[iid].append(([max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)], cid))
        samples = []
        for iid, im in images.items():
            path = img_dir / im["file"]
            if not path.is_file():
                raise EdgeError(f"{ann}: image {im['file']} not found in {img_dir}", "check file_name entries")
            objs = per_image[iid]
            boxes = np.asarray([o[0] for o in objs], np.float32).reshape(-1, 4)
            cids = np.asarray([o[1] for o in objs], np.int64)
            samples.append(DetSample(path, iid, im["h"], im["w"], boxes,
                                     np.asarray([cat_index[c] for c in cids], np.int64), cids))
        return cls(folder, ann, labels, cat_ids, samples)


# -- segmentation ----------------------------------------------------------------------------------------
def read_mask(path: Path) -> np.ndarray:
    """A class-index mask PNG (grayscale or palette) -> (H, W) uint8; colour (RGB) masks are an error.

    Pillow reads palette PNGs as their indices; without Pillow (a lean device install) OpenCV reads
    grayscale masks, and palette masks, which OpenCV would turn into colours, are refused.
    """
    try:
        from PIL import Image
    except ImportError:
        return _read_mask_cv2(path)
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I;16", "I"):
                raise EdgeError(f"mask {path} is a {im.mode} image, not a class-index mask",
                                "save one class index per pixel (grayscale or palette PNG)")
            arr = np.asarray(im)
    except EdgeError:
        raise
    except Exception as e:  # PIL.UnidentifiedImageError, OSError
        raise EdgeError(f"cannot read mask {path}: {str(e).splitlines()[0]}", "masks are PNG files") from None
    if arr.max(initial=0) > 255:
        raise EdgeError(f"mask {path} holds class ids above 255", "use uint8 class indices")
    return arr.astype(np.uint8)


def _read_mask_cv2(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() and path.stat().st_size else None
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None else None
    if arr is None:
        raise EdgeError(f"cannot read mask {path}", "masks are PNG files")
    if arr.ndim != 2:
        raise EdgeError(f"mask {path} has {arr.shape[2]} channels, not one class index per pixel",
                        "save grayscale masks, or install Pillow to read palette PNGs")
    if arr.max(initial=0) > 255:
        raise EdgeError(f"mask {path} holds class ids above 255", "use uint8 class indices")
    return arr.astype(np.uint8)


@dataclass
class SegmentDataset:
    root: Path
    labels: List[str]  # background first
    samples: List[Tuple[Path, Path]]  # (image, mask)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        img_path, mask_path = self.samples[i]
        img = read_rgb(img_path)
        mask = read_mask(mask_path)
        if mask.shape != img.shape[:2]:
            raise EdgeError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {img_path.name} is "
                            f"{img.shape[1]}x{img.shape[0]}", "masks must have their image's size")
        bad = mask[(mask != IGNORE_INDEX) & (mask >= len(self.labels))]
        if bad.size:
            raise EdgeError(f"mask {mask_path} has class id {int(bad.max())} but there are only {len(self.labels)} "
                            f"labels (0..{len(self.labels) - 1}; 255 = ignore)",
                            "fix the mask or the labels.txt (background first)")
        return img, mask

    @classmethod
    def open(cls, folder: str | os.PathLike, labels: Optional[List[str]] = None) -> SegmentDataset:
        folder = Path(folder)
        img_dir = next((folder / d for d in ("images", "JPEGImages") if (folder / d).is_dir()), None)
        mask_dir = next((folder / d for d in ("masks", "SegmentationClass") if (folder / d).is_dir()), None)
        if img_dir is None or mask_dir is None:
            raise EdgeError(f"{folder} needs images/ and masks/ sub-folders (or VOC's JPEGImages/ and "
                            "SegmentationClass/)", "one <stem>.png class-index mask per image")
        labels = labels or _labels_near(folder)
        if labels is None:
            raise EdgeError(f"no labels.txt in {folder} or {folder.parent}",
                            "write labels.txt with one class per line, background first")
        images = list_images(img_dir, recursive=False)
        if not images:
            raise EdgeError(f"dataset folder {img_dir} has no images", "add JPEG/PNG images")
        samples = []
        for p in images:
            m = mask_dir / f"{p.stem}.png"
            if not m.is_file():
                raise EdgeError(f"image {p.name} has no mask {m}", "every image needs <stem>.png in the masks folder")
            samples.append((p, m))
        return cls(folder, list(labels), samples)


def open_dataset(task: Task | str, root: str | os.PathLike, split: Optional[str] = None):
    """The reader for ``task`` on ``root`` (or ``root/split`` when that exists)."""
    task = Task(task)
    folder = split_dir(root, split)
    if task is Task.classify:
        return ClassifyDataset.open(folder)
    if task is Task.detect:
        return DetectDataset.open(folder)
    return SegmentDataset.open(folder)
