"""What this computer's CPU can do, for chapters that choose a faster path when it can.

    from tfbook.hardware import bf16_units
    bf16_units()   # "AMX", "AVX512-BF16" or None

Only Linux is inspected (``/proc/cpuinfo``'s ``flags`` line); anywhere else the answer is
None, "not known to have them", which is the safe choice: the caller keeps float32.
``TFBOOK_BF16=off`` in the environment makes the answer None on any CPU: the way to see (and
test) what a CPU without the units gets.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
OFF_SWITCH = "TFBOOK_BF16"  # "off": behave as on a CPU without bf16 units

# cpuinfo flag -> the name printed for it, best first: AMX tiles do bfloat16 matrix products
# on Sapphire Rapids and later; AVX512-BF16 (Cooper Lake, Zen 4 and later) has bfloat16
# dot-product instructions. oneDNN uses either for TensorFlow's bfloat16 kernels.
BF16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags, from the text of /proc/cpuinfo (read when not given); an empty
    set off Linux or when the file cannot be read."""
    if cpuinfo is None:
        if not sys.platform.startswith("linux"):
            return set()
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # the first processor's line is enough
            return set(value.split())
    return set()


def bf16_units(cpuinfo: str | None = None) -> str | None:
    """Which bfloat16 units the CPU has: "AMX", "AVX512-BF16", or None (none, or not Linux).

    `cpuinfo` is the text of /proc/cpuinfo, for tests; by default the real file is read.
    With TFBOOK_BF16=off in the environment the real CPU is not asked: None.
    """
    if cpuinfo is None and os.environ.get(OFF_SWITCH, "").lower() == "off":
        return None
    flags = cpu_flags(cpuinfo)
    for flag, name in BF16_FLAGS:
        if flag in flags:
            return name
    return None
