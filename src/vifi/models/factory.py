"""One constructor for every method, so training and evaluation cannot build a model differently.

A method is its catalog entry (`vifi.catalog`): the entry names the model class, which builds the model
around the CLIP, loads its starting or trained weights, and says which module holds its checkpoint. The CLIP
methods are `VideoCLIP` around the pretrained CLIP (METHODS.md §1); prompting is `PromptedCLIP` around a
ViFi-CLIP bridge checkpoint (§2); EVL is `OpenVocabEVL`, a frozen CLIP plus the EVL decoder scored against
CLIP text embeddings (§7), behind the same `(video, text_features)` interface.

A method's extra architecture settings (prompt counts and depths, EVL's decoder depth) are the `options` of its
entry, each a flag of `vifi train` and `vifi evaluate` (`vifi.stages.modelargs`), required for that method and
refused for the others, so that a run's record never carries settings that had nothing to do with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from torch import nn

from vifi.catalog import methods as method_catalog
from vifi.models.pretrained import build_clip


@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes a model's architecture; the weights come separately.

    `options` are the values of the method's catalog options (sorted name-value pairs, so that equal specs
    compare and hash equal), and exactly those: no more, no fewer.
    """

    method: str
    arch: str
    num_frames: int
    options: tuple[tuple[str, int], ...] = ()
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        entry = method_catalog.method(self.method)
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))
        given, needed = {k for k, _ in self.options}, set(entry.options)
        if given != needed:
            want, got = sorted(needed) or "none", sorted(given) or "none"
            raise ValueError(f"method {self.method} needs the options {want}, got {got}")


def _model(spec: ModelSpec, clip: nn.Module, tokenizer) -> nn.Module:
    """`spec`'s model around `clip`, without loading anything."""
    if spec.grad_checkpointing:
        clip.set_grad_checkpointing(True)
    entry = method_catalog.method(spec.method)
    return entry.model_class().build(clip, tokenizer, spec, entry)


def build_model(spec: ModelSpec, weights: str | Path, *, trained: bool = False) -> nn.Module:
    """The method's model with its trainable subset, loaded from `weights`.

    `trained=False` gives the starting point of training (pretrained CLIP; bridge checkpoint for prompting),
    `trained=True` a model saved by `vifi train` for evaluation. Loads are strict: only a prompt model's
    prompts may be missing (they keep their initialisation, as in the paper's bridge step).
    """
    path = Path(weights)
    clip, tokenizer = build_clip(spec.arch, path)
    model = _model(spec, clip, tokenizer)
    model.load(path, trained=trained)
    return model


def unloaded_model(spec: ModelSpec, clip: nn.Module, tokenizer) -> nn.Module:
    """`spec`'s architecture around a given CLIP, weights untouched (FLOP counting on the `meta` device)."""
    return _model(spec, clip, tokenizer)


def saved_module(model: nn.Module) -> nn.Module:
    """The module whose state dict is a method's checkpoint and resume point (its class decides)."""
    return model.checkpoint_module()


def option_flags() -> dict[str, str]:
    """Every method's option, as `--flag` -> the methods that take it."""
    found: dict[str, list[str]] = {}
    for code, entry in method_catalog.methods().items():
        for name in entry.options:
            found.setdefault(name, []).append(code)
    return {name: ", ".join(codes) for name, codes in found.items()}


def option_flag(option: str) -> str:
    return f"--{option.replace('_', '-')}"


class ModelArgsError(ValueError):
    """Model flags that do not fit the method: one it needs is missing, or one of another method is given."""


class ModelSettings(Protocol):
    """A run's model settings as `vifi train`, `vifi evaluate` and `vifi embed` take them: `options` holds every
    catalog option by name, None where the run does not set it."""

    @property
    def method(self) -> str: ...
    @property
    def arch(self) -> str: ...
    @property
    def num_frames(self) -> int: ...
    @property
    def options(self) -> Mapping[str, int | None]: ...
    @property
    def grad_checkpointing(self) -> bool: ...


def model_spec(
    method: str,
    arch: str,
    num_frames: int,
    options: Mapping[str, int | None],
    grad_checkpointing: bool = False,
) -> ModelSpec:
    """The `ModelSpec` of a run's model settings, `options` holding every catalog option (None where unset);
    `ModelArgsError` names the options missing or out of place, by the flags that set them (what a user of the
    stages has to change)."""
    own, owners = method_catalog.method(method).options, option_flags()
    given = {name for name in owners if options.get(name) is not None}
    if missing := [option_flag(n) for n in own if n not in given]:
        raise ModelArgsError(f"--method {method} needs {' '.join(missing)}")
    for name in sorted(given - set(own)):
        raise ModelArgsError(f"{option_flag(name)} only applies to --method {owners[name]}, not {method}")
    chosen = {name: options[name] for name in own}
    return ModelSpec(method, arch, num_frames, chosen, grad_checkpointing)


def spec_of(settings: ModelSettings) -> ModelSpec:
    """The `ModelSpec` of a run's settings (`model_spec`)."""
    return model_spec(
        settings.method, settings.arch, settings.num_frames, settings.options, settings.grad_checkpointing
    )
