"""The sink protocol: ``SinkItem`` (one processed frame), ``Sink`` and ``NullSink``; ``close_all``, ``temp_beside``."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ...errors import EdgeError
from ...fileio import _umask, ensure_writable_dir
from ..sources import Frame

__all__ = ["SinkItem", "Sink", "NullSink", "close_all", "temp_beside"]


@dataclass
class SinkItem:
    """One processed frame as the sinks see it."""

    frame: Frame
    result: Any  # edgemnv2.predictor.TaskResult
    seq: int  # 0-based count of processed frames
    image: Optional[np.ndarray] = None  # annotated BGR frame (None when no sink needs pixels)
    stage_ms: Dict[str, float] = field(default_factory=dict)
    t0: float = 0.0  # perf_counter at pipeline start
    tracks: Optional[List[int]] = None  # --track: a track id per detection (-1: not yet confirmed)

    @property
    def stream(self) -> int:
        return self.frame.stream


class Sink:
    """Base sink: ``open()`` before the run, ``write(item)`` per frame, ``close()`` to finalise."""

    name = "none"
    needs_image = False  # wants the annotated frame
    stop_requested = False  # a sink may ask the app to stop (window closed, 'q' pressed)

    def open(self) -> None:
        pass

    def write(self, item: SinkItem) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> Dict[str, Any]:
        return {"sink": self.name}


class NullSink(Sink):
    """Results are computed and profiled, nothing is written (``--sink none``); ``render`` draws anyway."""

    def __init__(self, render: bool = False) -> None:
        self.needs_image = render



def close_all(sinks: Sequence[Sink]) -> Optional[BaseException]:
    """Close every sink (files finalised) even when one fails; returns the first failure, if any."""
    error: Optional[BaseException] = None
    for s in sinks:
        try:
            s.close()
        except BaseException as e:  # close the others anyway
            error = error or e
    return error


def temp_beside(path: Path, what: str) -> Path:
    """Create (and return) an empty temp file beside ``path`` keeping its suffix; EdgeError if not writable."""
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), f"{what} directory")
    if path.is_dir():
        raise EdgeError(f"{what} {path} is a directory", "pass a file path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                   dir=str(path.parent or Path(".")))
    except OSError as e:
        raise EdgeError(f"cannot write {what} {path}: {e.strerror}", "choose a writable path") from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    except OSError:
        pass
    return Path(tmp)
