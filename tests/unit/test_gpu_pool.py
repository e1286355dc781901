"""The GPU pool hands concurrent jobs disjoint devices, frees them when a holder dies, and stays out of the way
on CPU-only machines and under SLURM. Devices are faked with GPU_POOL_DEVICES; no GPU is needed."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool_env
from vifi import gpu_pool

POOL = [sys.executable, "-m", "vifi.stages.gpu_pool"]
SHOW_CVD = [sys.executable, "-c", "import os; print(repr(os.environ['CUDA_VISIBLE_DEVICES']))"]
# Records when it ran and on which devices; the pool's locks cover the whole life of this process.
RECORD = (
    "import json, os, sys, time; start = time.time(); time.sleep(0.2); "
    "json.dump({'start': start, 'end': time.time(), 'cvd': os.environ['CUDA_VISIBLE_DEVICES']}, "
    "open(sys.argv[1], 'w'))"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Four fake devices, a private lock dir, and none of the variables that switch the pool off."""
    env = tool_env(ROOT)
    for name in ("SLURM_JOB_ID", "GPU_POOL", "CUDA_VISIBLE_DEVICES"):
        env.pop(name, None)
    env.update(GPU_POOL_DEVICES="0,1,2,3", GPU_POOL_LOCK_DIR=str(tmp_path / "locks"))
    return env


def pool(env: dict[str, str], *opts: str, cmd: list[str] = SHOW_CVD) -> subprocess.CompletedProcess:
    return subprocess.run([*POOL, *opts, "--", *cmd], env=env, capture_output=True, text=True, timeout=60)


def test_concurrent_jobs_never_share_a_device(env, tmp_path: Path):
    wants = [1, 2] * 6
    procs = [
        subprocess.Popen(
            [
                *POOL,
                "-n",
                str(n),
                "--timeout",
                "30",
                "--",
                sys.executable,
                "-c",
                RECORD,
                str(tmp_path / f"{i}.json"),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, n in enumerate(wants)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        proc.stderr.close()
    jobs = []
    for i, n in enumerate(wants):
        record = json.loads((tmp_path / f"{i}.json").read_text())
        devices = set(record["cvd"].split(","))
        assert len(devices) == n and devices <= {"0", "1", "2", "3"}, record
        jobs.append((record["start"], record["end"], devices))
    overlapping = [(a, b) for a, b in itertools.combinations(jobs, 2) if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "the jobs never ran concurrently, so the check below would prove nothing"
    assert all(not (a[2] & b[2]) for a, b in overlapping), overlapping
    in_use = max(sum(len(d) for s, e, d in jobs if s <= t < e) for t, _, _ in jobs)
    assert in_use <= 4


def test_a_killed_holder_frees_its_device(env):
    env["GPU_POOL_DEVICES"] = "0"
    hold = "import time; print('ready', flush=True); time.sleep(30)"
    holder = subprocess.Popen(
        [*POOL, "-n", "1", "--", sys.executable, "-c", hold], env=env, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"ready\n"
        blocked = pool(env, "-n", "1", "--timeout", "0.3")
        assert blocked.returncode == 1
        assert blocked.stderr.count("waits for 1 of GPUs 0") == 1, "waiting is logged once"
        assert env["GPU_POOL_LOCK_DIR"] in blocked.stderr and f"GPU 0: pid {holder.pid}" in blocked.stderr
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    started = time.monotonic()
    after = pool(env, "-n", "1", "--timeout", "1")
    assert after.returncode == 0, after.stderr
    assert after.stdout == "'0'\n"
    assert time.monotonic() - started < 10


def test_a_partial_grab_is_released_while_waiting(tmp_path: Path):
    other = gpu_pool.try_lock(gpu_pool.lock_file(tmp_path, "1"))
    assert other is not None
    with pytest.raises(TimeoutError, match=str(tmp_path)):
        gpu_pool.acquire(2, ["0", "1"], tmp_path, timeout=0.2, job="two-gpu job")
    free = gpu_pool.try_lock(gpu_pool.lock_file(tmp_path, "0"))
    assert free is not None, "device 0 must not stay locked by the failed 2-GPU request"
    os.close(free)
    os.close(other)
    with pytest.raises(RuntimeError, match="asks for 3 GPUs but only 2 are visible"):
        gpu_pool.acquire(3, ["0", "1"], tmp_path, timeout=None, job="three-gpu job")


def test_zero_gpus_hide_every_device(env):
    env["CUDA_VISIBLE_DEVICES"] = "1"
    done = pool(env, "-n", "0")
    assert done.returncode == 0 and done.stdout == "''\n"


@pytest.mark.parametrize("switch", [{"SLURM_JOB_ID": "4242"}, {"GPU_POOL": "off"}])
def test_slurm_or_off_passes_devices_through(env, switch):
    env.update(switch, CUDA_VISIBLE_DEVICES="2")
    done = pool(env, "-n", "1")
    assert done.returncode == 0 and done.stdout == "'2'\n", done.stderr
    assert not Path(env["GPU_POOL_LOCK_DIR"]).exists(), "passing through takes no locks"


def test_no_visible_gpu_runs_on_cpu_unless_a_gpu_is_required(env):
    del env["GPU_POOL_DEVICES"]
    env["CUDA_VISIBLE_DEVICES"] = ""
    done = pool(env, "-n", "4")
    assert done.returncode == 0 and done.stdout == "''\n"
    assert "running on the CPU" in done.stderr
    refused = pool(env, "-n", "1", "--require-gpu")
    assert refused.returncode == 1 and "no GPU is visible" in refused.stderr and refused.stdout == ""


def test_device_discovery_order_and_parsing(monkeypatch):
    monkeypatch.setattr(gpu_pool, "nvidia_smi_devices", lambda: ["0", "1"])
    assert gpu_pool.visible_devices({}) == ["0", "1"]
    assert gpu_pool.visible_devices({"CUDA_VISIBLE_DEVICES": "3, 5"}) == ["3", "5"]
    assert gpu_pool.visible_devices({"GPU_POOL_DEVICES": "7", "CUDA_VISIBLE_DEVICES": "3"}) == ["7"]
    assert gpu_pool.visible_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert gpu_pool.parse_device_list("0,1,-1,2") == ["0", "1"]
    listing = (
        "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)\n"
        "  MIG 3g.40gb     Device  0: (UUID: MIG-bbbb)\n"
        "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-cccc)\n"
    )
    assert gpu_pool.parse_nvidia_smi(listing) == ["0", "1"]


def test_torchrun_argv_for_multi_gpu_jobs_only():
    cmd = ["python", "-m", "vifi", "train", "--out", "m.pt"]
    launcher = [
        "python",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
    ]
    assert gpu_pool.launch_argv(cmd, 2, torchrun=True) == [*launcher, "-m", "vifi", "train", "--out", "m.pt"]
    assert gpu_pool.launch_argv(["python3", "run.py", "-x"], 2, torchrun=True)[-2:] == ["run.py", "-x"]
    assert gpu_pool.launch_argv(cmd, 1, torchrun=True) == cmd
    assert gpu_pool.launch_argv(cmd, 2, torchrun=False) == cmd
    for bad in (["bash", "-c", "x"], ["python", "-c", "x"], ["python", "-m"]):
        with pytest.raises(ValueError, match="--torchrun needs"):
            gpu_pool.launch_argv(bad, 2, torchrun=True)
