"""Resumable training state, written atomically at the end of every epoch.

A job killed mid-run restarts from its last finished epoch with the same model, optimiser and schedule; the
training loop derives every random draw from (seed, epoch, step), so no RNG state needs saving. Everything is
stored as tensors and plain containers, so it loads with `weights_only=True`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vifi.io import atomic_path


def save(path: Path, **state: Any) -> None:
    """Atomically save a training state (model, optimizer, scheduler, epoch, fingerprint)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The saved state if it exists and belongs to the same run configuration, else None."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        path.unlink()
        return None
    return state
