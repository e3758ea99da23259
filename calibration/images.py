"""Calibration image sets: read a folder, check every file, split calibration / held-out.

Files that cannot be used are skipped and counted (unreadable, not images); grayscale, RGBA and
16-bit images are converted and counted. Fewer usable images than asked are all used (the int8
flow warns). The returned images are RGB uint8; feed them through the same
``edgemnv2.tasks.preprocess.preprocess`` the model uses at run time. The split into calibration
and held-out images is ``calibration.evaluation.split_holdout``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..errors import EdgeError
from ..imageio import IMAGE_SUFFIXES, read_rgb

__all__ = ["CalibrationSet", "load_calibration_images"]


@dataclass
class CalibrationSet:
    folder: Path
    paths: List[Path]
    images: List[np.ndarray]  # RGB uint8, original sizes
    skipped: Dict[str, str] = field(default_factory=dict)  # file -> reason
    converted: Dict[str, str] = field(default_factory=dict)  # file -> conversion note
    class_names: Optional[List[str]] = None  # ImageFolder sub-directories, when present
    targets: Optional[List[int]] = None  # class index per image (ImageFolder layout)

    @property
    def list_sha256(self) -> str:
        """Hash of the relative paths and file sizes (not contents), sorted: identifies the set in manifests."""
        h = hashlib.sha256()
        for p in sorted(self.paths):
            h.update(str(p.relative_to(self.folder)).encode())
            h.update(str(p.stat().st_size).encode())
        return h.hexdigest()

    def describe(self, method: str) -> Dict[str, object]:
        return {"folder": self.folder.name, "count": len(self.images), "image_list_sha256": self.list_sha256,
                "method": method, "skipped": len(self.skipped), "converted": len(self.converted)}


def load_calibration_images(folder: str | os.PathLike | None, count: int, seed: int = 0) -> CalibrationSet:
    """Read up to ``count`` usable images from ``folder`` (recursively; sorted, then a seeded shuffle).

    Raises EdgeError when the folder is missing, empty, or holds no usable image.
    """
    if folder is None:
        raise EdgeError("int8 needs calibration images", "pass --calib DIR with a few hundred images like "
                        "the ones the model will see")
    folder = Path(folder)
    if not folder.exists():
        raise EdgeError(f"calibration folder {folder} does not exist", "pass --calib DIR with images")
    if not folder.is_dir():
        raise EdgeError(f"calibration path {folder} is not a folder", "pass --calib DIR with images")
    if count <= 0:
        raise EdgeError(f"--calib-count must be positive, not {count}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise EdgeError(f"calibration folder {folder} is empty", "put a few hundred representative images in it")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    subdirs = sorted({p.parent for p in files if p.parent != folder})
    class_names = sorted({p.relative_to(folder).parts[0] for p in files if p.parent != folder}) or None
    skipped: Dict[str, str] = {}
    converted: Dict[str, str] = {}
    paths: List[Path] = []
    images: List[np.ndarray] = []
    for i in order:
        p = files[i]
        rel = str(p.relative_to(folder))
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            skipped[rel] = "not an image file"
            continue
        try:
            img, note = read_rgb(p, with_note=True)
        except EdgeError as e:
            skipped[rel] = e.message
            continue
        if note:
            converted[rel] = note
        paths.append(p)
        images.append(img)
        if len(images) >= count:
            break
    if not images:
        raise EdgeError(f"calibration folder {folder} has no usable image ({len(skipped)} files skipped, e.g. "
                        f"{next(iter(skipped.items()))[0]}: {next(iter(skipped.items()))[1]})",
                        "use JPEG/PNG/BMP images")
    targets = None
    if class_names and subdirs:
        targets = [class_names.index(p.relative_to(folder).parts[0]) if p.parent != folder else -1 for p in paths]
    return CalibrationSet(folder, paths, images, skipped, converted, class_names, targets)
