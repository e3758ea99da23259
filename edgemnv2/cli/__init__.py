"""Typer command line: one module per command group, joined in ``edgemnv2.cli.main``."""
