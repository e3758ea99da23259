"""``edgemnv2 data``: dataset tools (synthetic shapes dataset in ImageFolder / COCO / VOC-mask formats)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..tasks.base import Task

data_app = typer.Typer(help="Dataset tools: generate the synthetic shapes dataset.", no_args_is_help=True)


@data_app.command("synth")
def synth(
    task: Task = typer.Option(..., "--task", help="Which format to write: classify (ImageFolder), detect (COCO "
                              "JSON) or segment (PNG class masks)."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset directory to create (replaces "
                              "only an empty directory or a dataset this command wrote)."),
    train: int = typer.Option(2000, "--train", help="Images in the train split."),
    val: int = typer.Option(200, "--val", help="Images in the held-out val split."),
    calib: int = typer.Option(100, "--calib", help="Images in calib/ (flat folder for int8 calibration)."),
    count: int = typer.Option(None, "--count", "-n", help="Shortcut: N train images, N/10 val, N/20 calib."),
    size: int = typer.Option(160, "--size", help="Image side in pixels (square)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same images."),
) -> None:
    """Generate a synthetic dataset of shapes (circle, square, triangle, star) over varied backgrounds."""
    from ..data.synthetic import write_dataset
    from ..errors import EdgeError
    from ..ui import say

    if count is not None:
        train, val, calib = count, max(count // 10, 1), max(count // 20, 1)
    if min(train, val, calib) < 0:
        raise EdgeError("split sizes must be >= 0")
    if not 32 <= size <= 4096:
        raise EdgeError(f"--size {size} is out of range", "use 32 to 4096 pixels (default 160)")
    write_dataset(out, task, {"train": train, "val": val, "calib": calib}, size, seed, progress=True)
    say(f"wrote {task.value} dataset to {out} (train {train}, val {val}, calib {calib}; seed {seed})")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
