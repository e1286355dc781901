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
    """Prompt counts and depths (METHODS.md §2.3: 16/16 at depth 9 base-to-novel, 10/10 at 12 few-shot).

    No defaults: the paper's values do not fit the demo CLIP, and params.yaml (`prompt:`) is their one home.
    """

    n_ctx_vision: int
    n_ctx_text: int
    depth_vision: int
    depth_text: int


# The flags `add_model_args` adds for prompting and EVL, which only those methods need.
PROMPT_FLAGS = ("n_ctx_vision", "n_ctx_text", "depth_vision", "depth_text")
EVL_FLAGS = ("evl_layers",)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes a model's architecture; the weights come separately.

    Prompting needs `prompt` and EVL `evl_layers`; other methods ignore them, and `spec_from_args` leaves them
    unset there, so that a run's record never carries settings that had nothing to do with it.
    """

    method: str
    arch: str
    num_frames: int
    prompt: PromptSettings | None = None
    evl_layers: int | None = None
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        if self.method == "prompt" and self.prompt is None:
            raise ValueError("method prompt needs its prompt counts and depths (PromptSettings)")
        if self.method == "evl" and self.evl_layers is None:
            raise ValueError("method evl needs its decoder depth (evl_layers)")


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
    for flag in PROMPT_FLAGS:
        parser.add_argument(
            f"--{flag.replace('_', '-')}", type=int, help="with --method prompt, and required there"
        )
    parser.add_argument(
        "--evl-layers", type=int, help="EVL decoder depth; with --method evl, and required there"
    )
    parser.add_argument(
        "--grad-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="recompute block activations in backward: less memory, about a third more compute",
    )


class ModelArgsError(ValueError):
    """Model flags that do not fit the method: one it needs is missing, or one of another method is given."""


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The `ModelSpec` named by `add_model_args` flags; `ModelArgsError` names flags missing or out of place."""
    for method, names in (("prompt", PROMPT_FLAGS), ("evl", EVL_FLAGS)):
        given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is not None]
        if args.method == method and len(given) < len(names):
            missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]
            raise ModelArgsError(f"--method {method} needs {' '.join(missing)}")
        if args.method != method and given:
            raise ModelArgsError(f"{' '.join(given)} only apply to --method {method}, not {args.method}")
    prompt = PromptSettings(*(getattr(args, n) for n in PROMPT_FLAGS)) if args.method == "prompt" else None
    evl_layers = args.evl_layers if args.method == "evl" else None
    return ModelSpec(args.method, args.arch, args.num_frames, prompt, evl_layers, args.grad_checkpointing)
