"""Atomic file and directory writes, hashing: nothing half-written on failure or Ctrl-C."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from .errors import EdgeError

__all__ = ["atomic_write_bytes", "atomic_write_text", "staged_dir", "sha256_file", "sha256_bytes",
           "ensure_writable_dir"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def ensure_writable_dir(path: Path, what: str = "output directory") -> Path:
    """Make sure the directory ``path`` exists (creating parents) and can be written; EdgeError if not."""
    path = Path(path) if str(path) else Path(".")
    if path.exists() and not path.is_dir():
        raise EdgeError(f"{what} {path} exists and is not a directory", "choose another path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeError(f"cannot create {what} {path}: {e.strerror or e}", "choose a writable path") from None
    if not os.access(path, os.W_OK):
        raise EdgeError(f"{what} {path} is not writable", "choose a writable path or fix its permissions")
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), "output directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``final``; on success it replaces ``final`` atomically.

    On any exception (Ctrl-C included) the temporary directory is removed and ``final`` is left as
    it was, so a failed build never leaves a half-written bundle.
    """
    final = Path(final)
    ensure_writable_dir(final.parent if str(final.parent) else Path("."), "output directory")
    if final.exists() and not final.is_dir():
        raise EdgeError(f"output path {final} exists and is not a directory", "choose another --out")
    if final.exists() and not overwrite:
        raise EdgeError(f"output directory {final} already exists", "remove it or pass --overwrite")
    # The name is chosen before the directory exists, so an interrupt at any moment after mkdir is
    # cleaned up below (mkdtemp's path would only be known once it returned).
    tmp: Optional[Path] = final.parent / f".{final.name}.{secrets.token_hex(6)}.partial"
    old: Optional[Path] = None
    try:
        tmp.mkdir()
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists():
            if final.exists():  # the new bundle is in place: only the previous one's removal was cut short
                shutil.rmtree(old, ignore_errors=True)
            else:  # interrupted between the two renames: put the previous bundle back
                os.replace(old, final)
        raise
