"""`vifi flops`: measured FLOPs of one video view, one training clip and one class prompt, per method.

Usage:
    vifi flops --arch ViT-B-16 --method vifi --num-frames 16
    vifi flops --arch ViT-B-16 --json f.json --method vifi --num-frames 16 --method evl --num-frames 8
    vifi flops --arch openai --weights ViT-B-16.pt --method vifi --num-frames 16

Each `--method` starts a section of that method's own flags; flags before the first apply to all of them.
`--arch openai` counts the architecture that the checkpoint `--weights` holds (only its shapes are read).
How FLOPs are counted: `vifi.flops`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi import flops
from vifi.flops import GIGA, describe, measure
from vifi.io import write_json
from vifi.models.factory import ModelArgsError
from vifi.models.pretrained import WeightsError
from vifi.stages.argtypes import sections
from vifi.stages.modelargs import add_model_args, spec_from_args


def main(argv: Sequence[str] | None = None) -> int:
    """Print each method's costs; `--json` also writes `{method: GFLOPs per view}` for the compute column."""
    parser = argparse.ArgumentParser(
        prog="vifi flops",
        description=flops.__doc__.split("\n\n")[0],
        epilog="Each --method starts a section with that method's flags; those before the first are shared.",
    )
    add_model_args(parser)
    parser.add_argument("--json", type=Path, help="write {method: GFLOPs per view} here")
    parser.add_argument(
        "--weights", type=Path, help="with --arch openai: the checkpoint whose architecture is counted"
    )
    per_method = [parser.parse_args(part) for part in sections(argv, "--method")]
    gflops = {}
    for args in per_method:
        try:
            cost = measure(spec_from_args(args), args.weights)
        except (WeightsError, ModelArgsError) as err:
            parser.error(str(err))
        print(describe(cost))
        gflops[args.method] = cost.forward / GIGA
    files = {args.json for args in per_method if args.json is not None}
    if len(files) > 1:
        parser.error(f"--json names one file for every method, not {len(files)}")
    if files:
        write_json(files.pop(), gflops)
    return 0
