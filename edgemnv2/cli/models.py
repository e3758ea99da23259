"""``edgemnv2 models``: the variants with parameter and multiply-add counts computed from the code."""

from __future__ import annotations

import json

import typer


def models(as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table.")) -> None:
    """List the model variants with parameters and multiply-adds counted by code vs the published figures.

    Parameters are counted with BatchNorm folded into convs; multiply-adds cover convolutions and
    fully connected layers (see docs/models.md).
    """
    from ..models.zoo import PAPER_VARIANTS

    rows = []
    for v in PAPER_VARIANTS:
        params, madds = v.counts()
        res = v.count_resolution or v.resolution
        row = {"name": v.name, "task": v.task.value, "width_mult": v.width, "resolution": res,
               "num_classes": v.num_classes, "params_m": round(params / 1e6, 3), "madds_m": round(madds / 1e6, 1),
               "ref_params_m": v.ref_params_m, "ref_madds_m": v.ref_madds_m, "source": v.source}
        for key, ref, val in (("params_dev_pct", v.ref_params_m, params / 1e6), ("madds_dev_pct", v.ref_madds_m,
                                                                                madds / 1e6)):
            row[key] = None if ref is None else round(100.0 * (val - ref) / ref, 2)
        rows.append(row)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="edgemnv2 model variants (counted from the code)")
    for col in ("variant", "task", "input", "classes", "params (M)", "paper", "Δ%", "MAdds (M)", "paper", "Δ%"):
        t.add_column(col, justify="left" if col in ("variant", "task") else "right")

    def f(x: object) -> str:
        return "-" if x is None else str(x)

    for r in rows:
        t.add_row(r["name"], r["task"], f"{r['resolution']}", str(r["num_classes"]), f"{r['params_m']:.3f}",
                  f(r["ref_params_m"]), f(r["params_dev_pct"]), f"{r['madds_m']:.1f}", f(r["ref_madds_m"]),
                  f(r["madds_dev_pct"]))
    import sys

    Console(width=None if sys.stdout.isatty() else 160).print(t)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
