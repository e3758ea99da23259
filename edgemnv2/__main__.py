"""``python -m edgemnv2`` and the ``edgemnv2`` script: quiet on Ctrl-C from the very first moment."""

from __future__ import annotations

import os
import signal


def _interrupted_early(_signum: int, _frame: object) -> None:
    # Nothing has been written yet while the command modules import: leave at once, without a traceback.
    os.write(2, b"error: interrupted\n")
    os._exit(130)


def run() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupted_early)
    from .cli.main import run as run_cli  # main() puts the usual handlers back before any work

    run_cli()


if __name__ == "__main__":
    run()
