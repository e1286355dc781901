"""Provenance for every metrics file: which params, code, packages and device produced a number.

The papers' code leaves readers unable to tell which seeds or versions were used; each of our metrics files
answers that on its own.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import subprocess
from pathlib import Path

PACKAGES = ("torch", "torchvision", "open-clip-torch", "timm", "numpy", "decord", "av", "vifi-repro")


def git_commit(cwd: str | Path = ".") -> str:
    """The checkout's commit (with `-dirty` when it has local changes), or `unknown` outside git."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a number."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def record(params: dict, device: str) -> dict:
    """The provenance block stored in each metrics file."""
    return {
        "params": params,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "device": device,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
