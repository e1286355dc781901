"""The released LR schedule, including the drop at the end of warmup (METHODS.md §3.1)."""

import math

import pytest
import torch

from vifi.engine import schedule


def _lr_at(t: int, lr: float = 1.0, epochs: int = 10, warmup: int = 5, iters: int = 4) -> float:
    opt = schedule.adamw([torch.nn.Parameter(torch.zeros(1))], lr, 0.001)
    sched = schedule.cosine(opt, lr, epochs, warmup, iters)
    sched.step_update(t)
    return opt.param_groups[0]["lr"]


def test_optimizer_is_one_group_with_paper_betas():
    opt = schedule.adamw([torch.nn.Parameter(torch.zeros(1))], 0.1, 0.001)
    assert len(opt.param_groups) == 1
    assert opt.param_groups[0]["betas"] == (0.9, 0.98) and opt.param_groups[0]["eps"] == 1e-8


@pytest.mark.parametrize("t", [0, 1, 10, 19])
def test_linear_warmup_from_zero(t):
    assert _lr_at(t) == pytest.approx(t / 20)


def test_cosine_uses_unshifted_t_so_lr_drops_at_end_of_warmup():
    """With 10 epochs and 5 warmup epochs the LR falls from ~LR to ~0.505 LR at t = W."""
    expected = 0.01 + 0.5 * (1 - 0.01) * (1 + math.cos(math.pi * 20 / 40))
    assert _lr_at(20) == pytest.approx(expected)
    assert expected == pytest.approx(0.505, abs=1e-3)
    assert _lr_at(39) == pytest.approx(0.01 + 0.5 * 0.99 * (1 + math.cos(math.pi * 39 / 40)))
