"""Natural photos for calibration tests, made at test time from images already on the machine.

Sources: scikit-image's bundled colour photos (astronaut, cat, coffee, rocket, ...) and, when
present, the Coral sample photos. Random crops (with flips) of them give as many different
calibration / held-out images as a test needs, without any download.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np

__all__ = ["source_photos", "write_photo_folder", "write_noise_folder"]

_SKIMAGE = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
            "motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "color.png")


def source_photos(coral_dir: Optional[Path] = None) -> List[np.ndarray]:
    """RGB uint8 photos: scikit-image's colour samples plus Coral's (when ``coral_dir`` is given)."""
    import os

    import skimage

    from edgemnv2.imageio import read_rgb

    base = Path(os.path.dirname(skimage.__file__)) / "data"
    paths = [base / n for n in _SKIMAGE if (base / n).is_file()]
    if coral_dir is not None:
        paths += [Path(coral_dir) / n for n in ("cat.bmp", "grace_hopper.bmp", "bird_segmentation.bmp",
                                                 "cat_720p.jpg") if (Path(coral_dir) / n).is_file()]
    return [read_rgb(p) for p in paths]


def write_photo_folder(dest: Path, count: int, seed: int = 0, coral_dir: Optional[Path] = None,
                       min_side: int = 96) -> Path:
    """Write ``count`` random crops (JPEG) of the source photos into ``dest``; returns ``dest``."""
    import cv2

    rng = np.random.default_rng(seed)
    photos = source_photos(coral_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.5, 1.0) * min(h, w))
        side = max(min(side, min(h, w)), min(min_side, min(h, w)))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img[y:y + side, x:x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        cv2.imwrite(str(dest / f"img_{i:04d}.jpg"), np.ascontiguousarray(crop[..., ::-1]))
    return dest


def write_noise_folder(dest: Path, count: int, shape: tuple, seed: int = 0) -> Path:
    """Write ``count`` uniform-noise PNGs of ``shape`` (H, W, 3) into ``dest`` (for checks where the content
    does not matter, e.g. the int8 flow's plumbing); returns ``dest``."""
    import cv2

    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(dest / f"{i}.png"), rng.integers(0, 255, shape, dtype=np.uint8))
    return dest
