"""Label files: one label per line; blank lines and ``#`` comment lines are not classes.

The index of a label is its position among the label lines. A label count that does not match the
model's outputs is an error, except the well-known off-by-one where the model has a background
output at index 0 that the file leaves out: then ``background`` is put first and the offset said.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .errors import EdgeError
from .tasks.base import Task

__all__ = ["read_labels", "labels_text", "default_labels", "check_label_count", "fit_labels", "class_count"]

BACKGROUND = "background"


def read_labels(path: str | os.PathLike) -> List[str]:
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "missing"
        raise EdgeError(f"labels file {path} is {what}", "pass a text file with one label per line")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgeError(f"cannot read labels file {path}: {e}", "pass a UTF-8 text file, one label per line") from None
    labels = [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]
    if not labels:
        raise EdgeError(f"labels file {path} is empty", "pass a text file with one label per line")
    return labels


def labels_text(labels: Sequence[str]) -> str:
    return "".join(f"{label}\n" for label in labels)


def default_labels(task: str, num_classes: int) -> List[str]:
    """Placeholder names when none are given: detection/segmentation reserve index 0 for background."""
    if task in ("detect", "segment"):
        return [BACKGROUND] + [f"class_{i}" for i in range(1, num_classes)]
    return [f"class_{i}" for i in range(num_classes)]


def check_label_count(labels: Optional[Sequence[str]], num_classes: int, source: str) -> None:
    if labels is not None and len(labels) != num_classes:
        raise EdgeError(f"{source} has {len(labels)} labels but the model has {num_classes} classes",
                        "pass a labels file with one line per class (background first for detect/segment)")


def fit_labels(labels: Sequence[str], outputs: int, source: str,
               allow_offset: bool = True) -> Tuple[List[str], Optional[str]]:
    """``labels`` for a model with ``outputs`` classes, and a note when a background offset was applied.

    One label short with no background label: the model's output 0 is background (SSD/DeepLab heads,
    TF-slim's 1001-class ImageNet classifiers), so ``background`` is put first. Any other mismatch is
    an error: names would silently land on the wrong classes. ``allow_offset=False`` (a model known
    to have no background output) makes the off-by-one an error too.
    """
    labels = list(labels)
    if len(labels) == outputs:
        return labels, None
    if allow_offset and len(labels) == outputs - 1 and labels[0].strip().lower() != BACKGROUND:
        return [BACKGROUND, *labels], (f"{source} has {len(labels)} labels for {outputs} model classes: class 0 is "
                                       f"taken as '{BACKGROUND}' and the file's labels as classes 1 to {outputs - 1}")
    raise EdgeError(f"{source} has {len(labels)} labels but the model outputs {outputs} classes",
                    "pass the labels file made for this model: one line per class, in output order "
                    "(blank and # lines are skipped)")


def class_count(task: Task, shapes: Sequence[Sequence[int]], layout: Optional[str] = None) -> Optional[int]:
    """How many classes the model's outputs score, or None where the outputs do not say (argmax masks,
    dynamic sizes, layouts this cannot tell)."""
    n: Optional[int] = None
    if task is Task.classify and len(shapes) == 1 and len(shapes[0]) == 2:
        n = int(shapes[0][-1])
    elif task is Task.detect and len(shapes) == 2 and all(len(s) == 3 for s in shapes):
        # (1, A, 4) boxes and (1, A, C) scores over the same anchors; other layouts are not guessed
        a, b = shapes
        boxes, scores = (a, b) if a[-1] == 4 else (b, a)
        if boxes[-1] == 4 and boxes[1] == scores[1]:
            n = int(scores[-1])
    elif task is Task.segment and len(shapes) == 1 and len(shapes[0]) == 4:
        s = shapes[0]
        if layout == "NCHW" or (layout is None and s[2] == s[3] != s[1]):
            n = int(s[1])
        elif layout == "NHWC" or (layout is None and s[1] == s[2] != s[3]):
            n = int(s[3])
    return n if n is not None and n > 0 else None
