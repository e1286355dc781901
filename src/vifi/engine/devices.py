"""Device choice and mixed precision, so the same code runs on a laptop CPU and on a GPU node.

CUDA runs under bf16 autocast (no loss scaling needed, master weights stay fp32); CPU runs in fp32, because
CPU autocast brings no speed here and would make CPU results differ from what the tests pin down.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def pick_device() -> torch.device:
    """The first visible CUDA device if there is one, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, a no-op elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch: the paper fixes one seed (1024) plus the process rank."""
    rank = int(os.environ.get("RANK", "0"))
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)
