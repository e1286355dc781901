"""Measured FLOPs of one video view, one training clip and one class prompt, for every method.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode`, which counts matrix products and convolutions at
2 FLOPs per multiply-add (the convention of accelerator peak figures; papers that quote "GFLOPs" from fvcore
count multiply-adds, half as many). Two dispatch paths would hide work from the counter, so counting turns
them off: `nn.MultiheadAttention`'s fused inference kernel (open_clip's blocks in eval mode on CPU/GPU) and
the CPU flash kernel of `scaled_dot_product_attention` (EVL's decoder), which have no FLOP formula.

Models are counted on the `meta` device, so a ViT-B/16 clip of 32 frames costs no compute at all. Only the
token ids stay real (on CPU): prompt models check their placeholder slots, and an embedding lookup with CPU
ids into meta weights gives meta activations. Training cost is *measured* as forward plus backward of one
clip, not approximated as 3x forward: what backward costs depends on what trains (the frozen EVL backbone
has none, prompts need input gradients only).

Text encoding is reported per class prompt, apart from the per-view cost: evaluation encodes a class list
once, and training re-encodes it once per mini-batch only when the text side trains (`text_trains`).
The command line is `vifi flops` (`vifi.stages.flops`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from vifi.models.factory import ModelSpec, unloaded_model
from vifi.models.pretrained import build_clip

GIGA = 1e9


@contextmanager
def _countable_attention() -> Iterator[None]:
    """Route attention through kernels the counter has formulas for (see the module docstring)."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def count_flops(fn: Callable[[], object]) -> FlopCounterMode:
    """Run `fn` under a FLOP counter and return the counter (totals and per-module counts).

    Gradients stay enabled: the counter's module tracker fails on parameter views made under `no_grad`, and
    recording the graph adds no FLOPs.
    """
    with FlopCounterMode(display=False) as counter, _countable_attention(), torch.enable_grad():
        fn()
    return counter


def _flops(counter: FlopCounterMode, model: nn.Module, within: str | None) -> int:
    """Total FLOPs, or only those spent inside `model`'s submodule named `within` (e.g. `"decoder"`)."""
    if within is None:
        return counter.get_total_flops()
    counts = counter.get_flop_counts().get(f"{type(model).__name__}.{within}", {})
    return sum(counts.values())


def forward_flops(
    model: nn.Module, video: torch.Tensor, text_features: torch.Tensor, *, within: str | None = None
) -> int:
    """FLOPs of one `model(video, text_features)` in eval mode; text encoding is not part of it."""
    model.eval()
    counter = count_flops(lambda: model(video, text_features))
    return _flops(counter, model, within)


def train_flops(model: nn.Module, video: torch.Tensor, text_features: torch.Tensor) -> int:
    """Measured forward + backward FLOPs of one training step on `video`, text encoding excluded.

    Gradients reach only what trains; pass `text_features` with `requires_grad` when the text side trains,
    so the logits' backward into it is counted too.
    """
    model.train()

    def step() -> None:
        logits = model(video, text_features)
        if logits.requires_grad:
            logits.sum().backward()

    return count_flops(step).get_total_flops()


def text_flops(model: nn.Module, tokens: torch.Tensor, *, train: bool = False) -> int:
    """FLOPs of encoding the prompts `tokens` `(K, context)`; with `train`, plus the backward when it trains."""
    model.train(train)

    def encode() -> None:
        features = model.encode_text(tokens)
        if train and features.requires_grad:
            features.sum().backward()

    return count_flops(encode).get_total_flops()


@functools.cache
def _meta_clip(arch: str, weights: Path | None) -> tuple[nn.Module, object]:
    """One CLIP per architecture, built once (random init is the slow part) and moved to `meta`."""
    clip, tokenizer = build_clip(arch, weights)
    return clip.to("meta"), tokenizer


def meta_model(spec: ModelSpec, weights: Path | None = None) -> nn.Module:
    """`spec`'s model on the `meta` device: the architecture of `build_model`, without any weights.

    `weights` is read only for `--arch openai`, whose architecture is the checkpoint's.
    """
    template, tokenizer = _meta_clip(spec.arch, weights)
    clip = copy.deepcopy(template)
    model = unloaded_model(spec, clip, tokenizer)
    return model.to("meta")  # the wrappers create their own parameters (prompts, decoder) on CPU


@dataclass(frozen=True)
class ViewCost:
    """FLOPs of one method at one frame count: per view, per training clip, per class prompt."""

    spec: ModelSpec
    forward: int  # one view of T frames, text encoding excluded
    train: int  # forward + backward of one training clip, text encoding excluded
    text_forward: int  # encoding one class prompt
    text_train: int  # forward + backward of one class prompt per training mini-batch; 0 when text is frozen
    decoder: int  # EVL: the part of `forward` spent in the decoder; 0 for the CLIP methods

    @property
    def text_trains(self) -> bool:
        return self.text_train > 0


def measure(spec: ModelSpec, weights: Path | None = None) -> ViewCost:
    """Count `spec`'s costs at the CLIP's own input size (224 px for ViT-B/16); `weights` as `meta_model`."""
    model = meta_model(spec, weights)
    tokens = model.tokenize(["class"])  # every prompt is padded to the context length, so any name will do
    text_forward = text_flops(model, tokens)
    text_train = text_flops(model, tokens, train=True) if model.text_trains else 0
    visual = model.clip.visual
    video = torch.empty(1, spec.num_frames, 3, *visual.image_size, device="meta")
    text = torch.empty(1, visual.output_dim, device="meta")
    forward = forward_flops(model, video, text)
    has_decoder = isinstance(getattr(model, "decoder", None), nn.Module)  # EVL's, outside the CLIP
    decoder = forward_flops(model, video, text, within="decoder") if has_decoder else 0
    train = train_flops(model, video, text.requires_grad_(model.text_trains))
    return ViewCost(spec, forward, train, text_forward, text_train, decoder)


def describe(cost: ViewCost) -> str:
    """The CLI's report: GFLOPs per view first, then training and text costs."""
    spec = cost.spec
    lines = [
        f"{spec.method} {spec.arch} {spec.num_frames} frames: {cost.forward / GIGA:.1f} GFLOPs/view",
        f"  training clip (forward+backward, measured): {cost.train / GIGA:.1f} GFLOPs "
        f"({cost.train / cost.forward:.2f} x forward)",
        f"  text, per class prompt: {cost.text_forward / GIGA:.2f} GFLOPs forward, "
        + (f"{cost.text_train / GIGA:.2f} forward+backward" if cost.text_trains else "frozen in training"),
    ]
    if cost.decoder:
        lines.append(f"  of the view, EVL decoder: {cost.decoder / GIGA:.1f} GFLOPs")
    lines.append("  (2 FLOPs per multiply-add; fvcore-style 'GFLOPs' count multiply-adds, half these numbers)")
    return "\n".join(lines)
