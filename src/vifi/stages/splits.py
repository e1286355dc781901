"""Base-to-novel splits and K-shot training subsets, following the paper's protocol (METHODS.md §6).

Usage:
    python -m vifi splits --labels L --train-list T --val-list V --shots K --seeds S... --out-dir D [--videos R]
    python -m vifi splits --official DIR --dataset DS --seeds S... --out-dir D [--videos R]

How the split is cut and why: `vifi.data.lists.splits`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.catalog import datasets as dataset_catalog
from vifi.data.lists.splits import copy_official, write_base2novel
from vifi.stages.listargs import add_policy_args, add_resolution_args, policy_from_args, resolver_from_args


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi splits`: generate the base-to-novel files of one dataset."""
    parser = argparse.ArgumentParser(prog="vifi splits", description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, help="full label CSV (id,name)")
    parser.add_argument("--train-list", type=Path, help="training split list")
    parser.add_argument("--val-list", type=Path, help="validation split list")
    parser.add_argument("--shots", type=int, help="videos per base class in each subset")
    parser.add_argument("--official", type=Path, help="official release folder: copy its files instead")
    parser.add_argument(
        "--dataset",
        choices=sorted(dataset_catalog.official_files("base2novel")),
        help="dataset key, with --official",
    )
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="one training subset per seed")
    parser.add_argument("--out-dir", type=Path, required=True)
    add_resolution_args(parser)
    add_policy_args(parser)
    args = parser.parse_args(argv)
    by_name = policy_from_args(parser, args)
    if args.official:
        resolver = resolver_from_args(parser, args)
        copy_official(args.official, args.dataset, args.out_dir, args.seeds, resolver, by_name)
        return 0
    if not (args.labels and args.train_list and args.val_list and args.shots):
        parser.error("without --official, --labels, --train-list, --val-list and --shots are required")
    if args.shots <= 0:
        parser.error(f"--shots must be positive, got {args.shots}")
    resolver = resolver_from_args(parser, args)
    try:
        write_base2novel(
            args.labels, args.train_list, args.val_list, args.out_dir, args.shots, args.seeds, resolver
        )
    except ValueError as err:  # AnnotationError included: a list or label file that cannot make the split
        parser.exit(1, f"vifi splits: error: {err}\n")
    return 0
