"""Deferring Ctrl-C / SIGTERM around native code that crashes when interrupted.

torch's ONNX exporter can die with SIGSEGV when a KeyboardInterrupt is raised inside it. For the
duration of such a call the signals are only recorded; once it returns, a recorded one is raised as
an ordinary KeyboardInterrupt that the caller's cleanup (``staged_dir``) handles. (Blocking the
signals would not do: the process's other threads would still take them.)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Dict, Iterator, List

__all__ = ["signals_deferred"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Record SIGINT/SIGTERM during the block; raise KeyboardInterrupt after it if one came."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []

    def record(signum: int, _frame: Any) -> None:
        received.append(signum)

    previous: Dict[int, Any] = {s: signal.signal(s, record) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            raise KeyboardInterrupt
