"""`python -m vifi.stages.gpu_pool -n N [--torchrun] -- cmd ...`: run a workflow job's command on N GPUs that no
concurrent job of this host holds (on the CPU where none is visible).

Usage:
    python -m vifi.stages.gpu_pool -n N [--lock-dir D] [--timeout S] [--torchrun] [--require-gpu] -- cmd ...

Why a job needs the pool and how devices are locked: `vifi.gpu_pool`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from vifi.gpu_pool import default_lock_dir, log, plan


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vifi.stages.gpu_pool",
        usage="%(prog)s -n N [--lock-dir D] [--timeout S] [--torchrun] [--require-gpu] -- cmd ...",
        description="Run cmd on N GPUs that no concurrent job of this host holds.",
    )
    p.add_argument("-n", type=int, required=True, help="number of GPUs (Snakemake's {resources.gpu})")
    p.add_argument("--lock-dir", type=Path, default=default_lock_dir(env), help="node-local lock directory")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for devices (default: forever)")
    p.add_argument("--torchrun", action="store_true", help="for N > 1 start N processes with torchrun")
    p.add_argument("--require-gpu", action="store_true", help="fail instead of running on the CPU")
    return p


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pool options before `--`, the job's command after it (so the command's own options stay its own)."""
    if "--" not in argv:
        return list(argv), []
    cut = list(argv).index("--")
    return list(argv[:cut]), list(argv[cut + 1 :])


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = dict(os.environ)
    own, cmd = split_argv(sys.argv[1:] if argv is None else argv)
    p = parser(env)
    opts = p.parse_args(own)
    if not cmd:
        p.error("no command given after --")
    if opts.n < 0:
        p.error(f"-n must be >= 0, got {opts.n}")
    try:
        exec_argv, held = plan(
            cmd,
            env,
            n=opts.n,
            torchrun=opts.torchrun,
            require_gpu=opts.require_gpu,
            lock_dir=opts.lock_dir,
            timeout=opts.timeout,
        )
    except (RuntimeError, TimeoutError, ValueError) as err:
        log.error("%s", err)
        return 1
    for fd in held.values():
        os.set_inheritable(fd, True)  # Python opens fds close-on-exec; the job must keep its locks
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(exec_argv[0], exec_argv, env)


if __name__ == "__main__":
    sys.exit(main())
