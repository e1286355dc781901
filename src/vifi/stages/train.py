"""`vifi train`: fine-tune a CLIP video model with the paper's recipe.

Usage:
    python -m vifi train --frames F... --train-list T --labels L --weights W --arch A --method M \\
        --num-frames N <one flag per recipe knob, all required> --out model.pt --log-csv train_log.csv

The recipe and what makes a run repeatable: `vifi.engine.train`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.catalog import methods as method_catalog
from vifi.data.frames.transforms import NORMALIZATION
from vifi.engine import train
from vifi.engine.train import TrainConfig, run
from vifi.models.factory import ModelArgsError
from vifi.stages.modelargs import add_model_args, config_from_args, spec_from_args


def parser() -> argparse.ArgumentParser:
    """CLI flags: one per recipe knob, so Snakemake's params trigger and DVC both see every input.

    Every flag that changes what is computed is required: params.yaml is the recipe's only home, and a stage
    run by hand must name the experiment rather than inherit a default that differs from it. Only flags that
    set how fast a run goes (threads, loader workers, resume points) have defaults.
    """
    p = argparse.ArgumentParser(prog="vifi train", description=train.__doc__.splitlines()[0])
    p.add_argument("--frames", type=Path, nargs="+", required=True, help="frame-store manifest or shard files")
    p.add_argument("--train-list", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True, help="label CSV of the training classes")
    p.add_argument("--weights", type=Path, required=True, help="initial weights (the bridge for `prompt`)")
    add_model_args(p, method_catalog.trained_methods())
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--warmup-epochs", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--weight-decay", type=float, required=True)
    p.add_argument(
        "--betas", type=float, nargs=2, required=True, help="AdamW betas (paper 0.9 0.98, EVL 0.9 0.999)"
    )
    p.add_argument(
        "--decay-exclusions",
        action=argparse.BooleanOptionalAction,
        required=True,
        help="no weight decay on biases, norms, embeddings, logit_scale, prompts (the release decays all)",
    )
    p.add_argument(
        "--warmup-jump",
        action=argparse.BooleanOptionalAction,
        required=True,
        help="the released unshifted cosine, whose LR drops at the end of warmup (METHODS §3.1)",
    )
    p.add_argument("--min-lr-ratio", type=float, required=True, help="final LR / peak LR (EVL: 0)")
    p.add_argument("--normalize", choices=sorted(NORMALIZATION), required=True)
    p.add_argument("--augment", choices=("vifi", "evl"), required=True, help="METHODS §4.3 or §7.2")
    p.add_argument("--sampling", choices=("segment", "dense"), required=True, help="§4.2 or EVL's §7.2")
    p.add_argument("--stride", type=int, required=True, help="frame stride of dense sampling")
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument(
        "--effective-batch",
        type=int,
        required=True,
        help="batch x accumulation x processes; accumulation is derived from it",
    )
    p.add_argument("--label-smoothing", type=float, required=True)
    p.add_argument("--mixup", type=float, required=True)
    p.add_argument("--cutmix", type=float, required=True)
    p.add_argument("--mixup-switch-prob", type=float, required=True)
    p.add_argument("--hflip", type=float, required=True)
    p.add_argument("--color-jitter", type=float, required=True)
    p.add_argument("--grayscale", type=float, required=True)
    p.add_argument("--rng-seed", type=int, required=True)
    p.add_argument(
        "--device-augment",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the crop's resize, flip, colour jitter, grayscale and normalisation as batched ops where the "
        "model runs (the same draws and clips; loader workers only read, decode and cut the crop); "
        "`--augment vifi` only",
    )
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--resume-interval",
        type=float,
        default=60.0,
        help="seconds between resume points, written at epoch ends (0: after every epoch); a resume point "
        "holds the model and optimiser, so short runs that save one per epoch spend their time writing it",
    )
    p.add_argument("--out", type=Path, required=True, help="final weights")
    p.add_argument("--log-csv", type=Path, required=True, help="per-step loss and LR")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi train`."""
    p = parser()
    args = p.parse_args(argv)
    if (args.mixup > 0 or args.cutmix > 0) and args.batch_size % 2:
        p.error(f"--batch-size must be even with mixup/cutmix (timm mixes pairs), got {args.batch_size}")
    if args.device_augment and args.augment != "vifi":
        p.error("--device-augment applies to the paper's augmentation (--augment vifi)")
    try:
        spec_from_args(args)
    except ModelArgsError as err:
        p.error(str(err))
    run(config_from_args(TrainConfig, args), sys.argv[1:] if argv is None else argv)
    return 0
