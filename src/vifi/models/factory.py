"""One constructor for every method, so training and evaluation cannot build a model differently.

Each method name maps to a model class and to the weights it starts from:

- `vanilla`, `image`, `text`, `vifi`: `VideoCLIP` around the pretrained CLIP (METHODS.md §1);
- `prompt`: `PromptedCLIP` around a ViFi-CLIP bridge checkpoint, only the prompts train (§2);
- `evl`: `OpenVocabEVL`, a frozen CLIP plus the EVL decoder scored against CLIP text embeddings (§7), so it
  runs the open-set protocols behind the same `(video, text_features)` interface.

The module that holds a method's saved state is `saved_module(model)`: the CLIP (prompts included) for the
CLIP methods, so a fine-tuned checkpoint has the same layout as the pretrained one and can be a bridge; the
whole model for EVL, whose decoder lives outside the CLIP.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

from torch import nn

from vifi.models.evl import EVLConfig, OpenVocabEVL
from vifi.models.pretrained import OPENAI_ARCH, WeightsError, build_clip, load_weights, read_state_dict
from vifi.models.prompts import PromptedCLIP, load_prompted_weights
from vifi.models.vificlip import METHODS as CLIP_METHODS
from vifi.models.vificlip import VideoCLIP

METHODS = (*CLIP_METHODS, "prompt", "evl")
EVL_PREFIX = "decoder."


@dataclass(frozen=True)
class PromptSettings:
    """Prompt counts and depths (METHODS.md §2.3: 16/16 at depth 9 base-to-novel, 10/10 at 12 few-shot)."""

    n_ctx_vision: int = 16
    n_ctx_text: int = 16
    depth_vision: int = 9
    depth_text: int = 9


@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes a model's architecture; the weights come separately."""

    method: str
    arch: str
    num_frames: int
    prompt: PromptSettings = PromptSettings()
    evl_layers: int = 4
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")


def _evl(clip: nn.Module, tokenizer, spec: ModelSpec) -> OpenVocabEVL:
    return OpenVocabEVL(clip, tokenizer, EVLConfig(num_frames=spec.num_frames, num_layers=spec.evl_layers))


def _load_evl(model: OpenVocabEVL, path: Path, trained: bool) -> None:
    """A trained EVL file holds the whole model; an initial one is a CLIP checkpoint for the backbone."""
    if not trained:
        load_weights(model.clip, path)
        return
    state = read_state_dict(path)
    if not any(k.startswith(EVL_PREFIX) for k in state):
        raise WeightsError(f"{path}: no EVL decoder weights ({EVL_PREFIX}*); is it a CLIP checkpoint?")
    load_weights(model, path)


def build_model(spec: ModelSpec, weights: str | Path, *, trained: bool = False) -> nn.Module:
    """The method's model with its trainable subset, loaded from `weights`.

    `trained=False` gives the starting point of training (pretrained CLIP; bridge checkpoint for `prompt`),
    `trained=True` a model saved by `vifi train` for evaluation. Loads are strict: only a prompt model's
    prompts may be missing (they keep their initialisation, as in the paper's bridge step).
    """
    path = Path(weights)
    clip, tokenizer = build_clip(spec.arch, path)
    if spec.grad_checkpointing:
        clip.set_grad_checkpointing(True)
    if spec.method == "evl":
        model = _evl(clip, tokenizer, spec)
        _load_evl(model, path, trained)
        return model
    if spec.method == "prompt":
        model = PromptedCLIP(clip, tokenizer, **asdict(spec.prompt))
        missing = load_prompted_weights(model, path)
        if trained and missing:
            raise WeightsError(f"{path}: a trained prompt model lacks its prompts {missing[:5]}")
        return model
    load_weights(clip, path)
    return VideoCLIP(clip, tokenizer, spec.method)


def saved_module(model: nn.Module) -> nn.Module:
    """The module whose state dict is a method's checkpoint and resume point (see the module docstring)."""
    return model if isinstance(model, OpenVocabEVL) else model.clip


def add_model_args(parser: argparse.ArgumentParser, methods: tuple[str, ...] = METHODS) -> None:
    """The architecture flags `vifi train` and `vifi evaluate` share, so both build the same model."""
    parser.add_argument(
        "--arch",
        required=True,
        help=f"open_clip architecture, e.g. ViT-B-16-quickgelu, or {OPENAI_ARCH!r}: the one the weights hold",
    )
    parser.add_argument("--method", choices=methods, required=True)
    parser.add_argument("--num-frames", type=int, required=True)
    parser.add_argument("--n-ctx-vision", type=int, default=PromptSettings.n_ctx_vision)
    parser.add_argument("--n-ctx-text", type=int, default=PromptSettings.n_ctx_text)
    parser.add_argument("--depth-vision", type=int, default=PromptSettings.depth_vision)
    parser.add_argument("--depth-text", type=int, default=PromptSettings.depth_text)
    parser.add_argument("--evl-layers", type=int, default=ModelSpec.evl_layers, help="EVL decoder depth")
    parser.add_argument(
        "--grad-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="recompute block activations in backward: less memory, about a third more compute",
    )


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The `ModelSpec` named by `add_model_args` flags."""
    prompt = PromptSettings(args.n_ctx_vision, args.n_ctx_text, args.depth_vision, args.depth_text)
    return ModelSpec(args.method, args.arch, args.num_frames, prompt, args.evl_layers, args.grad_checkpointing)
