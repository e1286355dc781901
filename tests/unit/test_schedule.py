"""The released LR schedule and its ablation switches (METHODS.md §3.1, §7.2), and AdamW's decay groups."""

import itertools
import math

import pytest
import torch

from vifi.engine import schedule


def _param(*shape: int) -> list[tuple[str, torch.nn.Parameter]]:
    return [("w", torch.nn.Parameter(torch.zeros(*shape)))]


def _lrs(ts, lr=1.0, epochs=10, warmup=5, iters=4, **kwargs) -> list[float]:
    opt = schedule.adamw(_param(1), lr, 0.001)
    sched = schedule.cosine(opt, lr, epochs, warmup, iters, **kwargs)
    out = []
    for t in ts:
        sched.step_update(t)
        out.append(opt.param_groups[0]["lr"])
    return out


def _lr_at(t: int, **kwargs) -> float:
    return _lrs([t], **kwargs)[0]


def test_optimizer_is_one_group_with_paper_betas():
    opt = schedule.adamw(_param(1), 0.1, 0.001)
    assert len(opt.param_groups) == 1
    assert opt.param_groups[0]["betas"] == (0.9, 0.98) and opt.param_groups[0]["eps"] == 1e-8
    assert opt.param_groups[0]["fused"] is True
    assert schedule.adamw(_param(1), 0.1, 0.05, betas=(0.9, 0.999)).param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("t", [0, 1, 10, 19])
def test_linear_warmup_from_zero(t):
    assert _lr_at(t) == pytest.approx(t / 20)


def test_cosine_uses_unshifted_t_so_lr_drops_at_end_of_warmup():
    """With 10 epochs and 5 warmup epochs the LR falls from ~LR to ~0.505 LR at t = W."""
    expected = 0.01 + 0.5 * (1 - 0.01) * (1 + math.cos(math.pi * 20 / 40))
    assert _lr_at(20) == pytest.approx(expected)
    assert expected == pytest.approx(0.505, abs=1e-3)
    assert _lr_at(39) == pytest.approx(0.01 + 0.5 * 0.99 * (1 + math.cos(math.pi * 39 / 40)))


def test_without_jump_warmup_reaches_lr_and_cosine_decays_from_there():
    lrs = _lrs(range(41), warmup_jump=False)
    assert lrs[:20] == pytest.approx([t / 20 for t in range(20)])
    assert lrs[20] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(lrs[20:]))
    assert lrs[30] == pytest.approx(0.01 + 0.5 * 0.99)  # halfway through the 20 cosine iterations
    assert lrs[40] == pytest.approx(0.01)


def test_evl_schedule_starts_at_lr_and_reaches_zero():
    """EVL: no warmup, cosine to 0; timm's LR at the last step is the cosine there, 0 exactly one step later."""
    lrs = _lrs(range(41), epochs=10, warmup=0, min_lr_ratio=0.0)
    assert lrs[0] == 1.0
    assert lrs[39] == pytest.approx(0.5 * (1 + math.cos(math.pi * 39 / 40)))
    assert lrs[40] == 0.0


def test_shifted_schedule_needs_epochs_after_warmup():
    with pytest.raises(ValueError, match="epochs > warmup_epochs"):
        _lr_at(0, epochs=5, warmup=5, warmup_jump=False)


def _named_model() -> list[tuple[str, torch.nn.Parameter]]:
    def p(*shape: int) -> torch.nn.Parameter:
        return torch.nn.Parameter(torch.zeros(shape))

    frozen = p(4, 4)
    frozen.requires_grad_(False)
    return [
        ("visual.conv1.weight", p(8, 3, 2, 2)),
        ("transformer.resblocks.0.mlp.c_fc.weight", p(16, 4)),
        ("transformer.resblocks.0.mlp.c_fc.bias", p(16)),
        ("transformer.resblocks.0.ln_1.weight", p(4)),
        ("token_embedding.weight", p(10, 4)),
        ("visual.positional_embedding", p(5, 4)),
        ("visual.class_embedding", p(4)),
        ("decoder.blocks.0.temporal_pos_embed", p(8, 4)),
        ("logit_scale", p()),
        ("clip.prompts.vision.0", p(2, 4)),
        ("prompts.text.1", p(2, 4)),
        ("visual.proj", frozen),
    ]


def test_exclude_from_decay_splits_matrices_from_the_rest():
    named = _named_model()
    by_id = {id(p): name for name, p in named}
    opt = schedule.adamw(named, 0.1, 0.05, exclude_from_decay=True)
    decayed, plain = ({by_id[id(p)] for p in g["params"]} for g in opt.param_groups)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    assert decayed == {"visual.conv1.weight", "transformer.resblocks.0.mlp.c_fc.weight"}
    assert plain == {name for name, p in named if p.requires_grad} - decayed


def test_default_decays_every_trainable_parameter_and_skips_frozen_ones():
    named = _named_model()
    opt = schedule.adamw(named, 0.1, 0.05)
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 0.05
    assert len(opt.param_groups[0]["params"]) == len(named) - 1
    assert all(p.requires_grad for p in opt.param_groups[0]["params"])
