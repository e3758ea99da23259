"""Segmentation: class logits -> class map at frame size, pixel counts, palette overlay via a LUT."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = ["class_map", "resize_mask", "class_counts", "palette", "overlay", "colourise"]


def class_map(output: np.ndarray, num_classes: Optional[int] = None, layout: Optional[str] = None) -> np.ndarray:
    """One image's segmentation output -> (H, W) uint8 class indices.

    Accepts an in-graph argmax ((1,) H, W) or logits (1, C, H, W) / (1, H, W, C); the class axis is
    ``layout``'s (NCHW/NHWC) or, when unknown, the one equal to ``num_classes`` (else the smallest).
    """
    x = np.asarray(output)
    if x.ndim == 4:
        x = x[0]
    if x.ndim == 2:
        return x.astype(np.uint8, copy=False)
    if x.ndim == 3 and x.shape[0] == 1 and layout is None and num_classes not in (1,):
        return x[0].astype(np.uint8, copy=False)
    if x.ndim != 3:
        raise ValueError(f"segmentation output must be 2-D to 4-D, got shape {np.asarray(output).shape}")
    if layout == "NCHW":
        axis = 0
    elif layout == "NHWC":
        axis = 2
    elif num_classes is not None and x.shape[2] == num_classes:
        axis = 2
    elif num_classes is not None and x.shape[0] == num_classes:
        axis = 0
    else:
        axis = 0 if x.shape[0] < x.shape[2] else 2
    return np.argmax(x, axis=axis).astype(np.uint8)


def resize_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a class map to (height, width)."""
    if mask.shape[:2] == tuple(size):
        return mask
    import cv2

    return cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def class_counts(mask: np.ndarray, labels: Optional[Sequence[str]] = None) -> Dict[str, int]:
    counts = np.bincount(mask.reshape(-1), minlength=1)
    out: Dict[str, int] = {}
    for i, n in enumerate(counts):
        if n:
            name = labels[i] if labels and i < len(labels) else str(i)
            out[name] = int(n)
    return out


def palette(n: int = 256) -> np.ndarray:
    """PASCAL VOC colour map: (n, 3) uint8 RGB."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


_LUT_BGR = palette(256)[:, ::-1].reshape(1, 256, 3).copy()


def colourise(mask: np.ndarray) -> np.ndarray:
    """Class map (H, W) uint8 -> BGR colour image through cv2.LUT (about 4x cheaper than fancy indexing)."""
    import cv2

    return cv2.LUT(cv2.merge([mask, mask, mask]), _LUT_BGR)


def overlay(frame_bgr: np.ndarray, mask: np.ndarray, alpha: float = 0.5,
            source: Optional[np.ndarray] = None) -> np.ndarray:
    """Blend the palette-coloured mask (resized to the frame) into the frame, in place.

    ``source``: the class map ``mask`` was nearest-resized from (the model's output size): colouring
    that and resizing the colours gives the same image for a fraction of the work at 720p and up.
    """
    import cv2

    h, w = frame_bgr.shape[:2]
    small = source if source is not None and source.size < mask.size else None
    if small is None:
        colour = colourise(resize_mask(mask, (h, w)))
    else:
        colour = cv2.resize(colourise(small), (w, h), interpolation=cv2.INTER_NEAREST)
    cv2.addWeighted(colour, alpha, frame_bgr, 1 - alpha, 0, dst=frame_bgr)
    return frame_bgr
