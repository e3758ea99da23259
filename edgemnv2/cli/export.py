"""``edgemnv2 export``: hand a bundle to Triton Inference Server or DeepStream."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .options import BundleOpt


def export(
    bundle: BundleOpt = None,
    triton: Optional[Path] = typer.Option(None, "--triton", help="Triton model repository: writes REPO/<name>/ "
                                          "(config.pbtxt + 1/<model file>), checked against Triton's schema."),
    name: Optional[str] = typer.Option(None, "--name", help="Triton model name (default: the bundle's folder name)."),
    deepstream: Optional[Path] = typer.Option(None, "--deepstream", help="Directory for a DeepStream nvinfer config, "
                                              "its ONNX, labels, a deepstream-app config and (detect) the box "
                                              "parser's source."),
    sources: int = typer.Option(1, "--sources", min=1, max=64, help="deepstream-app config: number of sources."),
) -> None:
    """Write what Triton Inference Server or DeepStream needs to serve a bundle (docs/camera.md)."""
    from ..bundle import load_bundle
    from ..errors import EdgeError
    from ..ui import say

    if bundle is None:
        raise EdgeError("--bundle DIR is required", "pass the bundle to export")
    if triton is None and deepstream is None:
        raise EdgeError("nothing to export", "pass --triton REPO and/or --deepstream DIR")
    b = load_bundle(bundle)
    if triton is not None:
        from ..serving.triton import write_triton

        say(f"Triton model written: {write_triton(b, triton, name)}")
    if deepstream is not None:
        from ..serving.deepstream import write_deepstream

        out = write_deepstream(b, deepstream, sources)
        say(f"DeepStream config written: {out}/config_infer_primary.txt (run: deepstream-app -c "
            f"{out}/deepstream_app_config.txt after editing its source URIs)")
        if b.task.value == "detect":
            say(f"detection needs the box parser: cd {out} && make (on the device, with DeepStream installed)")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
