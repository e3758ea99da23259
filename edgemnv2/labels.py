"""Label files: one label per line, index = line number (blank trailing lines ignored)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence

from .errors import EdgeError

__all__ = ["read_labels", "labels_text"]


def read_labels(path: str | os.PathLike) -> List[str]:
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "missing"
        raise EdgeError(f"labels file {path} is {what}", "pass a text file with one label per line")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EdgeError(f"cannot read labels file {path}: {e}", "pass a UTF-8 text file, one label per line") from None
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise EdgeError(f"labels file {path} is empty", "pass a text file with one label per line")
    return labels


def labels_text(labels: Sequence[str]) -> str:
    return "".join(f"{label}\n" for label in labels)


def default_labels(task: str, num_classes: int) -> List[str]:
    """Placeholder names when none are given: detection/segmentation reserve index 0 for background."""
    if task in ("detect", "segment"):
        return ["background"] + [f"class_{i}" for i in range(1, num_classes)]
    return [f"class_{i}" for i in range(num_classes)]


def check_label_count(labels: Optional[Sequence[str]], num_classes: int, source: str) -> None:
    if labels is not None and len(labels) != num_classes:
        raise EdgeError(f"{source} has {len(labels)} labels but the model has {num_classes} classes",
                        "pass a labels file with one line per class (background first for detect/segment)")
