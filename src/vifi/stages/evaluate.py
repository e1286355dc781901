"""`vifi evaluate`: evaluate a CLIP video model on labelled video lists and write each run's `metrics.json`.

Usage:
    python -m vifi evaluate --frames F... --weights W... --arch A --method M --num-frames N \\
        --eval NAME LIST LABELS [--eval ...] --normalize S --sampling S --stride K --batch-size B \\
        --protocol P --dataset D --run-name R... --out metrics.json... --predictions predictions.csv...
    [--dataset D2 --frames ... --eval ... --out ... --predictions ...]   more datasets in one process

What is scored and how: `vifi.engine.evaluate`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi import provenance
from vifi.data.frames.dataset import SAMPLING
from vifi.data.frames.transforms import EVAL_CROPS, NORMALIZATION
from vifi.engine import evaluate
from vifi.engine.evaluate import EvalConfig, run
from vifi.stages.argtypes import command_line, int_at_least, sections
from vifi.stages.modelargs import add_model_args, config_from_args, spec_from_args

PER_RUN = ("weights", "run_name", "out", "predictions")


def runs(args: argparse.Namespace) -> list[argparse.Namespace]:
    """One namespace per (weights, run name, out, predictions), each as if the run had been evaluated alone."""
    counts = {key: len(getattr(args, key)) for key in PER_RUN}
    if len(set(counts.values())) != 1:
        flags = ", ".join(f"{n} --{key.replace('_', '-')}" for key, n in counts.items())
        raise ValueError(f"--weights, --run-name, --out and --predictions need one value per run; got {flags}")
    per_run = zip(*(getattr(args, key) for key in PER_RUN), strict=True)
    return [
        argparse.Namespace(**{**vars(args), **dict(zip(PER_RUN, values, strict=True))}) for values in per_run
    ]


def build_parser() -> argparse.ArgumentParser:
    """The `vifi evaluate` flags; the model flags are shared with `vifi train` (`add_model_args`).

    Flags that params.yaml sets are required (it is their one home); the view counts default to the single view
    of every protocol but the fully supervised one, which sets its own.
    """
    p = argparse.ArgumentParser(prog="vifi evaluate", description=evaluate.__doc__.splitlines()[0])
    p.add_argument("--frames", type=Path, nargs="+", required=True, help="frame-store manifest or shard files")
    p.add_argument(
        "--weights", type=Path, nargs="+", required=True, help="the model of each run (one per --run-name)"
    )
    add_model_args(p)
    p.add_argument(
        "--eval",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "LIST", "LABELS"),
        help="an evaluation set: its name, its split list and its label CSV (repeatable)",
    )
    p.add_argument("--normalize", choices=sorted(NORMALIZATION), required=True, help="pixel statistics")
    p.add_argument("--sampling", choices=SAMPLING, required=True, help="ViFi-CLIP segments or EVL dense")
    p.add_argument("--stride", type=int_at_least(1), required=True, help="frame stride of dense sampling")
    p.add_argument("--num-clips", type=int_at_least(1), default=1, help="temporal views per video (§5.1: 1)")
    p.add_argument(
        "--num-crops", type=int, choices=sorted(EVAL_CROPS), default=1, help="spatial views (§5.1: 1)"
    )
    p.add_argument(
        "--batch-size", type=int_at_least(1), required=True, help="videos per batch, clips per forward"
    )
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--protocol", required=True)
    p.add_argument(
        "--dataset",
        required=True,
        help="a dataset; each repeat starts a section with that dataset's --frames, --eval sets and --out",
    )
    p.add_argument(
        "--run-name",
        nargs="+",
        required=True,
        help="each run within its (protocol, dataset, method): seed<k>, <K>shot or main",
    )
    p.add_argument("--out", type=Path, nargs="+", required=True, help="each run's metrics.json to write")
    p.add_argument(
        "--predictions", type=Path, nargs="+", required=True, help="each run's per-video CSV to write"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi evaluate`."""
    parser = build_parser()
    try:
        todo = [one for part in sections(argv, "--dataset") for one in runs(parser.parse_args(part))]
        for one in todo:
            spec_from_args(one)  # a ModelArgsError names the model flags missing or out of place
    except ValueError as err:
        parser.error(str(err))
    configs = [config_from_args(EvalConfig, one) for one in todo]
    run([(config, command_line(parser, provenance.settings(config))) for config in configs])
    return 0
