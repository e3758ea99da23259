"""Telemetry parsers on recorded real output (tests/data/telemetry) and the background sampler.

The sampler test runs stand-in ``tegrastats`` / ``nvpmodel`` / ``jetson_clocks`` / ``vcgencmd`` commands
that print the recorded lines, the way jetson-stats tests jtop, so the subprocess reader, the merge
into the timeline and the energy integration run for real on a machine that is not a Jetson or a Pi.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgemnv2.bench import telemetry as tel
from edgemnv2.bench import telemetry_jetson as tj
from edgemnv2.bench import telemetry_pi as tp

DATA = Path(__file__).parent / "data" / "telemetry"


def lines(name: str) -> list:
    return [ln for ln in (DATA / name).read_text().splitlines() if ln.strip()]


# -- tegrastats ---------------------------------------------------------------------------------
def test_jetpack4_nano_pom_rails() -> None:
    p = tj.parse_tegrastats(lines("tegrastats_jp4.txt")[0])
    assert (p["ram_used_mb"], p["ram_total_mb"], p["swap_used_mb"], p["swap_total_mb"], p["swap_cached_mb"]) == \
        (534, 3964, 5, 1982, 1)
    assert p["iram_used_kb"] == 0 and p["iram_total_kb"] == 252
    assert [c["load"] for c in p["cpu"]] == [16, 9, 0, 0] and {c["mhz"] for c in p["cpu"]} == {204}
    assert (p["emc_load"], p["emc_mhz"], p["gpu_load"], p["gpu_mhz"]) == (0, 204, 0, 76)
    assert p["temps_c"] == {"PLL": 34.0, "CPU": 36.5, "PMIC": 100.0, "GPU": 36.0, "AO": 39.5, "thermal": 36.25}
    assert p["rails_mw"] == {"POM_5V_IN": 1022, "POM_5V_GPU": 0, "POM_5V_CPU": 204}
    assert "RAM" not in p["rails_mw"] and "SWAP" not in p["rails_mw"] and "IRAM" not in p["rails_mw"]
    assert p["rail_units"] == "none" and tj.tegrastats_format(p) == "JetPack 4 (L4T 32)"
    assert tj.board_power_mw(p["rails_mw"]) == (1022, "POM_5V_IN")
    p2 = tj.parse_tegrastats(lines("tegrastats_jp4.txt")[1])
    assert p2["rails_mw"]["POM_5V_IN"] == 4520 and p2["rails_avg_mw"]["POM_5V_IN"] == 4680
    assert p2["engines"]["NVENC"] == "716" and p2["engines"]["APE"] == "25"


def test_jetpack4_offline_cores_and_bare_rail_names() -> None:
    tx2 = tj.parse_tegrastats(lines("tegrastats_jp4.txt")[3])
    assert tx2["cpu"][1] is None and tx2["cpu"][2] is None  # "off": cores switched off by the power mode
    assert tx2["cpu_load_mean"] == pytest.approx((1 + 1 + 0 + 2) / 4)
    assert tj.board_power_mw(tx2["rails_mw"]) == (3056, "VDD_IN")
    agx = tj.parse_tegrastats(lines("tegrastats_jp4.txt")[5])
    # AGX Xavier (JetPack 4): rails named GPU/CPU/SOC/CV/VDDRQ/SYS5V; GPU@37.5C is a temperature, GPU 0/0 a rail
    assert agx["rails_mw"] == {"GPU": 0, "CPU": 311, "SOC": 932, "CV": 0, "VDDRQ": 621, "SYS5V": 1482}
    assert agx["temps_c"]["GPU"] == 37.5 and agx["temps_c"]["Tboard"] == 37.0
    total, source = tj.board_power_mw(agx["rails_mw"])
    assert total == 0 + 311 + 932 + 0 + 621 + 1482 and source.startswith("sum(")


def test_jetpack5_orin_nx_mw_rails_and_off_sensors() -> None:
    p = tj.parse_tegrastats(lines("tegrastats_jp5.txt")[0])
    assert p["rail_units"] == "mW" and tj.tegrastats_format(p) == "JetPack 5/6 (L4T 35/36)"
    assert p["rails_mw"] == {"VDD_IN": 5299, "VDD_CPU_GPU_CV": 773, "VDD_SOC": 1424}
    assert len(p["cpu"]) == 8 and p["cpu"][4:] == [None] * 4
    assert p["gpu_load"] == 0 and p["gpu_mhz"] == 611 and p["emc_mhz"] == 2133
    assert p["temps_c"]["tj"] == 48.875 and p["temps_c"]["CV0"] == 45.812
    assert p["engines"]["VIC_FREQ"] == "729"


def test_jetpack6_date_prefix_bare_gpu_load_and_gpc_list() -> None:
    nano = tj.parse_tegrastats(lines("tegrastats_jp6.txt")[0])
    assert nano["time"] == "04-27-2026 14:59:41"
    assert nano["gpu_load"] == 0 and "gpu_mhz" not in nano and "emc_load" not in nano
    assert nano["temps_c"] == {"cpu": 48.468, "soc2": 47.531, "soc0": 48.062, "gpu": 48.562, "tj": 49.156,
                               "soc1": 49.156}
    assert nano["rails_mw"]["VDD_IN"] == 4761 and nano["rails_avg_mw"]["VDD_IN"] == 4778
    assert tj.board_power_mw(nano["rails_mw"]) == (4761, "VDD_IN")
    agx = tj.parse_tegrastats(lines("tegrastats_jp6.txt")[2])
    assert agx["gpu_mhz"] == [305.0, 305.0]
    assert agx["engines"]["NVENC"] == "off" and agx["engines"]["NVDLA1"] == "off" and agx["engines"]["APE"] == "174"
    assert [c["load"] for c in agx["cpu"]].count(100) == 2 and len(agx["cpu"]) == 12
    total, source = tj.board_power_mw(agx["rails_mw"])  # AGX Orin prints no VDD_IN: the rails are summed
    assert total == 3205 + 4405 + 4767 and source == "sum(VDD_CPU_CV+VDD_GPU_SOC+VIN_SYS_5V0)"


def test_switched_off_sensor_is_left_out() -> None:
    p = tj.parse_tegrastats("RAM 2448/30536MB (lfb 6729x4MB) CV0@-256C CPU@43.5C GPU@-256C VDD_IN 5000mW/5000mW")
    assert p["temps_c"] == {"CPU": 43.5}


def test_garbage_line_gives_nothing() -> None:
    assert tj.parse_tegrastats("tegrastats: permission denied") == {}
    assert tj.parse_tegrastats("") == {}


def test_nvpmodel_and_jetson_clocks() -> None:
    assert tj.parse_nvpmodel((DATA / "nvpmodel_q_nano.txt").read_text()) == {"mode": "MAXN", "id": 0}
    assert tj.parse_nvpmodel((DATA / "nvpmodel_q_nano_5w.txt").read_text()) == {"mode": "5W", "id": 1}
    assert tj.parse_nvpmodel((DATA / "nvpmodel_q_orin_nano_super.txt").read_text())["mode"] == "MAXN_SUPER"
    nano = tj.parse_jetson_clocks((DATA / "jetson_clocks_show_nano.txt").read_text())
    assert nano["soc"] == "tegra210" and nano["machine"] == "jetson-nano" and nano["online_cpus"] == "0-3"
    assert nano["cpus"]["cpu0"] == {"governor": "schedutil", "min_khz": 102000, "max_khz": 1428000,
                                    "cur_khz": 1428000, "online": True}
    assert nano["gpu"] == {"min_hz": 76800000, "max_hz": 921600000, "cur_hz": 153600000}
    assert nano["emc"]["max_hz"] == 1600000000 and nano["nvpmodel"] == "MAXN"
    assert nano["locked"] is False  # default DVFS: min != max
    orin = tj.parse_jetson_clocks((DATA / "jetson_clocks_show_orin.txt").read_text())
    assert orin["soc"] == "tegra234" and orin["machine"] == "NVIDIA Orin Jetson-Small Developer Kit"
    assert len(orin["cpus"]) == 9 and orin["cpus"]["cpu11"]["cur_khz"] == 1190400
    locked = (DATA / "jetson_clocks_show_nano.txt").read_text().replace("MinFreq=102000", "MinFreq=1428000") \
        .replace("GPU MinFreq=76800000", "GPU MinFreq=921600000")
    assert tj.parse_jetson_clocks(locked)["locked"] is True  # what `sudo jetson_clocks` leaves behind


# -- Raspberry Pi ---------------------------------------------------------------------------------
def test_vcgencmd_outputs() -> None:
    assert tp.parse_measure_temp((DATA / "vcgencmd_measure_temp.txt").read_text()) == 48.3
    assert tp.parse_measure_temp((DATA / "vcgencmd_measure_temp_hot.txt").read_text()) == 80.6
    assert tp.parse_measure_clock((DATA / "vcgencmd_measure_clock_arm.txt").read_text()) == pytest.approx(1500.398464)
    assert tp.parse_measure_temp("VCHI initialization failed") is None
    assert tp.parse_throttled("error") is None


def test_throttled_bits_decoded() -> None:
    v = tp.parse_throttled((DATA / "vcgencmd_get_throttled_0x50005.txt").read_text())
    assert v == 0x50005
    d = tp.decode_throttled(v)
    assert d["raw"] == "0x50005"
    assert d["now"] == ["under_voltage", "throttled"]
    assert d["since_boot"] == ["under_voltage", "throttled"]
    assert d["under_voltage"] and d["throttled"] and not d["arm_frequency_capped"] and not d["soft_temperature_limit"]
    d = tp.decode_throttled(tp.parse_throttled((DATA / "vcgencmd_get_throttled_0x60002.txt").read_text()))
    assert d["now"] == ["arm_frequency_capped"]
    assert d["since_boot"] == ["arm_frequency_capped", "throttled"]
    d = tp.decode_throttled(tp.parse_throttled((DATA / "vcgencmd_get_throttled_0x0.txt").read_text()))
    assert d["now"] == [] and d["since_boot"] == [] and not any(d[n] for n in tp.THROTTLE_BITS.values())
    soft = tp.decode_throttled(0x80008)
    assert soft["now"] == ["soft_temperature_limit"] and soft["since_boot"] == ["soft_temperature_limit"]


# -- sysfs ------------------------------------------------------------------------------------------
def test_sysfs_thermal_zones_cpufreq_and_model() -> None:
    pi = str(DATA / "sys_rpi4")
    assert tel.read_thermal_zones(pi) == {"cpu-thermal": 48.312}
    freqs, how = tel.read_cpufreq_mhz(pi)
    assert freqs == [1500.0, 1500.0, 1500.0, 600.0] and how == "sysfs cpufreq"
    assert tel.read_governor(pi) == "ondemand"
    assert tp.board_model(pi) == "Raspberry Pi 4 Model B Rev 1.4"  # trailing NUL stripped
    orin = str(DATA / "sys_orin")
    zones = tel.read_thermal_zones(orin)
    assert "cv0-thermal" not in zones  # -256 C: switched off
    assert zones["tj-thermal"] == 49.156 and zones["cpu-thermal.5"] == 47.0  # duplicate type keeps both
    assert tp.board_model(orin) == "NVIDIA Jetson Orin Nano Developer Kit"
    assert tel.read_thermal_zones(str(DATA / "nowhere")) == {}
    assert tel.read_cpufreq_mhz(str(DATA / "nowhere")) == (None, None)


def test_energy_integration() -> None:
    samples = [{"t_s": 0.0, "power_mw": 4000.0, "power_source": "VDD_IN"},
               {"t_s": 1.0, "power_mw": 6000.0, "power_source": "VDD_IN"},
               {"t_s": 2.0, "power_mw": 6000.0, "power_source": "VDD_IN"},
               {"t_s": 3.0, "power_mw": 4000.0, "power_source": "VDD_IN"}]
    e = tel.energy_between(samples, 1.0, 2.0)
    assert e["joules"] == pytest.approx(6.0) and e["mean_power_mw"] == pytest.approx(6000.0)
    e = tel.energy_between(samples, 0.5, 2.5)  # edges interpolated: 5 W .. 6 W .. 6 W .. 5 W
    assert e["joules"] == pytest.approx(0.5 * 5.5 + 6.0 + 0.5 * 5.5) and e["source"] == "VDD_IN"
    assert tel.energy_between([{"t_s": 0.5, "cpu_percent": 3.0}], 0.0, 1.0) is None  # no power source
    assert tel.energy_between(samples, 10.0, 11.0) is None


# -- the sampler with stand-in device tools ----------------------------------------------------------
def _tool(bin_dir: Path, name: str, body: str) -> None:
    p = bin_dir / name
    p.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def fake_device_tools(bin_dir: Path) -> dict:
    """tegrastats/nvpmodel/jetson_clocks/vcgencmd that print the recorded output; returns an env for them."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    _tool(bin_dir, "tegrastats", f"""
        import sys, time
        lines = [l for l in open({str(DATA / 'tegrastats_jp6.txt')!r}).read().splitlines()[:2]]
        interval = int(sys.argv[sys.argv.index('--interval') + 1]) / 1000 if '--interval' in sys.argv else 1
        i = 0
        while True:
            print(lines[i % 2], flush=True)
            i += 1
            time.sleep(interval)
        """)
    _tool(bin_dir, "nvpmodel", f"print(open({str(DATA / 'nvpmodel_q_orin_nano_super.txt')!r}).read(), end='')\n")
    _tool(bin_dir, "jetson_clocks", f"print(open({str(DATA / 'jetson_clocks_show_orin.txt')!r}).read(), end='')\n")
    _tool(bin_dir, "vcgencmd", f"""
        import sys
        files = {{"measure_temp": "vcgencmd_measure_temp.txt", "get_throttled": "vcgencmd_get_throttled_0x50005.txt",
                  "measure_clock": "vcgencmd_measure_clock_arm.txt"}}
        print(open({str(DATA)!r} + "/" + files[sys.argv[1]]).read(), end="")
        """)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_sampler_on_this_machine_reports_missing_sources() -> None:
    with tel.TelemetrySampler(interval_s=0.05) as s:
        s.mark("timed_start")
        time.sleep(0.3)
        s.mark("timed_end")
    out = s.result()
    assert out["sources"]["psutil"]["available"] is True
    assert len(out["samples"]) >= 3 and all("cpu_percent" in x and "rss_mb" in x for x in out["samples"])
    for name in ("tegrastats", "vcgencmd", "jtop", "thermal_zones", "cpufreq"):
        st = out["sources"][name]
        assert st["available"] or st["reason"], (name, st)  # missing sources say why
    if not out["sources"]["tegrastats"]["available"]:
        assert not any("power_mw" in x for x in out["samples"])  # never invented


def test_sampler_with_device_tools(tmp_path: Path) -> None:
    """Run the sampler in a child process whose PATH has the stand-in Jetson and Pi tools."""
    env = dict(os.environ, **fake_device_tools(tmp_path / "bin"))
    code = textwrap.dedent("""
        import json, time
        from edgemnv2.bench import telemetry as tel
        s = tel.TelemetrySampler(interval_s=0.1, use_jtop=False).start()
        time.sleep(0.3); s.mark("timed_start"); time.sleep(0.8); s.mark("timed_end")
        out = s.stop()
        state = tel.device_state()
        e = tel.energy_between(out["samples"], out["marks"]["timed_start"], out["marks"]["timed_end"])
        print(json.dumps({"out": out, "state": state, "energy": e}))
        """)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    import json

    res = json.loads(proc.stdout)
    out, state, energy = res["out"], res["state"], res["energy"]
    assert out["sources"]["tegrastats"] == {"available": True, "format": "JetPack 5/6 (L4T 35/36)"}
    power = [x for x in out["samples"] if x.get("source") == "tegrastats"]
    assert len(power) >= 5
    assert {x["power_mw"] for x in power} == {4761.0} and {x["power_source"] for x in power} == {"VDD_IN"}
    assert power[0]["temps_c"]["tj"] in (49.156, 49.218) and power[0]["gpu_load"] == 0
    assert out["summary"]["power_mw_mean"] == pytest.approx(4761.0)
    assert out["summary"]["temp_max_c"] == pytest.approx(49.218)
    assert energy["mean_power_mw"] == pytest.approx(4761.0) and energy["source"] == "VDD_IN"
    dur = out["marks"]["timed_end"] - out["marks"]["timed_start"]
    assert energy["joules"] == pytest.approx(4.761 * dur, rel=1e-6)
    assert out["sources"]["vcgencmd"]["available"] is True
    pi = [x for x in out["samples"] if "arm_mhz" in x]
    assert pi and pi[0]["temps_c"]["vcgencmd"] == 48.3 and pi[0]["throttled"] == "0x50005"
    assert out["summary"]["throttled_bits_seen"]["now"] == ["under_voltage", "throttled"]
    assert state["nvpmodel"]["mode"] == "MAXN_SUPER" and state["nvpmodel"]["id"] == 2
    assert state["jetson_clocks"]["soc"] == "tegra234"
    assert state["throttled"]["raw"] == "0x50005"
    assert "nvpmodel" not in state["missing"]
