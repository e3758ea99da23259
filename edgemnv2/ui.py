"""Terminal output: progress and messages go to stderr (stdout stays for results such as --json)."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, TypeVar

__all__ = ["err_console", "say", "warn", "track"]

T = TypeVar("T")
_console = None


def err_console():  # -> rich.console.Console
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False)
    return _console


def say(message: str) -> None:
    if message.startswith("NO WEIGHTS"):
        warn(message)
    else:
        err_console().print(f"[cyan]•[/cyan] {message}", soft_wrap=True)


def warn(message: str) -> None:
    err_console().print(f"[bold yellow]warning:[/bold yellow] {message}", soft_wrap=True)


def track(items: Sequence[T] | Iterable[T], description: str, total: Optional[int] = None) -> Iterable[T]:
    """A rich progress bar on stderr (plain iteration when stderr is not a terminal)."""
    from rich.progress import track as _track

    return _track(items, description=description, total=total, console=err_console(), transient=True)
