"""Image files as a source: a folder (recursively, in name order) or one image file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import EdgeError
from ...imageio import IMAGE_SUFFIXES, list_images
from .base import Source

__all__ = ["ImageFolderSource"]


class ImageFolderSource(Source):
    """Image files in name order (a folder, recursively, or one file); unreadable files are skipped."""

    kind = "images"

    def __init__(self, path: Path, fps: float = 0.0) -> None:
        super().__init__(str(path), live=False, fps=fps)
        self.paths = [path] if path.is_file() else list_images(path)
        self._pos = 0

    def _open(self) -> None:
        if not self.paths:
            raise EdgeError(f"image folder {self.name} holds no images ({', '.join(IMAGE_SUFFIXES)})",
                            "pass a folder of JPEG/PNG/BMP files, a video file, a camera or a URL")

    def _grab(self) -> Optional[np.ndarray]:
        from ...imageio import read_rgb
        from ...ui import warn

        while self._pos < len(self.paths):
            path = self.paths[self._pos]
            self._pos += 1
            try:
                rgb = read_rgb(path)
            except EdgeError as e:
                self.skipped += 1
                warn(f"skipped {e}")
                continue
            return np.ascontiguousarray(rgb[:, :, ::-1])
        return None

