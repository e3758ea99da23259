"""Options that several commands share, defined once (``Annotated`` aliases), and ``open_predictor``.

A command writes ``bundle: BundleOpt = None`` and gets the same flag, short name and help text as
every other command that takes a bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from typing_extensions import Annotated

from ..tasks.base import Task

if TYPE_CHECKING:
    from ..predictor import Predictor

__all__ = ["BundleOpt", "ModelOpt", "TaskOpt", "LabelsOpt", "ThreadsOpt", "JsonOpt", "TopKOpt",
           "ScoreThresholdOpt", "IouThresholdOpt", "open_predictor"]

BundleOpt = Annotated[Optional[Path], typer.Option("--bundle", "-b", help="Bundle directory from edgemnv2 build.")]
ModelOpt = Annotated[Optional[Path], typer.Option(
    "--model", "-m", help="A bare model file (.onnx, .tflite, .engine) instead of a bundle.")]
TaskOpt = Annotated[Optional[Task], typer.Option("--task", help="Task of a bare --model (a bundle knows its own).")]
LabelsOpt = Annotated[Optional[Path], typer.Option(
    "--labels", help="Labels file for a bare --model, one class per line ('#' comments and blank lines skipped).")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", min=1,
                                                   help="Runtime threads (default: the runtime's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
TopKOpt = Annotated[int, typer.Option("--top-k", min=1, help="classify: how many classes to report.")]
ScoreThresholdOpt = Annotated[Optional[float], typer.Option(
    "--score-threshold", min=0.0, max=1.0,
    help="detect: minimum score (default: the bundle's recorded threshold, else 0.3).")]
IouThresholdOpt = Annotated[Optional[float], typer.Option(
    "--iou-threshold", min=0.0, max=1.0, help="detect: NMS IoU threshold (default: the bundle's, else 0.45).")]


def open_predictor(bundle: Optional[Path], model: Optional[Path], task: Optional[Task], labels: Optional[Path],
                   **kwargs: Any) -> Predictor:
    """The predictor for exactly one of ``--bundle DIR`` or ``--model FILE --task T [--labels F]``.

    ``kwargs`` go to ``Predictor.from_bundle`` / ``Predictor.from_model`` (threads, top_k, detect options).
    """
    from ..errors import EdgeError
    from ..predictor import Predictor

    if (bundle is None) == (model is None):
        raise EdgeError("pass exactly one of --bundle DIR or --model FILE")
    if bundle is not None:
        if task is not None or labels is not None:
            raise EdgeError("--task and --labels are for a bare --model; a bundle records its own")
        return Predictor.from_bundle(bundle, **kwargs)
    if task is None:
        raise EdgeError("--task is required with --model", "pass --task classify, detect or segment")
    return Predictor.from_model(model, task, labels, **kwargs)
