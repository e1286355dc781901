"""The kernel pin makes training's floats independent of the CPU: the demo's pretraining builds on it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT
from vifi import kernels

AVX2_ONLY_CPU = kernels.AS_ON_CPU["avx2"]


def test_a_pin_names_each_librarys_switch_and_null_pins_nothing() -> None:
    assert kernels.pin_env("avx2") == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    }
    assert kernels.shell_prefix("avx2") == "ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2"
    assert kernels.shell_prefix("portable") == "ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE VIFI_ONEDNN=off"
    assert kernels.pin_env(None) == {} and kernels.shell_prefix(None) == ""


def test_an_unknown_instruction_set_is_named_with_the_pinnable_ones() -> None:
    with pytest.raises(ValueError, match=r"'avx9'.*\['avx2', 'portable'\]"):
        kernels.pin_env("avx9")


def test_the_record_reads_the_pin_this_process_runs_under(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in kernels.VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert kernels.current() == {
        "ATEN_CPU_CAPABILITY": None,
        "MKL_CBWR": "AVX2",
        "ONEDNN_MAX_CPU_ISA": None,
        "VIFI_ONEDNN": None,
        "MKL_ENABLE_INSTRUCTIONS": None,
    }


# The `portable` pin's three steps (`kernel_steps`, one thread) as an AMD EPYC without AVX-512 computed them
# with the locked packages. Another x86-64 CPU with AVX2 must give the same bytes; a new torch (or its MKL) may
# not.
PORTABLE_STEPS = "3ff7286bdc8b67d2f8897798af3c837990b7fb6dfb10f9bdcf1ff9e46fb07649"


def outputs(cmd: list[str], envs: dict[str, dict[str, str]]) -> dict[str, str]:
    """`cmd`'s output under each environment, each in its own process (the switches are read once, at the
    first computation), all at once."""
    procs = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for name, env in envs.items()
    }
    out = {name: proc.communicate(timeout=300)[0] for name, proc in procs.items()}
    assert all(proc.returncode == 0 for proc in procs.values()), out
    return out


def steps(envs: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """`kernel_steps` on one thread under each environment: the kernels torch ran and the weights' hash."""
    out = outputs([sys.executable, "-m", "tests.unit.kernel_steps", "1"], envs)
    return {name: text.split() for name, text in out.items()}


def cpu_model() -> str:
    with open("/proc/cpuinfo") as fh:
        return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "unknown")


def test_the_portable_pin_gives_the_floats_another_cpu_gave() -> None:
    """Each of its switches changes the floats here (so each library honours it), and the result is the one
    recorded on another CPU, an AMD EPYC, whichever vendor and vector width this one has."""
    clean = {k: v for k, v in os.environ.items() if k not in kernels.VARIABLES}
    portable = kernels.pin_env("portable")
    out = steps(
        {
            "portable": {**clean, **portable},
            "mkl's own branch": {**clean, **portable, "MKL_CBWR": "AUTO"},
            "onednn on": {**clean, **portable, kernels.ONEDNN_SWITCH: "on"},
        }
    )
    assert out["portable"][1] != out["mkl's own branch"][1] and out["portable"][1] != out["onednn on"][1]
    assert out["portable"][1] == PORTABLE_STEPS, f"the portable pin gave other floats on {cpu_model()}"


def test_pinned_training_steps_equal_those_on_a_cpu_without_avx512() -> None:
    """Three AdamW steps of the demo CLIP, run here and as on an AVX2-only CPU, each in its own process; and
    unpinned, here and as on a CPU one vector width narrower, which is what the pin removes."""
    clean = {k: v for k, v in os.environ.items() if k not in kernels.VARIABLES}
    pin = kernels.pin_env("avx2")
    narrower = kernels.narrower_cpu()
    envs = {
        "here": clean,
        "avx2 cpu": {**clean, **AVX2_ONLY_CPU},
        "here, pinned": {**clean, **pin},
        "avx2 cpu, pinned": {**clean, **AVX2_ONLY_CPU, **pin},
        "narrower cpu": {**clean, **kernels.AS_ON_CPU[narrower]},
    }
    out = steps(envs)
    assert out["here, pinned"] == out["avx2 cpu, pinned"] == out["avx2 cpu"]
    assert out["here, pinned"][0] == "AVX2"
    assert out["here"][0] == ("AVX512" if narrower == "avx2" else "AVX2")
    assert out["narrower cpu"][0] == ("AVX2" if narrower == "avx2" else "DEFAULT")
    assert out["here"][1] != out["narrower cpu"][1], "unpinned, another CPU's kernels must change the floats"


def test_the_params_schema_offers_exactly_the_pinnable_instruction_sets() -> None:
    """`pretrain.kernels` and `extract.kernels` are checked against the schema's list, which must follow `PINS`
    as pins are added."""
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "params.schema.yaml").read_text())
    offered = schema["$defs"]["kernel_pin"]["enum"]
    assert sorted(offered, key=str) == sorted([*kernels.PINS, None], key=str)
    for stage in ("pretrain", "extract"):
        assert schema["properties"][stage]["properties"]["kernels"]["$ref"] == "#/$defs/kernel_pin"


RESIZE = """
import hashlib, numpy as np, torch
from vifi.data.frames.decode import resize_short_side
frames = np.random.default_rng(0).integers(0, 256, (4, 96, 128, 3), dtype=np.uint8)
print(hashlib.sha256(resize_short_side(frames, 36).tobytes()).hexdigest())
"""


def test_the_pinned_extraction_resize_gives_the_same_frames_on_a_narrower_cpu() -> None:
    """Extraction's antialiased uint8 resize has a kernel per vector width that rounds its own way, so another
    CPU extracts other frames unless the stage is pinned (`extract.kernels`)."""
    clean = {k: v for k, v in os.environ.items() if k not in kernels.VARIABLES}
    narrower = kernels.AS_ON_CPU[kernels.narrower_cpu()]
    pin = kernels.pin_env("avx2")
    envs = {"here": clean, "narrower": {**clean, **narrower}, "pinned": {**clean, **pin}}
    envs["narrower, pinned"] = {**clean, **narrower, **pin}
    out = outputs([sys.executable, "-c", RESIZE], envs)
    assert out["here"] != out["narrower"], "unpinned, a narrower CPU's resize must give other frames"
    assert out["pinned"] == out["narrower, pinned"]
