"""The model flags `vifi train`, `vifi evaluate`, `vifi embed` and `vifi flops` share, so all build the same
model, and the typed settings the library takes in their place."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from vifi.catalog import methods as method_catalog
from vifi.models.factory import ModelSpec, model_spec, option_flag, option_flags
from vifi.models.pretrained import OPENAI_ARCH


def add_model_args(parser: argparse.ArgumentParser, methods: tuple[str, ...] | None = None) -> None:
    """The architecture flags `vifi train` and `vifi evaluate` share, so both build the same model."""
    parser.add_argument(
        "--arch",
        required=True,
        help=f"open_clip architecture, e.g. ViT-B-16-quickgelu, or {OPENAI_ARCH!r}: the one the weights hold",
    )
    parser.add_argument("--method", choices=methods or tuple(method_catalog.methods()), required=True)
    parser.add_argument("--num-frames", type=int, required=True)
    for name, codes in option_flags().items():
        parser.add_argument(option_flag(name), type=int, help=f"with --method {codes}, and required there")
    parser.add_argument(
        "--grad-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="recompute block activations in backward: less memory, about a third more compute",
    )


def model_options(args: argparse.Namespace) -> dict[str, int | None]:
    """Every catalog option's flag value, None where not given (the run's record names them all)."""
    return {name: getattr(args, name) for name in option_flags()}


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The `ModelSpec` named by `add_model_args` flags; `ModelArgsError` names flags missing or out of place."""
    return model_spec(args.method, args.arch, args.num_frames, model_options(args), args.grad_checkpointing)


def config_from_args(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """A frozen settings dataclass `cls` from parsed flags: each field from the flag of its name, `options` from
    the model's option flags, `values` overriding either."""
    given = {**vars(args), "options": model_options(args), **values}
    return cls(**{field.name: given[field.name] for field in dataclasses.fields(cls)})
