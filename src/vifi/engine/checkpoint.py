"""Resumable training state, written atomically at the end of every epoch.

A job killed mid-run restarts from its last finished epoch with the same model, optimiser, schedule and RNG
streams. Everything is stored as tensors and plain containers, so it loads with `weights_only=True`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vifi.io import atomic_path


def rng_state() -> dict[str, Any]:
    """torch, numpy (timm's mixup draws from it) and python RNG states as weights-only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
            "kind": str(kind),
        },
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save(path: Path, **state: Any) -> None:
    """Atomically save a training state (model, optimizer, scheduler, epoch, rng, fingerprint)."""
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
