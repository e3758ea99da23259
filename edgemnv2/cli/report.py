"""``edgemnv2 report merge``: one comparison across devices, precisions and runtimes; regression check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

report_app = typer.Typer(name="report", help="Work with benchmark reports (report.json from edgemnv2 bench).",
                         no_args_is_help=True)


@report_app.command("merge")
def merge(
    reports: List[Path] = typer.Argument(..., help="report.json files (or directories holding one) to compare."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the merged report.json, report.md, report.html."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="An earlier report.json: flag results that got "
                                            "worse than it beyond the thresholds."),
    threshold: float = typer.Option(0.10, "--threshold", help="Regression threshold for p50 latency and model "
                                    "throughput, as a fraction (0.10 = 10 % worse)."),
    tail_threshold: float = typer.Option(0.25, "--tail-threshold", help="Regression threshold for p99 latency."),
    accuracy_drop: float = typer.Option(0.01, "--accuracy-drop", help="Largest allowed absolute accuracy drop."),
    fail_on_regression: bool = typer.Option(False, "--fail-on-regression", help="Exit 1 when a regression is found "
                                            "(for CI)."),
) -> None:
    """Merge benchmark reports from several devices, precisions or runtimes into one comparison
    (report.json + report.md + report.html with plots), optionally against a --baseline."""
    from rich.markup import escape

    from ..bench.merge import merge_reports, result_lines
    from ..bench.render import write_report
    from ..bench.report import check_report_dir
    from ..errors import EdgeError
    from ..ui import say, warn

    limits = ((threshold, "--threshold"), (tail_threshold, "--tail-threshold"), (accuracy_drop, "--accuracy-drop"))
    for v, name in limits:
        if v < 0:
            raise EdgeError(f"{name} is {v}", "pass a non-negative fraction")
    check_report_dir(out)
    doc = merge_reports(reports, ["edgemnv2", *sys.argv[1:]], baseline,
                        {"p50": threshold, "p99": tail_threshold, "model_ips": threshold, "accuracy": accuracy_drop})
    paths = write_report(doc, out)
    for line in result_lines(doc):
        typer.echo(line)
    for note in doc["notes"]:
        warn(escape(note))
    regs = doc.get("regressions")
    for g in regs or []:
        warn(escape(f"regression: {g['key']}: {g['metric']} {g['baseline']:.3f} -> {g['current']:.3f} "
                    f"({100 * g['change']:+.1f} %, threshold {100 * g['threshold']:.0f} %)"))
    if regs == []:
        say("no regression beyond the thresholds")
    say(escape(f"wrote {paths['json']}, {paths['md'].name}, {paths['html'].name}"))
    if regs and fail_on_regression:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
