"""NVIDIA Jetson telemetry: ``tegrastats`` lines, ``nvpmodel -q``, ``jetson_clocks --show``, jtop.

Parsers are pure functions over text so they are tested on recorded real output
(tests/data/telemetry/). Formats covered:

* JetPack 4 (L4T 32): ``RAM 534/3964MB (lfb 98x4MB) SWAP 5/1982MB (cached 1MB) IRAM 0/252kB(lfb 252kB)
  CPU [16%@204,...] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 ... CPU@36.5C ... POM_5V_IN 1022/1022`` - rails in mW
  without a unit (``POM_5V_*`` on Nano, ``VDD_*`` or bare ``GPU``/``SOC``/``SYS5V`` on TX2/Xavier).
* JetPack 5 (L4T 35) and 6 (L4T 36): rails with units ``VDD_IN 5299mW/5299mW``, lower-case sensors
  (``tj@48.8C``), an optional leading date, ``GR3D_FREQ 0%@[305,305]`` or a bare ``GR3D_FREQ 0%``, engines
  shown as ``NVENC off``.

Sensors reading ``-256C`` are switched off and are left out rather than reported as a temperature.
Device side: standard library only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["parse_tegrastats", "board_power_mw", "parse_nvpmodel", "parse_jetson_clocks", "tegrastats_format",
           "run_text", "jtop_snapshot", "INPUT_RAILS"]

_DATE = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB(?: \(lfb (\d+)x(\d+)([kM])B\))?")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB(?: \(cached (\d+)MB\))?")
_IRAM = re.compile(r"\bIRAM (\d+)/(\d+)kB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_CPU_CORE = re.compile(r"^(\d+)%(?:@(\d+))?$")
_EMC = re.compile(r"\bEMC_FREQ (\d+)%(?:@(\d+))?")
_GR3D = re.compile(r"\b(GR3D2?)_FREQ (\d+)%(?:@\[?([\d,]+)\]?)?")
_TEMP = re.compile(r"(?<![\w%])([A-Za-z][\w]*)@(-?\d+(?:\.\d+)?)C\b")
# A rail: NAME cur[mW]/avg[mW], not followed by a unit such as MB or kB (which would be RAM/SWAP/IRAM).
_RAIL = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*) (\d+)(mW)?/(\d+)(mW)?(?=\s|$)")
_ENGINE = re.compile(r"\b(NVENC|NVDEC|NVJPG1?|VIC(?:_FREQ)?|OFA|NVDLA\d|PVA\d_FREQ|APE|MSENC|NVENC1|NVDEC1)\s+"
                     r"(off|\d+%?(?:@\d+)?)\b")
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}

# Board input rails, best first: total power going into the module or carrier board.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN")
_OFF_SENSOR = -256.0


def parse_tegrastats(line: str) -> Dict[str, Any]:
    """One ``tegrastats`` output line -> dict (only the fields present in the line).

    Keys: ``time`` (the leading date, JetPack 5+), ``ram_used_mb``, ``ram_total_mb``, ``swap_used_mb``,
    ``swap_total_mb``, ``swap_cached_mb``, ``iram_used_kb``, ``cpu`` (list of ``{"load": %, "mhz": f}``
    or ``None`` for an offline core), ``cpu_load_mean``, ``emc_load``, ``emc_mhz``, ``gpu_load``, ``gpu_mhz``
    (list for GPCs), ``gpu2_load``, ``temps_c`` ({sensor: C}), ``rails_mw`` ({rail: current mW}),
    ``rails_avg_mw``, ``engines`` ({name: "off" | value}), ``rail_units`` ("mW" | "none").
    """
    out: Dict[str, Any] = {}
    m = _DATE.match(line)
    if m:
        out["time"] = m.group(1)
    m = _RAM.search(line)
    if m:
        out["ram_used_mb"], out["ram_total_mb"] = int(m.group(1)), int(m.group(2))
    m = _SWAP.search(line)
    if m:
        out["swap_used_mb"], out["swap_total_mb"] = int(m.group(1)), int(m.group(2))
        if m.group(3) is not None:
            out["swap_cached_mb"] = int(m.group(3))
    m = _IRAM.search(line)
    if m:
        out["iram_used_kb"], out["iram_total_kb"] = int(m.group(1)), int(m.group(2))
    m = _CPU.search(line)
    if m:
        cores: List[Optional[Dict[str, Optional[float]]]] = []
        for tok in (t.strip() for t in m.group(1).split(",")):
            cm = _CPU_CORE.match(tok)
            if cm:
                cores.append({"load": float(cm.group(1)), "mhz": float(cm.group(2)) if cm.group(2) else None})
            else:  # "off" (core offline by the power mode)
                cores.append(None)
        out["cpu"] = cores
        online = [c["load"] for c in cores if c is not None and c["load"] is not None]
        if online:
            out["cpu_load_mean"] = sum(online) / len(online)
    m = _EMC.search(line)
    if m:
        out["emc_load"] = float(m.group(1))
        if m.group(2):
            out["emc_mhz"] = float(m.group(2))
    for m in _GR3D.finditer(line):
        key = "gpu" if m.group(1) == "GR3D" else "gpu2"
        out[f"{key}_load"] = float(m.group(2))
        if m.group(3):
            mhz = [float(v) for v in m.group(3).split(",") if v]
            out[f"{key}_mhz"] = mhz[0] if len(mhz) == 1 else mhz
    temps: Dict[str, float] = {}
    for m in _TEMP.finditer(line):
        value = float(m.group(2))
        if value <= _OFF_SENSOR:
            continue  # sensor switched off
        temps[m.group(1)] = value
    if temps:
        out["temps_c"] = temps
    rails: Dict[str, float] = {}
    avg: Dict[str, float] = {}
    units = None
    for m in _RAIL.finditer(line):
        name = m.group(1)
        if name in _NOT_RAILS:
            continue
        rails[name] = float(m.group(2))
        avg[name] = float(m.group(4))
        units = "mW" if m.group(3) else (units or "none")
    if rails:
        out["rails_mw"] = rails
        out["rails_avg_mw"] = avg
        out["rail_units"] = units
    engines = {m.group(1): m.group(2) for m in _ENGINE.finditer(line)}
    if engines:
        out["engines"] = engines
    return out


def tegrastats_format(parsed: Dict[str, Any]) -> str:
    """Which generation a parsed line looks like: rails with ``mW`` units appeared in JetPack 5."""
    if parsed.get("rail_units") == "mW":
        return "JetPack 5/6 (L4T 35/36)"
    if "rails_mw" in parsed:
        return "JetPack 4 (L4T 32)"
    return "unknown"


def board_power_mw(rails: Dict[str, float]) -> Tuple[Optional[float], Optional[str]]:
    """Total power and where it comes from: the board input rail, else the sum of the listed rails.

    AGX Orin has no ``VDD_IN`` in tegrastats; its rails are summed (the same as jtop's total) and the
    source says so, because the sum is not the board's input power.
    """
    for name in INPUT_RAILS:
        if name in rails:
            return rails[name], name
    if rails:
        return float(sum(rails.values())), "sum(" + "+".join(sorted(rails)) + ")"
    return None, None


def parse_nvpmodel(text: str) -> Dict[str, Any]:
    """``nvpmodel -q`` -> ``{"mode": "MAXN", "id": 0}`` (id when printed on the next line)."""
    out: Dict[str, Any] = {}
    m = re.search(r"(?:NV Power Mode|NVPOWERMODE)\s*:\s*(\S+)", text)
    if m:
        out["mode"] = m.group(1)
    m = re.search(r"^\s*(\d+)\s*$", text, re.MULTILINE)
    if m:
        out["id"] = int(m.group(1))
    return out


def parse_jetson_clocks(text: str) -> Dict[str, Any]:
    """``jetson_clocks --show`` -> SoC, online CPUs, per-CPU governor/min/max/current kHz, GPU and EMC Hz.

    ``locked`` is True when every listed CPU and the GPU run with min == max (what ``jetson_clocks``
    sets), False when any of them scales, None when nothing could be read.
    """
    out: Dict[str, Any] = {}
    m = re.search(r"SOC family:(\S+)\s+Machine:(.+)", text)
    if m:
        out["soc"], out["machine"] = m.group(1), m.group(2).strip()
    m = re.search(r"Online CPUs: (\S+)", text)
    if m:
        out["online_cpus"] = m.group(1)
    cpus = {}
    for m in re.finditer(r"^(cpu\d+): (.*)$", text, re.MULTILINE):
        fields = dict(re.findall(r"(\w+)=(\S+)", m.group(2)))
        cpus[m.group(1)] = {
            "governor": fields.get("Governor") or fields.get("Gonvernor"),
            "min_khz": _int(fields.get("MinFreq")), "max_khz": _int(fields.get("MaxFreq")),
            "cur_khz": _int(fields.get("CurrentFreq")), "online": fields.get("Online", "1") == "1",
        }
    if cpus:
        out["cpus"] = cpus
    for unit in ("GPU", "EMC"):
        m = re.search(rf"^{unit} MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)", text, re.MULTILINE)
        if m:
            out[unit.lower()] = {"min_hz": int(m.group(1)), "max_hz": int(m.group(2)), "cur_hz": int(m.group(3))}
    m = re.search(r"NV Power Mode: (\S+)", text)
    if m:
        out["nvpmodel"] = m.group(1)
    checks = [c["min_khz"] == c["max_khz"] for c in cpus.values() if c["online"] and c["min_khz"] is not None]
    if "gpu" in out:
        checks.append(out["gpu"]["min_hz"] == out["gpu"]["max_hz"])
    out["locked"] = all(checks) if checks else None
    return out


def _int(v: Optional[str]) -> Optional[int]:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def run_text(cmd: List[str], timeout: float = 5.0) -> Tuple[Optional[str], Optional[str]]:
    """Run a command; return (stdout, None) or (None, why it could not be read)."""
    if shutil.which(cmd[0]) is None:
        return None, f"{cmd[0]} not found"
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"{' '.join(cmd)} failed: {e}"
    if p.returncode != 0:
        why = (p.stderr or p.stdout).strip().splitlines()
        return None, f"{' '.join(cmd)} exited {p.returncode}" + (f": {why[0][:160]}" if why else "")
    return p.stdout, None


def jtop_snapshot() -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """One ``jtop`` stats read (jetson-stats) when it is installed and its service runs."""
    try:
        from jtop import jtop  # type: ignore[import-not-found]
    except ImportError:
        return None, "jtop (jetson-stats) not installed"
    try:
        with jtop() as j:
            if not j.ok():
                return None, "jtop service did not answer"
            stats = {str(k): (v if isinstance(v, (int, float, str)) or v is None else str(v))
                     for k, v in dict(j.stats).items()}
            return stats, None
    except Exception as e:  # jtop raises its own JtopException when the service is down
        return None, f"jtop failed: {type(e).__name__}: {str(e)[:120]}"
