"""``edgemnv2 selftest --target jetson``: the command; the self-test itself is ``targets/jetson/selftest.py``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer


class SelftestTarget(str, Enum):
    jetson = "jetson"


def selftest(
    target: SelftestTarget = typer.Option(SelftestTarget.jetson, "--target", "-t", help="Device to test (jetson)."),
    work: Path = typer.Option(Path("edgemnv2-selftest"), "--work", "-w", help="Working directory for the test "
                              "bundles (kept, so a failure can be inspected)."),
    prepare_only: bool = typer.Option(False, "--prepare", help="Only build the bundles and reference outputs "
                                      "(on a host with torch and onnxruntime); copy --work to the device after."),
    tasks: str = typer.Option("classify,detect,segment", "--tasks", help="Comma-separated tasks."),
    precisions: str = typer.Option("fp16,int8", "--precisions", help="Comma-separated precisions (fp16, int8)."),
    workspace: int = typer.Option(1024, "--workspace", help="TensorRT builder workspace in MB."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON instead of the text report."),
) -> None:
    """Hardware self-test: build fp16 and int8 TensorRT engines for the three tasks and compare their outputs
    with ONNX Runtime on the same inputs. Prints a short report to paste into an issue; exits 1 on any FAIL.

    Without TensorRT it says so and exits 1. Jetson without torch: --prepare on a host, copy --work here, rerun.
    """
    from ..errors import EdgeError
    from ..targets.jetson.engine import tensorrt_here
    from ..targets.jetson.selftest import REF_FILE, TASKS, TOLERANCES, format_report, prepare, run_checks
    from ..ui import say

    task_list = [t.strip() for t in tasks.split(",") if t.strip()]
    prec_list = [p.strip() for p in precisions.split(",") if p.strip()]
    bad = [t for t in task_list if t not in TASKS] + [p for p in prec_list if p not in TOLERANCES]
    if bad or not task_list or not prec_list:
        raise EdgeError(f"unknown task or precision {bad[0] if bad else '(none given)'}",
                        "tasks: classify,detect,segment; precisions: fp16,int8")
    if not prepare_only and not tensorrt_here():
        raise EdgeError("TensorRT is not installed here: the Jetson self-test builds and runs TensorRT engines, so it "
                        "runs on the Jetson (or a machine with an NVIDIA GPU and TensorRT)",
                        "on the Jetson use JetPack's TensorRT (python3 -m venv --system-site-packages); to prepare "
                        "its bundles on a host use --prepare")
    bundles = [work / f"{t}-{p}" for t in task_list for p in prec_list]
    missing = [b for b in bundles if not (b / REF_FILE).is_file()]
    if prepare_only or missing:
        todo = task_list if prepare_only else sorted({b.name.split("-")[0] for b in missing}, key=task_list.index)
        prepare(work, todo, prec_list, say)
        if prepare_only:
            say(f"prepared {len(bundles)} bundles in {work}; copy it to the Jetson and run: "
                f"edgemnv2 selftest --target jetson --work {work}")
            return
    result = run_checks(bundles, say, workspace)
    typer.echo(json.dumps(result, indent=1) if as_json else format_report(result))
    if not result["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("selftest")(selftest)
