"""Atomic file and directory writes, hashing: nothing half-written on failure or Ctrl-C."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Iterator, Mapping, Optional

from .errors import EdgeError

__all__ = ["atomic_write_bytes", "atomic_write_text", "staged_dir", "sha256_file", "sha256_bytes",
           "ensure_writable_dir", "OutputKind", "check_output_dir", "is_ours", "BUNDLE_MANIFEST", "BUNDLE_KIND",
           "DATASET_MARKER", "DATASET_KIND", "os_error", "default_mode", "write_failure"]

BUNDLE_MANIFEST = "manifest.json"
BUNDLE_KIND = "edgemnv2-bundle"
DATASET_MARKER = "dataset.json"
DATASET_KIND = "edgemnv2-dataset"
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")
STALE_DEAD_S = 300.0  # a staging directory whose process is gone, untouched this long, is stale
STALE_ANY_S = 24 * 3600.0  # any staging directory untouched this long is stale (pid reused, other host)


class OutputKind(str, Enum):
    """What a replaced output directory must already be: ``staged_dir`` replaces only its own kind."""

    bundle = "bundle"
    dataset = "dataset"


def os_error(e: OSError, what: str, path: str | os.PathLike | None = None) -> EdgeError:
    """An OSError as one line that names the path (disk full says which file system filled up)."""
    where = path if path is not None else e.filename
    reason = e.strerror or str(e)
    hint = ("free some space on that file system (or raise the file-size limit) or write elsewhere"
            if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else "check the path and its permissions")
    return EdgeError(f"cannot {what} {where}: {reason}" if where else f"cannot {what}: {reason}", hint)


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


def write_failure(e: BaseException, what: str, out_dir: str | os.PathLike) -> EdgeError:
    """A write that failed, or whose file read back truncated (a full disk, a file-size limit), as one line
    naming where it wrote (temporary files and the output directory) and their free space."""
    places = []
    for label, d in (("temporary files", Path(tempfile.gettempdir())), ("output", Path(out_dir))):
        with contextlib.suppress(OSError):
            places.append(f"{label} in {d}: {shutil.disk_usage(d).free / 1e6:.0f} MB free")
    reason = (e.strerror if isinstance(e, OSError) and e.strerror else
              f"the file read back is truncated ({type(e).__name__})")
    return EdgeError(f"cannot write {what}: {reason} ({'; '.join(places)})",
                     "free some space (TMPDIR chooses where temporary files go) or write elsewhere")


def default_mode() -> int:
    """The mode a plainly created file gets (0644 under the usual umask); mkstemp's 0600 is not it."""
    return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), "output directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise os_error(e, "write", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):  # disk full, file too large: say which file
            raise os_error(e, "write", path) from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def is_ours(path: str | os.PathLike, kind: OutputKind) -> bool:
    """True if ``path`` is a directory we wrote: a bundle (our manifest) or a dataset (our marker file)."""
    path = Path(path)
    if kind is OutputKind.bundle:
        m = _read_json(path / BUNDLE_MANIFEST)
        return isinstance(m, dict) and m.get("kind") == BUNDLE_KIND
    m = _read_json(path / DATASET_MARKER)
    # datasets written before the marker had its "kind" carry the generator's name
    return isinstance(m, dict) and (m.get("kind") == DATASET_KIND or m.get("generator") == "edgemnv2.data.synthetic")


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output_dir(out: str | os.PathLike, kind: OutputKind = OutputKind.bundle,
                     inputs: Optional[Mapping[str, Optional[str | os.PathLike]]] = None, flag: str = "--out") -> Path:
    """Refuse an output directory we may not replace; returns ``out``.

    Allowed: a new path, an empty directory, or a directory of ``kind`` that we wrote. Never the
    current directory (or one holding it), a system directory, or a path equal to or holding one of
    ``inputs`` ({"--calib": path, ...}).
    """
    out = Path(out)
    full = out.resolve()
    if _within(Path.cwd().resolve(), full):
        what = "is the current directory" if full == Path.cwd().resolve() else "holds the current directory"
        raise EdgeError(f"{flag} {out} {what}; refusing to replace it",
                        f"pass a new directory, e.g. {flag} out/{kind.value}")
    for system in _SYSTEM_DIRS:
        if _within(full, Path(system)):
            raise EdgeError(f"{flag} {out} is under {system}, a system directory", "write to a normal directory")
    for name, given in (inputs or {}).items():
        if given is None:
            continue
        src = Path(given).resolve()
        if _within(src, full):
            what = "is" if src == full else "holds"
            raise EdgeError(f"{flag} {out} {what} the {name} input {given}; the build would delete what it reads",
                            f"choose another {flag}")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise EdgeError(f"output path {out} exists and is not a directory", f"choose another {flag}")
        _check_replaceable(out, kind, flag)
    return out


def _check_replaceable(out: Path, kind: OutputKind, flag: str) -> None:
    try:
        entries = sum(1 for _ in out.iterdir())
    except OSError as e:
        raise os_error(e, "read output directory", out) from None
    if entries and not is_ours(out, kind):
        noun = "an edgemnv2 bundle" if kind is OutputKind.bundle else "an edgemnv2 dataset"
        raise EdgeError(f"{flag} {out} exists and is not {noun} ({entries} entries); refusing to replace it",
                        f"choose a new or empty directory, or remove {out} yourself")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def clean_stale_siblings(final: Path, now: Optional[float] = None) -> None:
    """Remove the staging leftovers of a run that was killed (SIGKILL, power cut) before it could clean up.

    Only siblings named like ours (``.NAME.PID-HEX.partial``, ``.NAME.old-PID``, and the older
    ``.NAME.HEX.partial``) whose process is gone and which were untouched for ``STALE_DEAD_S`` (or
    any, untouched for ``STALE_ANY_S``). A previous bundle parked as ``.old-PID`` is put back if
    ``final`` is missing (the run died between its two renames).
    """
    now = time.time() if now is None else now
    name = re.escape(final.name)
    pattern = re.compile(rf"^\.{name}\.(?:(?:(?P<pid>\d+)-)?[0-9a-f]{{12}}\.partial|old-(?P<oldpid>\d+))$")
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return
    for p in siblings:
        m = pattern.match(p.name)
        if m is None or p.is_symlink() or not p.is_dir():
            continue
        pid = m.group("pid") or m.group("oldpid")
        try:
            age = now - p.stat().st_mtime
        except OSError:
            continue
        if not (age > STALE_ANY_S or (age > STALE_DEAD_S and pid is not None and not _pid_alive(int(pid)))):
            continue
        if m.group("oldpid") and not final.exists():
            with contextlib.suppress(OSError):  # never delete the only copy of a previous bundle
                os.replace(p, final)
            continue
        shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, kind: OutputKind = OutputKind.bundle, overwrite: bool = True,
               flag: str = "--out") -> Iterator[Path]:
    """Yield a temporary directory beside ``final``; on success it replaces ``final`` atomically.

    ``final`` is replaced only if it is empty or a ``kind`` we wrote (``check_output_dir``), and
    never with ``overwrite=False``. On any
    exception (Ctrl-C included) the temporary directory is removed and ``final`` is left as it was,
    so a failed build never leaves a half-written bundle. Leftovers of killed runs are cleaned first.
    """
    final = Path(final)
    ensure_writable_dir(final.parent if str(final.parent) else Path("."), "output directory")
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise EdgeError(f"output directory {final} already exists", "remove it or choose another path")
    check_output_dir(final, kind, flag=flag)
    clean_stale_siblings(final)
    # The name is chosen before the directory exists, so an interrupt at any moment after mkdir is
    # cleaned up below (mkdtemp's path would only be known once it returned).
    tmp: Optional[Path] = final.parent / f".{final.name}.{os.getpid()}-{secrets.token_hex(6)}.partial"
    old: Optional[Path] = None
    try:
        tmp.mkdir()
        yield tmp
        if final.exists():
            if not overwrite:
                raise EdgeError(f"output directory {final} appeared while writing it", "choose another path")
            check_output_dir(final, kind, flag=flag)  # still ours: nothing was put there while we worked
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
