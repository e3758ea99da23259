"""Optional per-model steps of ``edgemnv2 bench``: the full pipeline (--pipeline) and accuracy (--eval)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..errors import EdgeError

__all__ = ["pipeline_step", "eval_step"]

Step = Callable[[Any], Dict[str, Any]]


def pipeline_step(source: str, frames: int) -> Step:
    try:
        from ..apps import pipeline as _pipeline  # noqa: F401
    except ImportError:
        raise EdgeError("--pipeline needs the camera pipeline (edgemnv2.apps.pipeline), which this install lacks",
                        "update edgemnv2") from None
    raise EdgeError("--pipeline is not wired up yet")


def eval_step(data: Path, limit: Optional[int]) -> Step:
    raise EdgeError("--eval is not wired up yet")
