"""The paper's optimiser and learning-rate schedule (METHODS.md §3.1), shared by every training stage.

AdamW with one parameter group (decay on everything that trains, as released) and timm's cosine schedule
stepped per optimiser step with the *unshifted* iteration index, which reproduces the released drop in LR at
the end of warmup.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from timm.scheduler import CosineLRScheduler


def adamw(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the paper's betas (0.9, 0.98) and eps 1e-8, one group.

    The fused kernel computes the same update in one pass; on CPU it is several times faster than the
    per-tensor loop, which matters for CLIP's 49k-row token-embedding table.
    """
    return torch.optim.AdamW(
        list(params), lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=weight_decay, fused=True
    )


def cosine(
    optimizer: torch.optim.Optimizer, lr: float, epochs: int, warmup_epochs: int, iters_per_epoch: int
) -> CosineLRScheduler:
    """timm cosine to lr/100 with linear warmup from 0, in iterations; call `step_update(epoch*I + idx)`."""
    return CosineLRScheduler(
        optimizer,
        t_initial=epochs * iters_per_epoch,
        lr_min=lr / 100,
        warmup_lr_init=0.0,
        warmup_t=warmup_epochs * iters_per_epoch,
        cycle_limit=1,
        t_in_epochs=False,
        warmup_prefix=False,
    )
