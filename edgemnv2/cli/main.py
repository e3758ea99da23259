"""``edgemnv2`` entry point: joins the command modules and turns errors into one line on stderr.

Errors never show a traceback unless ``--debug`` is given (anywhere on the command line) or
EDGEMNV2_DEBUG=1 is set. Exit codes: 0 ok, 1 error, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import List, Optional

import typer

from .. import __version__

app = typer.Typer(
    name="edgemnv2",
    help="Put MobileNetV2-family models to work on edge devices: build TensorRT (Jetson) and TFLite (Raspberry "
         "Pi) bundles, run camera apps, and benchmark them honestly. Add --debug to any command for tracebacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgemnv2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """edgemnv2: MobileNetV2 on Jetson (TensorRT) and Raspberry Pi (TFLite)."""


# Command modules: each exposes ``register(app)``.
_COMMANDS = [
    "edgemnv2.cli.build",
    "edgemnv2.cli.predict",
    "edgemnv2.cli.models",
    "edgemnv2.cli.doctor",
    "edgemnv2.cli.bench",
    "edgemnv2.cli.report",
    "edgemnv2.cli.camera",
    "edgemnv2.cli.data",
    "edgemnv2.cli.train",
    "edgemnv2.cli.eval",
    "edgemnv2.cli.selftest",
    "edgemnv2.cli.export",
]


def _register() -> None:
    import importlib

    for name in _COMMANDS:
        importlib.import_module(name).register(app)


_register()


_WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS)


def _error(message: str, code: int = 1) -> int:
    from ..ui import err_console

    err_console().print(f"[bold red]error:[/bold red] {message}", soft_wrap=True, markup=True, highlight=False)
    return code


def _sigterm_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so builds remove their temporary directories and files get finalised.

    Ctrl-C raises KeyboardInterrupt again (``edgemnv2.__main__`` exits quietly on it during start-up).
    """
    import signal

    def _raise(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread (e.g. called from a test harness thread)
        pass


def main(argv: Optional[List[str]] = None) -> int:
    try:  # typer >= 0.20 vendors click; older typer (JetPack's Python 3.8) depends on it
        from typer._click import exceptions as cexc  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover
        from click import exceptions as cexc

    from ..errors import EdgeError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGEMNV2_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    _sigterm_as_interrupt()
    try:
        rv = app(args=args, prog_name="edgemnv2", standalone_mode=False)
        if rv == 130:  # typer turns KeyboardInterrupt into an exit code of 130
            return _error("interrupted (nothing half-written was left behind)", 130)
        return int(rv) if isinstance(rv, int) else 0
    except EdgeError as e:
        if debug:
            raise
        from rich.markup import escape

        return _error(escape(str(e)))
    except (typer.Exit, getattr(cexc, "Exit", typer.Exit)) as e:
        code = int(getattr(e, "exit_code", 0) or 0)
        if code == 130:  # typer turns KeyboardInterrupt into Exit(130)
            return _error("interrupted (nothing half-written was left behind)", 130)
        return code
    except (typer.Abort, getattr(cexc, "Abort", typer.Abort)):
        return _error("interrupted", 130)
    except cexc.ClickException as e:
        e.show()
        return int(e.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        return _error("interrupted (nothing half-written was left behind)", 130)
    except BrokenPipeError:
        return 0
    except OSError as e:  # the environment (disk full, permissions), not a bug: name the path when known
        if debug:
            raise
        from rich.markup import escape

        from ..fileio import os_error

        return _error(escape(str(os_error(e, "write" if e.errno in _WRITE_ERRNOS else "access"))))
    except Exception as e:  # an unexpected failure: still one line unless --debug
        if debug:
            raise
        from rich.markup import escape

        return _error(escape(f"{type(e).__name__}: {e}".splitlines()[0][:300]) +
                      " (this looks like a bug; run again with --debug for the traceback)")


def run() -> None:
    code = main()
    # The work is done (or cleanly abandoned): a signal arriving during interpreter shutdown must not
    # turn the result into a KeyboardInterrupt death.
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if code == 130:
        # An interrupt that a C extension reported itself (torch's exporter does) makes CPython end the
        # process by SIGINT whatever the exit code; the cleanup is done, so leave with 130 as promised.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
