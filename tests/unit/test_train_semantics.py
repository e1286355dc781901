"""Training details that a small, realistic bug breaks without any other test noticing (issue 18: four mutants
survived the suite): label smoothing without mixing, EVL's residual temporal conv, ViFi-CLIP's text encoded
anew every step, and gradient accumulation."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest
import torch

from tests.conftest import train_args
from vifi.engine import train
from vifi.models.evl import BlockFeatures, DecoderBlock, EVLConfig
from vifi.models.pretrained import build_clip, read_state_dict
from vifi.models.vificlip import VideoCLIP
from vifi.stages import train as train_stage

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_without_mixing_the_loss_is_label_smoothed_cross_entropy() -> None:
    """The paper code's fallback: (1 - e) * CE + e * the mean negative log-probability over classes."""
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, -0.4]])
    labels = torch.tensor([0, 2])
    logp = logits.log_softmax(dim=-1)
    nll = -logp.gather(1, labels[:, None]).squeeze(1)
    for smoothing in (0.1, 0.3):
        args = argparse.Namespace(mixup=0.0, cutmix=0.0, label_smoothing=smoothing)
        expected = ((1 - smoothing) * nll - smoothing * logp.mean(dim=-1)).mean()
        torch.testing.assert_close(train.criterion(args)(logits, labels), expected)
    plain = train.criterion(argparse.Namespace(mixup=0.0, cutmix=0.0, label_smoothing=0.0))(logits, labels)
    torch.testing.assert_close(plain, nll.mean())


def test_mixed_targets_carry_the_label_smoothing() -> None:
    """With mixup on, the smoothing lives in timm's soft targets: every class keeps at least e / K."""
    args = argparse.Namespace(mixup=0.8, cutmix=0.0, mixup_switch_prob=0.5, label_smoothing=0.1)
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
    _, targets = train.ClipMixup(args, num_classes=5)(torch.rand(4, 2, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
    assert float(targets.min()) == pytest.approx(0.1 / 5)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(4))


def test_the_temporal_conv_is_added_to_the_frame_features_not_put_in_their_place() -> None:
    """EVL (METHODS §7): frames + conv(frames). A conv that passes each frame through unchanged doubles it."""
    config = EVLConfig(num_frames=4, temporal_pos_embed=False, temporal_cross_attention=False)
    block = DecoderBlock(width=8, grid=(2, 2), heads=2, config=config)
    with torch.no_grad():
        block.temporal_conv.weight.zero_()
        block.temporal_conv.weight[:, 0, 1] = 1.0  # the centre tap: identity over time
        block.temporal_conv.bias.zero_()
    out = torch.randn(2, 4, 5, 8)
    mixed = block.temporal_features(BlockFeatures(out, out, out))
    torch.testing.assert_close(mixed, 2 * out)


def _text_tower(clip: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().clone() for n, p in clip.named_parameters() if n.startswith(("transformer.", "text_"))
    }


@pytest.mark.parametrize(("method", "text_trains"), [("vifi", True), ("text", True), ("image", False)])
def test_text_features_are_encoded_anew_each_step_exactly_when_the_text_tower_trains(
    method: str, text_trains: bool
) -> None:
    """Cached text features would turn ViFi-CLIP into image fine-tuning with its text weights never moving:
    count the text encodings per step and check the text weights after two optimiser steps."""
    torch.manual_seed(0)
    clip, tokenizer = build_clip("vifi-tiny")
    model = VideoCLIP(clip, tokenizer, method)
    step = train.ClassifyStep(model, model.tokenize(["red circle", "blue square", "green star"]))
    calls = []
    encode = model.encode_text
    model.encode_text = lambda tokens: calls.append(1) or encode(tokens)
    before = _text_tower(clip)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(step(torch.rand(2, 2, 3, 32, 32)), torch.tensor([0, 2]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert len(calls) == (2 if text_trains else 0)
    moved = [n for n, p in _text_tower(clip).items() if not torch.equal(p, before[n])]
    assert bool(moved) == text_trains


def flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every weight in one vector, less the attention key biases: softmax ignores a shift of all keys, so their
    gradient is zero up to rounding, which Adam's normalisation turns into full-size steps of random sign."""
    parts = []
    for key in sorted(state):
        tensor = state[key].clone()
        if key.endswith("attn.in_proj_bias"):
            third = tensor.numel() // 3
            tensor[third : 2 * third] = 0
        parts.append(tensor.flatten())
    return torch.cat(parts)


def _losses(path: Path) -> list[float]:
    with open(path, newline="") as fh:
        return [float(row["loss"]) for row in csv.DictReader(fh)]


def test_gradient_accumulation_equals_the_larger_batch(tiny_run: dict, tmp_path: Path) -> None:
    """Batch 2 accumulated twice is batch 4: the same optimiser steps and weights (at a constant LR, which both
    schedules give when the cosine ends where it starts), and each micro-batch logs its own unscaled loss.

    Paper mode on fewer GPUs than the paper's depends on this path; every other test runs accumulation 1.
    """
    weights = {}
    for batch in (2, 4):
        out = tmp_path / f"b{batch}"
        argv = train_args(tiny_run, out, epochs=1)[1:]
        for flag, value in {
            "--batch-size": batch, "--effective-batch": 4, "--mixup": 0, "--cutmix": 0,
            "--warmup-epochs": 0, "--min-lr-ratio": 1.0,
        }.items():  # fmt: skip
            argv[argv.index(flag) + 1] = str(value)
        assert train_stage.main(argv) == 0
        weights[batch] = read_state_dict(out / "model.pt")
        assert torch.load(out / "model.pt", weights_only=True)["meta"]["accumulation"] == 4 // batch
    assert weights[2].keys() == weights[4].keys()
    start = flat(read_state_dict(tiny_run["weights"]))
    update, gap = flat(weights[4]) - start, flat(weights[2]) - flat(weights[4])
    # Two half-batch gradients summed round differently from one batch's: the weights agree to float noise
    # (measured 1e-4 of the update), where stepping one micro-batch early is off by more than the update itself.
    assert update.norm() > 0.1 and gap.norm() < 1e-3 * update.norm()
    micro, full = _losses(tmp_path / "b2" / "log.csv"), _losses(tmp_path / "b4" / "log.csv")
    assert len(micro) == 2 * len(full) == 8
    pairs = [(a + b) / 2 for a, b in zip(micro[::2], micro[1::2], strict=True)]
    assert pairs == pytest.approx(full, rel=1e-4)
