"""``edgemnv2 doctor``: print what ``edgemnv2.doctor`` finds (runtimes, accelerators, cameras, versions, targets)."""

from __future__ import annotations

import json
import sys

import typer


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON.")) -> None:
    """Check this machine: runtimes, accelerators, cameras, versions, and what each target still needs."""
    from ..doctor import collect

    info = collect()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    c = Console(width=None if sys.stdout.isatty() else 140)
    s = info["system"]
    c.print(f"[bold]system[/bold] {s['os']} ({s['machine']}), Python {s['python']}, {s['cpus']} CPUs")
    t = Table(title="packages")
    t.add_column("module")
    t.add_column("version")
    for m, v in info["packages"].items():
        t.add_row(m, v or "[dim]missing[/dim]")
    c.print(t)
    a = info["accelerators"]
    jet = a["jetson"]
    jetson = f"L4T {jet['l4t']} (JetPack {jet['jetpack']})" if jet else "no"
    c.print(f"[bold]accelerators[/bold] Jetson: {jetson}; board: {a['board_model'] or 'unknown'}; "
            f"nvidia-smi: {a['nvidia_smi'] or 'no'}; vcgencmd: {a['vcgencmd'] or 'no'}")
    cams = info["cameras"]
    c.print(f"[bold]cameras[/bold] V4L2: {', '.join(cams['v4l2']) or 'none'}; Picamera2: "
            f"{cams['picamera2'] or 'no'}; OpenCV GStreamer: {cams['opencv_gstreamer']}")
    t = Table(title="targets")
    t.add_column("what")
    t.add_column("ready")
    t.add_column("missing / how to fix")
    for name, st in info["targets"].items():
        t.add_row(name, "[green]yes[/green]" if st["ready"] else "[red]no[/red]",
                  "" if st["ready"] else escape(f"{', '.join(st['missing'])}: {st['install']}"))
    c.print(t)
    if info["tflite_int8_delegation"]:
        c.print(f"[bold yellow]warning:[/bold yellow] {escape(info['tflite_int8_delegation'])}")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
