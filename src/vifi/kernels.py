"""CPU kernel pins: the environment under which a computation gives the same floats on other x86-64 CPUs.

torch picks its vector kernels (AVX2, AVX-512), and MKL and oneDNN their code paths, from the CPU it runs on.
The paths sum in different orders, so the same training differs at 1e-6 after a few steps from one CPU to
another, and training amplifies that (README, "What the demo measured"). Pinning the three libraries to one
instruction set, with a fixed thread count (`torch.set_num_threads`: sums are split by it), makes the run
independent of the instruction set: pinned training steps on AVX-512 equal those on a simulated AVX2-only CPU
bit for bit (`tests/unit/test_kernels.py`; the demo's whole pretraining in `benchmarks/cross_kernel.py`).
Across CPU vendors only `portable` can hold (see `PINS`); a test compares its steps with those recorded on
another CPU. The pins need an x86-64 CPU with AVX2 (any since 2013); elsewhere set them off
(`pretrain.kernels: null`, `extract.kernels: null`). On CUDA they are moot. Frame extraction is pinned too: its
antialiased uint8 resize has one kernel per vector width, each rounding its own way, and every run reads its
frames.

No torch import here: the workflow reads this module when it parses the Snakefile.
"""

from __future__ import annotations

import os
from pathlib import Path

# Our own switch: "off" takes oneDNN out of torch (`apply_onednn_switch`); torch reads no variable for it.
ONEDNN_SWITCH = "VIFI_ONEDNN"
# Per pin, each library's switch: ATen's dispatch, MKL's conditional numerical reproducibility (CBWR) branch,
# oneDNN's highest ISA or oneDNN off.
# - `avx2`: MKL honours its AVX2 branch on Intel CPUs only; on others it silently takes its own choice
#   (MKL's documentation; measured on an AMD EPYC: AVX2, AVX, SSE4_2 and AUTO gave the same floats).
# - `portable`: MKL's COMPATIBLE branch, the one it runs on any x86-64 CPU, and no oneDNN, whose blocking,
#   and so the order of its sums, follows the CPU's cache sizes. About 1.8x slower per pretraining step.
PINS: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "portable": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", ONEDNN_SWITCH: "off"},
}
# What the libraries pick by themselves on a CPU whose widest vector unit is the key's. Set on a wider CPU,
# these make it compute as that one would: the cross-kernel benchmark and the tests stand in for another
# machine so.
AS_ON_CPU: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse4.2": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
}
VARIABLES = tuple(dict.fromkeys(var for table in (PINS, AS_ON_CPU) for env in table.values() for var in env))


def narrower_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The `AS_ON_CPU` key one vector width below this CPU: AVX2 where it has AVX-512, else SSE4.2. What the
    cross-kernel benchmark and the kernel tests stand in for another machine with."""
    try:
        flags = cpuinfo.read_text()
    except OSError:
        flags = ""
    return "avx2" if " avx512f" in flags else "sse4.2"


def pin_env(isa: str | None) -> dict[str, str]:
    """The variables that pin the CPU kernels to `isa`; none for `None` (the machine's own kernels)."""
    if isa is None:
        return {}
    try:
        return dict(PINS[isa])
    except KeyError:
        raise ValueError(f"no kernel pin for {isa!r}; pinnable: {sorted(PINS)} or null") from None


def shell_prefix(isa: str | None) -> str:
    """`VAR=value ...` to put before a shell command so that it runs pinned to `isa` (empty for `None`)."""
    return " ".join(f"{var}={value}" for var, value in pin_env(isa).items())


def onednn_allowed() -> bool:
    """False under a pin that takes oneDNN out (`ONEDNN_SWITCH`)."""
    return os.environ.get(ONEDNN_SWITCH, "on") != "off"


def apply_onednn_switch() -> None:
    """Take oneDNN out of this process's torch where the pin says so; call before the first computation."""
    import torch  # here only: the Snakefile imports this module

    torch.backends.mkldnn.enabled = onednn_allowed()


def current() -> dict[str, str | None]:
    """The kernel variables as this process sees them, for the record of what a number was computed under."""
    return {var: os.environ.get(var) for var in VARIABLES}
