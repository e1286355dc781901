"""Shared test helpers: the repository root and a way to run the project's tools from its virtualenv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool_env(cwd: Path | None = None) -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first, a fixed git identity, no analytics.

    With `cwd`, the `vifi` package is imported from `cwd/src`, so a copied checkout runs its own code.
    """
    env = dict(os.environ)
    if cwd is not None and (cwd / "src" / "vifi").is_dir():
        env["PYTHONPATH"] = str(cwd / "src")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_AUTHOR_NAME="vifi-tests",
        GIT_AUTHOR_EMAIL="tests@vifi.invalid",
        GIT_COMMITTER_NAME="vifi-tests",
        GIT_COMMITTER_EMAIL="tests@vifi.invalid",
        DVC_NO_ANALYTICS="1",
    )
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command, returning its combined output; on failure the output is in the assertion message."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=tool_env(cwd), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def root() -> Path:
    return ROOT
