"""The emulated Raspberry Pi lane: the device side on aarch64 Debian Bookworm / Python 3.11 under qemu-user.

    python scripts/pi_emulated.py            # full lane: both runtimes, every task and precision
    python scripts/pi_emulated.py --smoke    # CI: a few minutes
    python scripts/pi_emulated.py --runtime litert

Run it with the host environment (``.venv``: builds bundles, runs the x86 side). It sets up (once, cached
in ``$EDGEMNV2_PI_EMU_CACHE``, default ``~/.cache/edgemnv2/pi-emu``) qemu-aarch64, an arm64 Bookworm root
and aarch64 site-packages for each Pi runtime, installs this checkout's wheel, then runs the CLI
(``predict``, ``camera``, ``bench``, ``doctor``) and the ``device``-marked tests inside emulation and
compares results with the same bundles run on x86. Prints a summary table; exit 0 only if every check
passed, 1 if one failed, 2 if the lane could not be set up, 75 if a package registry was unreachable
(docs/pi.md, "Emulated aarch64 lane").
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pi_emu_checks as checks
import pi_emu_setup as setup

from edgemnv2.errors import EdgeError

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("EDGEMNV2_PI_EMU_CACHE", Path.home() / ".cache" / "edgemnv2" / "pi-emu"))
EXIT_FAILED, EXIT_SETUP, EXIT_TEMPFAIL = 1, 2, 75


@dataclass
class Env:
    """What the checks run with: both interpreters per runtime and the work directory."""

    work: Path
    smoke: bool
    emu: Dict[str, Path] = field(default_factory=dict)  # runtime -> wrapper of the emulated Python
    x86: Dict[str, str] = field(default_factory=dict)  # runtime -> host Python with that runtime
    versions: Dict[str, str] = field(default_factory=dict)


def log(msg: str) -> None:
    print(f"• {msg}", flush=True)


def x86_python(rt: setup.Runtime) -> str:
    """The host interpreter that runs ``rt`` on x86: this one for LiteRT, .venv-tflite214 for tflite-runtime."""
    if rt.name == "litert":
        return sys.executable
    py = REPO / ".venv-tflite214" / "bin" / "python"
    if not py.exists():
        setup.run(["bash", str(REPO / "scripts" / "setup_tflite214.sh")], "scripts/setup_tflite214.sh")
    return str(py)


def prepare(args: argparse.Namespace, work: Path) -> Env:
    """Cache entries (made once) + this checkout's wheel + one emulated interpreter per runtime."""
    env = Env(work=work, smoke=args.smoke)
    cache = Path(args.cache)
    wheel = setup.project_wheel(sys.executable, REPO, work / "wheel")
    qemu = setup.ensure_entry(cache, "qemu-" + setup.QEMU_SUITE, setup.build_qemu, log) / "qemu-aarch64"
    root = setup.ensure_entry(cache, f"rootfs-{setup.ROOT_SUITE}-arm64", setup.build_rootfs, log) / "root"
    project = work / "site-edgemnv2"
    setup.pip_target(sys.executable, project, [str(wheel)], no_deps=True)
    env.versions["qemu"] = setup.qemu_version(qemu)
    for name in args.runtime:
        rt = setup.RUNTIMES[name]
        site = setup.ensure_entry(cache, setup.site_key(rt, wheel), setup.site_builder(rt, wheel, sys.executable), log)
        env.emu[name] = setup.write_python_wrapper(work / "bin" / f"python-{name}", qemu, root, [project, site])
        env.x86[name] = x86_python(rt)
    return env


@dataclass
class Row:
    runtime: str
    check: str
    status: str
    detail: str
    seconds: float


def run_checks(env: Env, plan: Sequence[Tuple[str, str, Callable[[], str]]]) -> List[Row]:
    """Run each (runtime, name, check); a check returns its detail or raises CheckFailed / CheckSkipped."""
    rows = []
    for runtime, name, fn in plan:
        t0 = time.monotonic()
        try:
            status, detail = "PASS", fn()
        except checks.CheckSkipped as e:
            status, detail = "SKIP", str(e)
        except (checks.CheckFailed, EdgeError, subprocess.TimeoutExpired, OSError, ValueError) as e:
            status, detail = "FAIL", str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
        rows.append(Row(runtime, name, status, detail, time.monotonic() - t0))
        print(f"  {status:4} {runtime:9} {name:28} {detail}", flush=True)
    return rows


def print_table(rows: List[Row], env: Env) -> None:
    print("\nEmulated Raspberry Pi lane (aarch64, Debian Bookworm, Python 3.11, qemu-aarch64 "
          f"{env.versions.get('qemu', '?')})")
    head = f"{'runtime':10} {'check':28} {'result':6} {'s':>6}  detail"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r.runtime:10} {r.check:28} {r.status:6} {r.seconds:6.0f}  {r.detail}")
    counts = {s: sum(r.status == s for r in rows) for s in ("PASS", "FAIL", "SKIP")}
    print(f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="short lane for CI (one int8 bundle, Coral, no pytest)")
    p.add_argument("--runtime", action="append", choices=sorted(setup.RUNTIMES),
                   help="Pi runtime(s) to check (repeatable; default: all)")
    p.add_argument("--cache", default=str(CACHE), help="cache directory (env EDGEMNV2_PI_EMU_CACHE)")
    p.add_argument("--work", help="keep bundles and outputs in this new directory (default: a temporary one)")
    args = p.parse_args(argv)
    args.runtime = args.runtime or sorted(setup.RUNTIMES)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: running emulated children are killed, temporary directories removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if args.work and Path(args.work).exists():
        print(f"error: --work {args.work} exists (give a new directory)", file=sys.stderr)
        return EXIT_SETUP
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pi-emu-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.monotonic()
        try:
            env = prepare(args, work)
            log(f"emulated environment ready in {time.monotonic() - t0:.0f} s")
            plan = checks.plan(env, log)
            log(f"inputs and bundles ready in {time.monotonic() - t0:.0f} s")
        except setup.RegistryUnreachable as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_TEMPFAIL
        except EdgeError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_SETUP
        rows = run_checks(env, plan)
        print_table(rows, env)
        return EXIT_FAILED if any(r.status == "FAIL" for r in rows) else 0
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
