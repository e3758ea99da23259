"""Small facts about this machine and this moment, shared by bundles, reports and doctor.

``now_iso`` (UTC timestamp), ``read_sys_file`` (a /proc, /sys or /etc file, or None) and
``library_versions`` (installed distribution versions). Standard library only; device side.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from typing import Dict, Optional

from . import __version__

__all__ = ["now_iso", "read_sys_file", "library_versions"]


def now_iso() -> str:
    """The current UTC time to the second, ISO 8601 (``2026-11-30T02:24:23+00:00``)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def read_sys_file(path: str | os.PathLike) -> Optional[str]:
    """A small system file's text, stripped of NULs, newlines and spaces at the ends; None if unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None


def library_versions(*names: str) -> Dict[str, str]:
    """edgemnv2's and Python's versions plus those of the named distributions that are installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"edgemnv2": __version__, "python": platform.python_version()}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            pass
    return out
