"""Reading images as RGB uint8 with one-line errors (OpenCV; device side)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Tuple

import numpy as np

from .errors import EdgeError

__all__ = ["read_rgb", "to_rgb8", "IMAGE_SUFFIXES", "list_images"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def to_rgb8(img: np.ndarray, src: str = "image") -> Tuple[np.ndarray, str]:
    """Any OpenCV-decoded image (BGR order) -> RGB uint8, and a note of any conversion made.

    Grayscale becomes 3 channels, alpha is dropped, 16-bit and float images are scaled to 8 bits.
    """
    note = ""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
        note = "16-bit scaled to 8-bit"
    elif img.dtype != np.uint8:
        f = img.astype(np.float32)
        hi = 1.0 if f.max() <= 1.0 else 255.0
        img = np.clip(f / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        note = f"{img.dtype} scaled to 8-bit"
    import cv2

    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB), (note + "; " if note else "") + "grayscale to RGB"
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB), (note + "; " if note else "") + "alpha dropped"
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), note
    raise EdgeError(f"{src}: unsupported image shape {img.shape}", "use an RGB, grayscale or RGBA image")


def read_rgb(path: str | os.PathLike, with_note: bool = False):  # -> np.ndarray | (np.ndarray, str)
    """Read an image file as RGB uint8 (H, W, 3); raise EdgeError if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise EdgeError(f"image {path} does not exist", "check the path")
    if path.is_dir():
        raise EdgeError(f"image path {path} is a directory", "pass image files")
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if path.stat().st_size else np.zeros(0, np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise EdgeError(f"cannot read image {path}: empty, corrupt or not an image format OpenCV knows",
                        "pass a JPEG, PNG or BMP file")
    rgb, note = to_rgb8(img, str(path))
    return (rgb, note) if with_note else rgb


def list_images(folder: str | os.PathLike, recursive: bool = True) -> List[Path]:
    folder = Path(folder)
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
