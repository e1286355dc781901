"""The paper's optimiser and learning-rate schedule (METHODS.md §3.1), shared by every training stage.

AdamW with one parameter group (decay on everything that trains, as released) and timm's cosine schedule
stepped per optimiser step with the *unshifted* iteration index, which reproduces the released drop in LR at
the end of warmup. Two ablation switches depart from the release: `exclude_from_decay` (the usual zero-decay
group for biases, norms, embeddings, `logit_scale` and prompts) and `warmup_jump=False` (the cosine starts
where warmup ends). EVL's schedule (§7.2, cosine to 0 without warmup) is `min_lr_ratio=0, warmup_epochs=0`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from timm.scheduler import CosineLRScheduler

# Name fragments of embedding tables and vectors: CLIP's token/class/positional embeddings, EVL's temporal one.
EMBEDDING_NAMES = ("embedding", "positional", "pos_embed")
# Dotted name components that are never decayed under `exclude_from_decay`, whatever their shape.
NO_DECAY_COMPONENTS = ("logit_scale", "prompts")


def decays(name: str, param: torch.nn.Parameter) -> bool:
    """Whether `name` belongs in the decayed group when decay exclusions are on.

    Vectors and scalars (biases, norm weights, `logit_scale`) and embeddings are excluded because decay pulls
    them towards zero, which has no regularising meaning for a shift, a scale or a lookup table; prompts are
    excluded because they are the whole trainable model in prompting runs.
    """
    components = name.split(".")
    return (
        param.ndim > 1
        and not any(fragment in name for fragment in EMBEDDING_NAMES)
        and not any(component in components for component in NO_DECAY_COMPONENTS)
    )


def adamw(
    named_params: Iterable[tuple[str, torch.nn.Parameter]],
    lr: float,
    weight_decay: float,
    *,
    betas: tuple[float, float] = (0.9, 0.98),
    exclude_from_decay: bool = False,
) -> torch.optim.AdamW:
    """AdamW (eps 1e-8) over the parameters that require grad: one group, or decay/no-decay groups.

    The fused kernel computes the same update in one pass; on CPU it is several times faster than the
    per-tensor loop, which matters for CLIP's 49k-row token-embedding table.
    """
    trainable = [(name, p) for name, p in named_params if p.requires_grad]
    if exclude_from_decay:
        groups = [
            {"params": [p for name, p in trainable if decays(name, p)], "weight_decay": weight_decay},
            {"params": [p for name, p in trainable if not decays(name, p)], "weight_decay": 0.0},
        ]
        params = [group for group in groups if group["params"]]
    else:
        params = [p for _, p in trainable]
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=1e-8, weight_decay=weight_decay, fused=True)


def cosine(
    optimizer: torch.optim.Optimizer,
    lr: float,
    epochs: int,
    warmup_epochs: int,
    iters_per_epoch: int,
    *,
    warmup_jump: bool = True,
    min_lr_ratio: float = 0.01,
) -> CosineLRScheduler:
    """timm cosine to `lr * min_lr_ratio` with linear warmup from 0, in iterations.

    Call `step_update(epoch*I + idx)`. With `warmup_jump` the cosine is evaluated at the unshifted t, so the
    LR drops at t = W as released; without it the cosine spans the `epochs - warmup_epochs` epochs after
    warmup and starts from `lr`. Both end at `epochs * I`, where timm returns the floor exactly.
    """
    if not warmup_jump and epochs <= warmup_epochs:
        raise ValueError(f"a shifted cosine needs epochs > warmup_epochs, got {epochs} and {warmup_epochs}")
    cosine_epochs = epochs if warmup_jump else epochs - warmup_epochs
    return CosineLRScheduler(
        optimizer,
        t_initial=cosine_epochs * iters_per_epoch,
        lr_min=lr * min_lr_ratio,
        warmup_lr_init=0.0,
        warmup_t=warmup_epochs * iters_per_epoch,
        cycle_limit=1,
        t_in_epochs=False,
        warmup_prefix=not warmup_jump,
    )
