"""Give a job N GPUs that no concurrent job holds, then run it (`python -m vifi.stages.gpu_pool -n N -- cmd`).

Snakemake's `gpu` resource only counts devices: with `--resources gpu=4` it starts at most four 1-GPU jobs
at once but never says which device each should use, so every job would pick device 0. This wrapper takes
the device ids itself. Each device has a lock file; a job holds `flock`s on N of them and then `exec`s its
command with the lock descriptors inherited, so the locks live exactly as long as the job's process: the
kernel drops them when it exits, however it exits (SIGKILL and the OOM killer included), and nothing stale
is left to clean up. Devices are taken all or nothing: a 2-GPU job that gets one device releases it before
waiting again, so two multi-GPU jobs can never each hold half of what the other needs.

Where the devices come from, in order: `GPU_POOL_DEVICES` (a comma list; lets tests and odd hosts name them),
`CUDA_VISIBLE_DEVICES` (an outer mask the pool chooses within), `nvidia-smi -L`. With none visible the job
runs on the CPU, so the default profile's `resources: gpu=4` also works on a laptop and in CI; `--require-gpu`
turns that into an error. Under SLURM (`SLURM_JOB_ID` set) or with `GPU_POOL=off` the pool passes through:
SLURM already hands each job its own devices and renumbers them from 0 in every job, so locks on those
numbers would serialize jobs that do not share anything.

`--torchrun` starts N > 1 processes, one per device, with `python -m torch.distributed.run` (what the
`torchrun` script runs) under the interpreter the command names, so the launcher comes from the same
environment as the command. On the CPU the command runs as a single process: the training code keeps the
effective batch fixed through gradient accumulation whatever the world size.

Lock files live on a node-local file system (flock is not reliable on every network file system): by default
`$XDG_RUNTIME_DIR/vifi-gpu-pool-<uid>` or `/tmp/vifi-gpu-pool-<uid>`; `GPU_POOL_LOCK_DIR` or `--lock-dir`
choose another. Runs from different clones on one host share the default directory, and so share the GPUs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger("vifi.gpu_pool")

POLL_S = 0.1
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")


def default_lock_dir(env: Mapping[str, str]) -> Path:
    """Node-local and per user: `$GPU_POOL_LOCK_DIR`, else under `$XDG_RUNTIME_DIR`, else under /tmp."""
    if env.get("GPU_POOL_LOCK_DIR"):
        return Path(env["GPU_POOL_LOCK_DIR"])
    return Path(env.get("XDG_RUNTIME_DIR") or "/tmp") / f"vifi-gpu-pool-{os.getuid()}"


def parse_device_list(text: str) -> list[str]:
    """Ids from a comma list as CUDA reads it: blanks dropped, and a negative id hides it and all after it."""
    devices = []
    for item in (part.strip() for part in text.split(",")):
        if item.startswith("-"):
            break
        if item:
            devices.append(item)
    return devices


def parse_nvidia_smi(listing: str) -> list[str]:
    """Physical GPU indices from `nvidia-smi -L` lines such as `GPU 0: NVIDIA H100 (UUID: GPU-...)`."""
    return re.findall(r"^GPU (\d+):", listing, flags=re.MULTILINE)


def nvidia_smi_devices() -> list[str]:
    """The host's GPUs, or none where nvidia-smi is missing or fails (a machine without NVIDIA GPUs)."""
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(done.stdout)


def visible_devices(env: Mapping[str, str]) -> list[str]:
    """The devices this job may choose from: GPU_POOL_DEVICES, else CUDA_VISIBLE_DEVICES, else nvidia-smi."""
    for name in ("GPU_POOL_DEVICES", "CUDA_VISIBLE_DEVICES"):
        if name in env:
            return parse_device_list(env[name])
    return nvidia_smi_devices()


def lock_file(lock_dir: Path, device: str) -> Path:
    """One lock file per device id (ids may be UUIDs, so keep only file-name-safe characters)."""
    return lock_dir / f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def try_acquire(n: int, devices: Sequence[str], lock_dir: Path) -> dict[str, int] | None:
    """N devices with their lock fds, or None after releasing any partial grab."""
    held: dict[str, int] = {}
    for device in devices:
        fd = try_lock(lock_file(lock_dir, device))
        if fd is not None:
            held[device] = fd
            if len(held) == n:
                return held
    for fd in held.values():
        os.close(fd)
    return None


def holders(devices: Sequence[str], lock_dir: Path) -> str:
    """Who holds which device, from the note each holder writes into its lock file (stale once it is free)."""
    notes = []
    for device in devices:
        path = lock_file(lock_dir, device)
        fd = try_lock(path)
        if fd is not None:
            os.close(fd)
            continue
        with contextlib.suppress(OSError):
            notes.append(f"GPU {device}: {path.read_text().strip() or 'unknown'}")
    return "; ".join(notes) or "none (devices freed meanwhile)"


def acquire(n: int, devices: Sequence[str], lock_dir: Path, timeout: float | None, job: str) -> dict[str, int]:
    """Wait until N of `devices` are free and lock them; log once if the job has to wait."""
    if n > len(devices):
        raise RuntimeError(
            f"{job} asks for {n} GPUs but only {len(devices)} are visible ({','.join(devices)}); "
            "lower the global limit, e.g. snakemake --resources gpu=" + str(len(devices))
        )
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while (held := try_acquire(n, devices, lock_dir)) is None:
        if not waited:
            log.info(
                "%s waits for %d of GPUs %s; in use: %s", job, n, ",".join(devices), holders(devices, lock_dir)
            )
            waited = True
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"{job} got no {n} free GPUs among {','.join(devices)} within {timeout:g} s "
                f"(lock dir {lock_dir}; in use: {holders(devices, lock_dir)})"
            )
        time.sleep(POLL_S)
    for fd in held.values():
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {job}\n".encode())
    return held


def launch_argv(cmd: Sequence[str], nproc: int, torchrun: bool) -> list[str]:
    """The command itself, or for `torchrun` and N > 1 the same program under N torchrun processes.

    `python -m pkg args` becomes `python -m torch.distributed.run ... -m pkg args` and `python x.py args`
    becomes `python -m torch.distributed.run ... x.py args`.
    """
    if not torchrun or nproc <= 1:
        return list(cmd)
    target = list(cmd[1:])
    module = target[:1] == ["-m"] and len(target) > 1
    script = bool(target) and not target[0].startswith("-")
    if not _PYTHON.fullmatch(Path(cmd[0]).name) or not (module or script):
        raise ValueError(f"--torchrun needs a `python -m module ...` or `python script.py ...` command: {cmd}")
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", str(nproc)]
    return [cmd[0], *launcher, *target]


def plan(
    cmd: list[str],
    env: dict[str, str],
    *,
    n: int,
    torchrun: bool,
    require_gpu: bool,
    lock_dir: Path,
    timeout: float | None,
) -> tuple[list[str], dict[str, int]]:
    """The argv to exec for a job of `n` GPUs and the lock fds it must inherit; sets CUDA_VISIBLE_DEVICES in
    `env`. `timeout`: seconds to wait for devices (None: forever)."""
    job = shlex.join(cmd)
    launched = launch_argv(cmd, n, torchrun)
    if env.get("SLURM_JOB_ID") or env.get("GPU_POOL") == "off":
        why = f"SLURM job {env['SLURM_JOB_ID']}" if env.get("SLURM_JOB_ID") else "GPU_POOL=off"
        log.info("%s: using CUDA_VISIBLE_DEVICES=%r as given", why, env.get("CUDA_VISIBLE_DEVICES"))
        return launched, {}
    devices = visible_devices(env) if n > 0 else []
    if not devices:
        if n == 0:
            why = "the job was granted 0 GPUs (see snakemake --resources gpu=...)"
        else:
            why = "no GPU is visible (GPU_POOL_DEVICES, CUDA_VISIBLE_DEVICES and nvidia-smi -L list none)"
        if require_gpu:
            raise RuntimeError(f"--require-gpu: {job}: {why}")
        if n > 0:
            log.info("%s; running on the CPU with CUDA_VISIBLE_DEVICES='': %s", why, job)
        env["CUDA_VISIBLE_DEVICES"] = ""
        return list(cmd), {}
    held = acquire(n, devices, lock_dir, timeout, job)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(held)
    return launched, held
