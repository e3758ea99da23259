"""Classification: logits or probabilities -> top-k categories."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence

import numpy as np

from .base import looks_like_probabilities, softmax

__all__ = ["Category", "topk", "draw"]


@dataclass(frozen=True)
class Category:
    index: int
    label: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


def label_for(labels: Optional[Sequence[str]], index: int) -> str:
    if labels and 0 <= index < len(labels):
        return labels[index]
    return str(index)


def topk(output: np.ndarray, labels: Optional[Sequence[str]] = None, k: int = 5,
         activation: Optional[str] = None) -> List[Category]:
    """One image's class scores (C,) or (1, C) -> the k best as probabilities.

    ``activation`` is what the model outputs: "logits" (softmax applied), "softmax" (used as is), or
    None for a bare model (softmax unless the scores already look like probabilities).
    """
    scores = np.asarray(output, dtype=np.float32).reshape(-1)
    if activation == "logits" or (activation is None and not looks_like_probabilities(scores)):
        scores = softmax(scores)
    k = min(k, scores.size)
    idx = np.argsort(-scores, kind="stable")[:k]  # ties: lowest index first, the same on every CPU
    return [Category(int(i), label_for(labels, int(i)), float(scores[i])) for i in idx]


def draw(frame_bgr: np.ndarray, top: Sequence[Category], n: int = 3) -> np.ndarray:
    """Write the best ``n`` categories onto the frame (in place) and return it."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    for row, c in enumerate(top[:n]):
        text = f"{c.label[:40]} {c.score:.2f}"
        y = 28 + 26 * row
        # a dark box behind thin text (a thick outline pass renders wider than the text in OpenCV 5)
        (tw, th), base = cv2.getTextSize(text, font, 0.7, 1)
        roi = frame_bgr[max(0, y - th - 4):y + base + 2, 6:14 + tw]
        roi[...] = (roi * 0.35).astype(roi.dtype)
        cv2.putText(frame_bgr, text, (10, y), font, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return frame_bgr
