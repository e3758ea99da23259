"""Terminal output: progress and messages go to stderr (stdout stays for results such as --json)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterable, Iterator, Optional, Sequence, TypeVar

__all__ = ["err_console", "say", "warn", "track", "stdout_to_stderr"]

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


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send whatever is written to stdout during the block to stderr, native libraries' output included
    (TensorFlow's converter and TensorRT log from C++): stdout stays clean for results such as --json."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
