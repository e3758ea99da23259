"""Cache of the emulated Raspberry Pi lane: qemu-aarch64, an arm64 Debian Bookworm root, aarch64 site-packages.

Every cache entry is built in a temporary directory beside it, stamped (``.stamp``, JSON) and renamed into
place, so an interrupted setup leaves no half-made entry; a stamped entry is reused as it is. Only the
standard library is used here (plus apt-get, dpkg-deb and debootstrap, run as programs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from edgemnv2.errors import EdgeError

MIRROR = os.environ.get("EDGEMNV2_PI_EMU_MIRROR", "http://deb.debian.org/debian")
# qemu-user 7.2 (Bookworm) crashes inside LiteRT 2.x (docs/pi.md); trixie's static qemu-aarch64 (10.0) does not.
QEMU_SUITE = "trixie"
QEMU_MIN_MAJOR = 8
ROOT_SUITE = "bookworm"  # Raspberry Pi OS Bookworm's base: Debian 12, Python 3.11, glibc 2.36
ROOT_PACKAGES = "python3,python3-venv,python3-pip,libgl1,libglib2.0-0"
PY_VERSION = "3.11"
# Bookworm's glibc is 2.36: every manylinux tag up to it (pip wants them listed one by one).
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{m}_aarch64" for m in range(17, 37)]
TEST_EXTRAS = ["pytest>=8", "jsonschema>=4"]  # the device-side tests run inside the emulated Python
NETWORK_ERRORS = re.compile(r"Could not resolve|Temporary failure|Failed to fetch|Connection (refused|timed out|"
                            r"reset)|Max retries exceeded|NewConnectionError|Network is unreachable|"
                            r"ReadTimeoutError|Unable to connect|Couldn't download|Failed getting release|^Err:",
                            re.IGNORECASE | re.MULTILINE)


class RegistryUnreachable(EdgeError):
    """A package registry (Debian's apt mirror or PyPI) could not be reached: not a defect of the lane."""


@dataclass(frozen=True)
class Runtime:
    """One Pi runtime stack: its name in the lane, the module the runner imports and what pip installs."""

    name: str
    module: str
    extra: str  # extra of the project's wheel ("" = none)
    pins: Sequence[str]


RUNTIMES: Dict[str, Runtime] = {
    "litert": Runtime("litert", "ai_edge_litert", "pi", ()),
    # tflite-runtime's last release; its cp311 aarch64 wheel needs numpy < 2, so an OpenCV built against 1.x.
    "tflite214": Runtime("tflite214", "tflite_runtime", "",
                         ("tflite-runtime==2.14.0", "numpy<2", "opencv-python-headless<4.11")),
}


def run(cmd: Sequence[str], what: str, timeout: float = 900, env: Optional[dict] = None,
        cwd: Optional[Path] = None) -> str:
    """Run a setup command; a failure becomes one line (RegistryUnreachable when it smells of the network)."""
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise RegistryUnreachable(f"{what} took longer than {timeout:.0f} s",
                                  "the registry may be slow or unreachable; run again later") from e
    except FileNotFoundError as e:
        raise EdgeError(f"{what}: {cmd[0]} is not installed", "install it (Debian: apt-get install it)") from e
    if p.returncode != 0:
        out = (p.stderr + p.stdout).strip()
        last = next((ln for ln in reversed(out.splitlines()) if ln.strip()), "no output")
        if NETWORK_ERRORS.search(out):
            raise RegistryUnreachable(f"{what} failed: {last.strip()[:200]}",
                                      "check the network or the mirror (EDGEMNV2_PI_EMU_MIRROR); run again later")
        raise EdgeError(f"{what} failed (exit {p.returncode}): {last.strip()[:300]}", "rerun with the log above")
    return p.stdout + p.stderr


def _stale_tmp(cache: Path) -> None:
    """Remove temporary entries left by setups that were killed (their process no longer exists)."""
    for d in cache.glob(".tmp-*"):
        pid = d.name.rsplit("-", 2)[-2] if d.name.count("-") >= 3 else ""
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


def ensure_entry(cache: Path, name: str, build: Callable[[Path], dict], log: Callable[[str], None]) -> Path:
    """``cache/name``, built by ``build(tmpdir) -> stamp dict`` unless a stamped entry already exists."""
    final = cache / name
    if (final / ".stamp").is_file():
        return final
    if final.exists():
        raise EdgeError(f"{final} exists but is not a complete pi-emu cache entry (no .stamp)",
                        "remove it, or point EDGEMNV2_PI_EMU_CACHE elsewhere")
    cache.mkdir(parents=True, exist_ok=True)
    _stale_tmp(cache)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{os.getpid()}-", dir=cache))
    try:
        log(f"setting up {name} (cached in {cache})")
        stamp = build(tmp)
        (tmp / ".stamp").write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide a cache made by root from the users it is shared with
        try:
            tmp.rename(final)
        except OSError:
            if not (final / ".stamp").is_file():  # not a concurrent run finishing first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def apt_download(suite: str, packages: List[str], dest: Path) -> List[Path]:
    """Download ``packages`` (.deb, no dependencies) of Debian ``suite`` with a private apt state (no install)."""
    state = dest / "apt"
    for d in ("lists/partial", "cache/archives/partial", "etc"):
        (state / d).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    (state / "etc" / "sources.list").write_text(f"deb {MIRROR} {suite} main\n")
    opts = [f"-oDir::Etc::SourceList={state}/etc/sources.list", "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={state}/lists", f"-oDir::Cache={state}/cache",
            f"-oDir::State::status={state}/status", "-oAPT::Get::List-Cleanup=0", "-oAcquire::Retries=3",
            "-oAcquire::http::Timeout=60", "-oDebug::NoLocking=1"]
    if os.geteuid() == 0:
        opts.append("-oAPT::Sandbox::User=root")
    what = f"apt-get update of Debian {suite} ({MIRROR})"
    out = run(["apt-get", *opts, "update"], what)
    if NETWORK_ERRORS.search(out):  # apt-get update can exit 0 when it fetched nothing
        first = next(ln for ln in out.splitlines() if NETWORK_ERRORS.search(ln))
        raise RegistryUnreachable(f"{what} failed: {first.strip()[:200]}",
                                  "check the network or the mirror (EDGEMNV2_PI_EMU_MIRROR); run again later")
    before = set(dest.glob("*.deb"))
    run(["apt-get", *opts, "download", *packages], f"apt-get download {' '.join(packages)} ({suite})", cwd=dest)
    return sorted(set(dest.glob("*.deb")) - before)


def build_qemu(tmp: Path) -> dict:
    """The static qemu-aarch64 from Debian trixie's qemu-user package, extracted (nothing installed)."""
    work = tmp / "download"
    work.mkdir()
    (deb,) = apt_download(QEMU_SUITE, ["qemu-user"], work)
    run(["dpkg-deb", "-x", deb, work / "x"], f"extracting {deb.name}")
    shutil.copy2(work / "x" / "usr" / "bin" / "qemu-aarch64", tmp / "qemu-aarch64")
    shutil.rmtree(work)
    version = qemu_version(tmp / "qemu-aarch64")
    if int(version.split(".")[0]) < QEMU_MIN_MAJOR:
        raise EdgeError(f"qemu-aarch64 {version} from {QEMU_SUITE} is older than {QEMU_MIN_MAJOR}",
                        "LiteRT crashes on qemu 7.2; set a newer suite in scripts/pi_emu_setup.py")
    return {"qemu": version, "package": deb.name, "mirror": MIRROR}


def qemu_version(qemu: Path) -> str:
    m = re.search(r"version (\d+\.\d+[.\d]*)", run([qemu, "--version"], "qemu-aarch64 --version"))
    return m.group(1) if m else "0"


def _debootstrap(tmp: Path) -> Tuple[List[str], dict]:
    """debootstrap and its environment: the host's, else Debian's package downloaded and extracted into ``tmp``."""
    if shutil.which("debootstrap"):
        return ["debootstrap"], dict(os.environ)
    (deb,) = apt_download(ROOT_SUITE, ["debootstrap"], tmp)
    run(["dpkg-deb", "-x", deb, tmp / "ds"], f"extracting {deb.name}")
    env = dict(os.environ, DEBOOTSTRAP_DIR=str(tmp / "ds" / "usr" / "share" / "debootstrap"))
    return [str(tmp / "ds" / "usr" / "sbin" / "debootstrap")], env


def build_rootfs(tmp: Path) -> dict:
    """arm64 Bookworm minbase + Python: debootstrap --foreign downloads, dpkg-deb -x unpacks every package.

    The second stage (maintainer scripts) would need binfmt_misc; running Python needs only the files.
    """
    if os.geteuid() != 0:
        raise EdgeError("making the arm64 root needs root (debootstrap refuses to run otherwise)",
                        "run once as root (CI does), or set EDGEMNV2_PI_EMU_CACHE to a cache made by root")
    tools = tmp / "tools"
    tools.mkdir()
    cmd, env = _debootstrap(tools)
    root = tmp / "root"
    run([*cmd, "--foreign", "--arch=arm64", "--variant=minbase", f"--include={ROOT_PACKAGES}", ROOT_SUITE, root,
         MIRROR], f"debootstrap --foreign arm64 {ROOT_SUITE} ({MIRROR})", timeout=1800, env=env)
    debs = sorted((root / "var" / "cache" / "apt" / "archives").glob("*.deb"))
    for deb in debs:
        run(["dpkg-deb", "-x", deb, root], f"extracting {deb.name}")
        deb.unlink()
    shutil.rmtree(tools)
    names = sorted(d.name.split("_")[0] + "=" + d.name.split("_")[1] for d in debs)
    return {"suite": ROOT_SUITE, "arch": "arm64", "mirror": MIRROR, "packages": names}


def wheel_requirements(wheel: Path) -> List[str]:
    """The ``Requires-Dist`` lines of a wheel (they key the site-packages cache)."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    return sorted(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Requires-Dist:"))


def pip_target(python: str, target: Path, reqs: Sequence[str], no_deps: bool = False) -> None:
    """``pip install --target`` of aarch64 CPython 3.11 wheels (binary only) for Bookworm's glibc."""
    plats = [a for p in PLATFORMS for a in ("--platform", p)]
    cmd = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(target),
           "--only-binary=:all:", "--python-version", PY_VERSION, "--implementation", "cp", *plats,
           *(["--no-deps"] if no_deps else []), *reqs]
    run(cmd, f"pip install --target {target.name} ({' '.join(reqs)})")


def site_key(runtime: Runtime, wheel: Path) -> str:
    blob = json.dumps([runtime.extra, list(runtime.pins), TEST_EXTRAS, PLATFORMS, wheel_requirements(wheel)])
    return f"site-{runtime.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def site_builder(runtime: Runtime, wheel: Path, python: str) -> Callable[[Path], dict]:
    """Builds the third-party aarch64 site-packages of ``runtime`` (the project itself is added per run)."""

    def build(tmp: Path) -> dict:
        spec = f"{wheel}[{runtime.extra}]" if runtime.extra else str(wheel)
        pip_target(python, tmp, [spec, *runtime.pins, *TEST_EXTRAS])
        for d in list(tmp.glob("edgemnv2*")) + [tmp / "bin"]:
            shutil.rmtree(d, ignore_errors=True)
        dists = sorted(d.name[: -len(".dist-info")] for d in tmp.glob("*.dist-info"))
        return {"runtime": runtime.name, "requirements": [spec.replace(str(wheel), "edgemnv2"), *runtime.pins],
                "dists": dists}

    return build


def project_wheel(python: str, repo: Path, out: Path) -> Path:
    """The project's wheel, built from this checkout (what a user would pip install)."""
    run([python, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps", "-w", str(out),
         str(repo)], "building the edgemnv2 wheel")
    (wheel,) = out.glob("edgemnv2-*.whl")
    return wheel


def write_python_wrapper(path: Path, qemu: Path, root: Path, sites: Sequence[Path]) -> Path:
    """A host script that starts the emulated Python 3.11 and that Python sees as ``sys.executable``.

    Without binfmt_misc the host kernel cannot exec an aarch64 binary; ``-0 $0`` makes the wrapper the
    interpreter's argv[0], so ``subprocess.run([sys.executable, ...])`` inside emulation goes back through
    qemu (the device tests and the CLI start subprocesses that way).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pythonpath = ":".join(str(s) for s in sites)
    path.write_text("#!/bin/sh\n"
                    f"export QEMU_LD_PREFIX='{root}' PYTHONPATH='{pythonpath}' PYTHONNOUSERSITE=1\n"
                    f"exec '{qemu}' -0 \"$0\" '{root}/usr/bin/python{PY_VERSION}' \"$@\"\n")
    path.chmod(0o755)
    return path
