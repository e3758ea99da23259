"""Device telemetry sampled in a background thread while a benchmark runs.

Sources, each used only when it is present on the machine (a missing one is listed with the reason,
never filled with made-up values):

* any Linux: psutil (system and process CPU %, process RSS), ``/sys/class/thermal`` zones, cpufreq
  (``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq``, else psutil.cpu_freq);
* NVIDIA Jetson: a ``tegrastats --interval`` subprocess parsed line by line (GPU load, EMC, RAM,
  temperatures, power rails in mW), jtop when importable; ``nvpmodel -q`` and ``jetson_clocks --show``
  are captured with every run (:func:`device_state`);
* Raspberry Pi: ``vcgencmd measure_temp / measure_clock arm / get_throttled`` (bits decoded).

Energy per inference comes from the power samples (board input rail) integrated over the timed
window. Device side: standard library + psutil (optional).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from ..sysinfo import read_sys_file
from . import telemetry_jetson as tj
from . import telemetry_pi as tp

__all__ = ["TelemetrySampler", "device_state", "read_thermal_zones", "read_cpufreq_mhz", "energy_between",
           "summarize"]


def read_thermal_zones(root: str = "/") -> Dict[str, float]:
    """``{zone type: degrees C}`` from ``/sys/class/thermal/thermal_zone*/{type,temp}`` (milli-degrees).

    Duplicate types get their zone number appended; readings that fail or are below -100 C
    (disabled sensors report -256 C or less) are left out.
    """
    out: Dict[str, float] = {}
    base = os.path.join(root, "sys/class/thermal")
    for zone in sorted(glob.glob(os.path.join(base, "thermal_zone*")), key=_zone_number):
        raw = read_sys_file(os.path.join(zone, "temp"))
        if raw is None:
            continue
        try:
            value = int(raw) / 1000.0
        except ValueError:
            continue
        if value < -100:
            continue
        name = read_sys_file(os.path.join(zone, "type")) or os.path.basename(zone)
        if name in out:
            name = f"{name}.{_zone_number(zone)}"
        out[name] = value
    return out


def _zone_number(path: str) -> int:
    digits = "".join(ch for ch in os.path.basename(path) if ch.isdigit())
    return int(digits) if digits else 0


def read_cpufreq_mhz(root: str = "/") -> Tuple[Optional[List[float]], Optional[str]]:
    """Current frequency of each CPU in MHz and where it came from (sysfs cpufreq, else psutil)."""
    files = sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq")),
                   key=lambda p: _zone_number(os.path.dirname(os.path.dirname(p))))
    vals = []
    for f in files:
        raw = read_sys_file(f)
        if raw and raw.isdigit():
            vals.append(int(raw) / 1000.0)
    if vals:
        return vals, "sysfs cpufreq"
    if root != "/":
        return None, None
    try:
        import psutil

        freq = psutil.cpu_freq(percpu=True)
        if freq and any(f.current for f in freq):
            return [float(f.current) for f in freq], "psutil.cpu_freq"
    except Exception:  # psutil missing or no frequency interface on this kernel
        pass
    return None, None


def read_governor(root: str = "/") -> Optional[str]:
    return read_sys_file(os.path.join(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"))


def _vcgencmd(*args: str) -> Tuple[Optional[str], Optional[str]]:
    return tj.run_text(["vcgencmd", *args], timeout=3.0)


def device_state() -> Dict[str, Any]:
    """One-off readings recorded with every run: power mode, clocks, throttling, governor, board.

    Values that cannot be read are ``None`` with the reason under ``missing``.
    """
    state: Dict[str, Any] = {"board_model": tp.board_model(), "cpufreq_governor": read_governor(), "missing": {}}
    missing = state["missing"]
    if state["cpufreq_governor"] is None:
        missing["cpufreq_governor"] = "no /sys/devices/system/cpu/cpu0/cpufreq on this machine"
    text, why = tj.run_text(["nvpmodel", "-q"])
    state["nvpmodel"] = dict(tj.parse_nvpmodel(text), raw=text.strip()) if text else None
    if why:
        missing["nvpmodel"] = why
    text, why = tj.run_text(["jetson_clocks", "--show"])
    state["jetson_clocks"] = dict(tj.parse_jetson_clocks(text), raw=text.strip()) if text else None
    if why:
        missing["jetson_clocks"] = why + (" (needs root)" if shutil.which("jetson_clocks") else "")
    text, why = _vcgencmd("get_throttled")
    value = tp.parse_throttled(text) if text else None
    state["throttled"] = tp.decode_throttled(value) if value is not None else None
    if why:
        missing["throttled"] = why
    return state


class _Tegrastats:
    """A ``tegrastats --interval MS`` child whose lines are parsed in a reader thread."""

    def __init__(self, interval_ms: int, t0: float) -> None:
        self.t0 = t0
        self.samples: List[Dict[str, Any]] = []
        self.format: Optional[str] = None
        self.proc = subprocess.Popen(["tegrastats", "--interval", str(interval_ms)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, name="tegrastats-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parsed = tj.parse_tegrastats(line)
            if not parsed:
                continue
            parsed["t_s"] = time.perf_counter() - self.t0
            if self.format is None:
                self.format = tj.tegrastats_format(parsed)
            self.samples.append(parsed)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.thread.join(timeout=3)


class TelemetrySampler:
    """Samples what the machine offers every ``interval_s`` seconds between ``start()`` and ``stop()``.

    ``mark(name)`` records a named time (e.g. when the timed loop starts) so the report can relate
    samples to phases. ``stop()`` returns the telemetry block of the report (see docs/report.md).
    """

    def __init__(self, interval_s: float = 0.5, root: str = "/", use_tegrastats: bool = True,
                 use_vcgencmd: bool = True, use_jtop: bool = True) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = float(interval_s)
        self.root = root
        self.samples: List[Dict[str, Any]] = []
        self.marks: Dict[str, float] = {}
        self.sources: Dict[str, Dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._tegra: Optional[_Tegrastats] = None
        self._use = {"tegrastats": use_tegrastats, "vcgencmd": use_vcgencmd, "jtop": use_jtop}
        self._proc: Any = None
        self.t0 = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> TelemetrySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self.stop()

    def start(self) -> TelemetrySampler:
        self.t0 = time.perf_counter()
        self._probe_sources()
        self._sample()  # one sample at t=0 (also primes psutil's cpu_percent counters)
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def mark(self, name: str) -> float:
        t = self.now()
        self.marks[name] = t
        return t

    def stop(self) -> Dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 + self.interval_s)
            self._thread = None
        self._sample()
        if self._tegra is not None:
            self._tegra.stop()
            self.sources["tegrastats"]["format"] = self._tegra.format
            if not self._tegra.samples:
                self.sources["tegrastats"] = {"available": False, "reason": "tegrastats printed no parsable line"}
        return self.result()

    # -- sources ------------------------------------------------------------------------------------
    def _probe_sources(self) -> None:
        src = self.sources
        try:
            import psutil

            self._proc = psutil.Process()
            self._proc.cpu_percent(None)
            psutil.cpu_percent(None)
            src["psutil"] = {"available": True, "version": psutil.__version__}
        except ImportError:
            src["psutil"] = {"available": False, "reason": "psutil not installed (pip install psutil)"}
        zones = read_thermal_zones(self.root)
        src["thermal_zones"] = ({"available": True, "zones": sorted(zones)} if zones else
                                {"available": False, "reason": "no readable /sys/class/thermal zones"})
        freqs, how = read_cpufreq_mhz(self.root)
        src["cpufreq"] = ({"available": True, "via": how, "cpus": len(freqs)} if freqs else
                          {"available": False, "reason": "no cpufreq interface (sysfs or psutil)"})
        if not self._use["tegrastats"]:
            src["tegrastats"] = {"available": False, "reason": "disabled"}
        elif shutil.which("tegrastats") is None:
            src["tegrastats"] = {"available": False, "reason": "tegrastats not found (not a Jetson)"}
        else:
            try:
                self._tegra = _Tegrastats(max(100, int(self.interval_s * 1000)), self.t0)
                src["tegrastats"] = {"available": True}
            except OSError as e:
                src["tegrastats"] = {"available": False, "reason": f"cannot start tegrastats: {e}"}
        if not self._use["vcgencmd"]:
            src["vcgencmd"] = {"available": False, "reason": "disabled"}
        else:
            text, why = _vcgencmd("measure_temp")
            src["vcgencmd"] = ({"available": True} if text and tp.parse_measure_temp(text) is not None else
                               {"available": False, "reason": why or "vcgencmd gave no temperature"})
        if not self._use["jtop"]:
            src["jtop"] = {"available": False, "reason": "disabled"}
        elif self._tegra is None:
            src["jtop"] = {"available": False, "reason": "not a Jetson (no tegrastats)"}
        else:
            snap, why = tj.jtop_snapshot()
            src["jtop"] = {"available": True, "snapshot": snap} if snap else {"available": False, "reason": why}

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._sample()
            except Exception as e:  # a failing source must not kill the benchmark; record it
                self.sources.setdefault("errors", {"available": False, "reason": ""})["reason"] = \
                    f"{type(e).__name__}: {e}"[:200]

    def _sample(self) -> None:
        s: Dict[str, Any] = {"t_s": round(self.now(), 4)}
        if self._proc is not None:
            import psutil

            s["cpu_percent"] = psutil.cpu_percent(None)
            try:
                s["process_cpu_percent"] = self._proc.cpu_percent(None)
                s["rss_mb"] = self._proc.memory_info().rss / 2**20
            except psutil.Error:
                pass
        if self.sources.get("thermal_zones", {}).get("available"):
            temps = read_thermal_zones(self.root)
            if temps:
                s["temps_c"] = temps
        if self.sources.get("cpufreq", {}).get("available"):
            freqs, _ = read_cpufreq_mhz(self.root)
            if freqs:
                s["cpu_mhz"] = sum(freqs) / len(freqs)
                s["cpu_mhz_min"] = min(freqs)
        if self.sources.get("vcgencmd", {}).get("available"):
            text, _ = _vcgencmd("measure_temp")
            t = tp.parse_measure_temp(text or "")
            if t is not None:
                s.setdefault("temps_c", {})["vcgencmd"] = t
            text, _ = _vcgencmd("measure_clock", "arm")
            mhz = tp.parse_measure_clock(text or "")
            if mhz is not None:
                s["arm_mhz"] = mhz
            text, _ = _vcgencmd("get_throttled")
            value = tp.parse_throttled(text or "")
            if value is not None:
                s["throttled"] = hex(value)
        self.samples.append(s)

    # -- result -------------------------------------------------------------------------------------
    def result(self) -> Dict[str, Any]:
        samples = sorted(self.samples, key=lambda s: s["t_s"])
        if self._tegra is not None and self._tegra.samples:
            samples = _merge_tegrastats(samples, self._tegra.samples)
        return {"interval_s": self.interval_s, "sources": self.sources, "marks": dict(self.marks),
                "samples": samples, "summary": summarize(samples)}


def _merge_tegrastats(samples: List[Dict[str, Any]], tegra: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """tegrastats lines become samples of their own (their own timestamps), merged into the timeline."""
    out = list(samples)
    for p in tegra:
        s: Dict[str, Any] = {"t_s": round(p["t_s"], 4), "source": "tegrastats"}
        for key in ("gpu_load", "gpu_mhz", "gpu2_load", "emc_load", "emc_mhz", "ram_used_mb", "swap_used_mb",
                    "cpu_load_mean"):
            if key in p:
                s[key] = p[key]
        if "temps_c" in p:
            s["temps_c"] = p["temps_c"]
        if "rails_mw" in p:
            s["rails_mw"] = p["rails_mw"]
            s["power_mw"], s["power_source"] = tj.board_power_mw(p["rails_mw"])
        out.append(s)
    return sorted(out, key=lambda s: s["t_s"])


def summarize(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Peak and mean values over the samples; keys are present only for what was measured."""
    out: Dict[str, Any] = {}
    temps = [(name, v) for s in samples for name, v in (s.get("temps_c") or {}).items()]
    if temps:
        name, v = max(temps, key=lambda nv: nv[1])
        out["temp_max_c"], out["temp_max_sensor"] = v, name
        firsts = [max(s["temps_c"].values()) for s in samples if s.get("temps_c")]
        out["temp_start_c"], out["temp_end_c"] = firsts[0], firsts[-1]
    for key, label in (("cpu_percent", "cpu_percent"), ("process_cpu_percent", "process_cpu_percent"),
                       ("gpu_load", "gpu_load"), ("emc_load", "emc_load"), ("cpu_mhz", "cpu_mhz"),
                       ("arm_mhz", "arm_mhz"), ("power_mw", "power_mw")):
        vals = [float(s[key]) for s in samples if s.get(key) is not None]
        if vals:
            out[f"{label}_mean"] = sum(vals) / len(vals)
            out[f"{label}_max"] = max(vals)
            if key in ("cpu_mhz", "arm_mhz"):
                out[f"{label}_min"] = min(vals)
    rss = [s["rss_mb"] for s in samples if s.get("rss_mb") is not None]
    if rss:
        out["peak_rss_mb"] = max(rss)
    srcs = {s.get("power_source") for s in samples if s.get("power_source")}
    if srcs:
        out["power_source"] = sorted(srcs)[0]
    throttled = [int(s["throttled"], 16) for s in samples if s.get("throttled")]
    if throttled:
        seen = 0
        for v in throttled:
            seen |= v
        out["throttled_bits_seen"] = tp.decode_throttled(seen)
    return out


def energy_between(samples: List[Dict[str, Any]], t_start: float, t_end: float) -> Optional[Dict[str, Any]]:
    """Energy (J) from power samples over [t_start, t_end]: trapezoids, held flat at the window edges.

    None when no power sample falls in the window or there is no power source at all.
    """
    pts = [(float(s["t_s"]), float(s["power_mw"])) for s in samples if s.get("power_mw") is not None]
    if not pts or t_end <= t_start:
        return None
    inside = [p for p in pts if t_start <= p[0] <= t_end]
    if not inside:
        return None
    before = [p for p in pts if p[0] < t_start]
    after = [p for p in pts if p[0] > t_end]
    first_val = _interp(before[-1], inside[0], t_start) if before else inside[0][1]
    last_val = _interp(inside[-1], after[0], t_end) if after else inside[-1][1]
    xs = [t_start] + [p[0] for p in inside] + [t_end]
    ys = [first_val] + [p[1] for p in inside] + [last_val]
    joules = sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2.0 for i in range(len(xs) - 1)) / 1000.0
    sources = sorted({s.get("power_source") for s in samples if s.get("power_mw") is not None and
                      s.get("power_source")})
    return {"joules": joules, "mean_power_mw": joules * 1000.0 / (t_end - t_start), "samples": len(inside),
            "source": sources[0] if sources else None}


def _interp(a: Tuple[float, float], b: Tuple[float, float], t: float) -> float:
    if b[0] == a[0]:
        return b[1]
    return a[1] + (b[1] - a[1]) * (t - a[0]) / (b[0] - a[0])
