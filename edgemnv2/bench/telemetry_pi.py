"""Raspberry Pi telemetry from ``vcgencmd``: temperature, throttling bits, clocks; board model.

``vcgencmd get_throttled`` -> ``throttled=0x50005``; bits 0-3 are the state now (under-voltage, ARM
frequency capped, throttled, soft temperature limit), bits 16-19 say each "has occurred" since boot.
Parsers are pure functions (tested on recorded output). Device side: standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Optional

__all__ = ["parse_measure_temp", "parse_throttled", "decode_throttled", "parse_measure_clock",
           "board_model", "THROTTLE_BITS"]

THROTTLE_BITS = {
    0: "under_voltage",
    1: "arm_frequency_capped",
    2: "throttled",
    3: "soft_temperature_limit",
    16: "under_voltage_occurred",
    17: "arm_frequency_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temperature_limit_occurred",
}


def parse_measure_temp(text: str) -> Optional[float]:
    """``temp=48.3'C`` -> 48.3 (None when the text is not a reading)."""
    m = re.search(r"temp=(-?\d+(?:\.\d+)?)'?C", text)
    return float(m.group(1)) if m else None


def parse_throttled(text: str) -> Optional[int]:
    """``throttled=0x50005`` -> 0x50005."""
    m = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    return int(m.group(1), 0) if m else None


def decode_throttled(value: int) -> Dict[str, Any]:
    """The bitmask as named booleans plus ``raw`` (hex), ``now`` (any of bits 0-3) and ``since_boot`` (16-19)."""
    flags: Dict[str, Any] = {name: bool(value & (1 << bit)) for bit, name in THROTTLE_BITS.items()}
    flags["raw"] = hex(value)
    flags["now"] = [name for bit, name in THROTTLE_BITS.items() if bit < 16 and value & (1 << bit)]
    flags["since_boot"] = [name[: -len("_occurred")] for bit, name in THROTTLE_BITS.items()
                           if bit >= 16 and value & (1 << bit)]
    return flags


def parse_measure_clock(text: str) -> Optional[float]:
    """``frequency(48)=1500398464`` -> 1500.398464 (MHz)."""
    m = re.search(r"frequency\(\d+\)=(\d+)", text)
    return int(m.group(1)) / 1e6 if m else None


def board_model(root: str = "/") -> Optional[str]:
    """The device-tree model string (``Raspberry Pi 4 Model B Rev 1.4``, ``NVIDIA Jetson Orin Nano ...``)."""
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        p = Path(root) / rel
        try:
            text = p.read_bytes().decode("utf-8", "replace").strip("\x00\n ")
        except OSError:
            continue
        if text:
            return text
    return None
