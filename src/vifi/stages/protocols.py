"""Split lists of the zero-shot, few-shot and fully supervised protocols (METHODS.md §3.2, §5.2, §5.3, §6).

Usage:
    python -m vifi protocols --protocol fewshot --labels L --train-list T --val-list V --shots K... --seed S...
    python -m vifi protocols --protocol zeroshot --labels L --val-lists V... --splits S...
    python -m vifi protocols --protocol zeroshot --labels L --val-list V
        --classes-per-split N --seed S --splits S
    python -m vifi protocols --protocol fullsup --labels L --train-list T --val-list V
    python -m vifi protocols --protocol fewshot|zeroshot --official DIR --dataset DS ...
each with --out-dir D and, against a raw dataset, --videos ROOT [--quarantine Q] [--max-missing-fraction F].

What each protocol's lists are: `vifi.data.lists.protocols`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.catalog import datasets as dataset_catalog
from vifi.data.lists.protocols import (
    PROTOCOLS,
    copy_official_fewshot,
    copy_official_zeroshot,
    official_names,
    write_fewshot,
    write_fullsup,
    write_zeroshot_classes,
    write_zeroshot_folds,
)
from vifi.stages.argtypes import int_at_least
from vifi.stages.listargs import add_policy_args, add_resolution_args, policy_from_args, resolver_from_args

# The options of each way to run a protocol; a source option outside them is refused, never ignored.
MODES = {
    ("fewshot", "official"): ("official", "dataset", "shots"),
    ("fewshot", "lists"): ("labels", "train_list", "val_list", "shots", "seed"),
    ("zeroshot", "official"): ("official", "dataset", "splits"),
    ("zeroshot", "folds"): ("labels", "val_lists", "splits"),
    ("zeroshot", "class draws"): ("labels", "val_list", "classes_per_split", "seed", "splits"),
    ("fullsup", "lists"): ("labels", "train_list", "val_list"),
}
SOURCE_OPTIONS = (
    "official", "dataset", "labels", "train_list", "val_list", "val_lists", "shots", "splits",
    "classes_per_split", "seed",
)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vifi protocols", description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--official", type=Path, help="official release folder: copy its files")
    parser.add_argument(
        "--dataset",
        choices=sorted(dataset_catalog.official_files("fewshot") | dataset_catalog.official_files("zeroshot")),
        help="with --official",
    )
    parser.add_argument("--labels", type=Path, help="full label CSV (id,name)")
    parser.add_argument("--train-list", type=Path, help="training list (fewshot, fullsup)")
    parser.add_argument("--val-list", type=Path, help="test list (fewshot, fullsup; zeroshot class draws)")
    parser.add_argument("--val-lists", type=Path, nargs="+", help="zeroshot: one k-fold test list per --splits")
    parser.add_argument(
        "--shots", type=int_at_least(1), nargs="+", help="fewshot: videos per class, one list each"
    )
    parser.add_argument("--splits", type=int_at_least(1), nargs="+", help="zeroshot: split numbers")
    parser.add_argument("--classes-per-split", type=int_at_least(1), help="zeroshot: classes drawn per split")
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        nargs="+",
        help="generator seed of K-shot subsets (one list per K and seed) and class draws (exactly one)",
    )
    add_resolution_args(parser)
    add_policy_args(parser)
    return parser


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _mode(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """How the protocol's lists are made, after checking that exactly that way's options were given."""
    if args.official is not None:
        mode = "official"
    elif args.protocol != "zeroshot":
        mode = "lists"
    else:
        mode = "class draws" if args.classes_per_split is not None or args.val_list is not None else "folds"
    needed = MODES.get((args.protocol, mode))
    if needed is None:
        parser.error(
            f"--protocol {args.protocol} has no --official files; give --labels, --train-list, --val-list"
        )
    missing = [_flag(d) for d in needed if getattr(args, d) is None]
    unused = [_flag(d) for d in SOURCE_OPTIONS if d not in needed and getattr(args, d) is not None]
    if missing:
        parser.error(f"--protocol {args.protocol} ({mode}) needs {', '.join(missing)}")
    if unused:
        parser.error(f"--protocol {args.protocol} ({mode}) does not take {', '.join(unused)}")
    if mode == "class draws" and len(args.seed) != 1:
        parser.error(f"--protocol zeroshot draws classes with one --seed, got {args.seed}")
    for dest in ("shots", "splits", "seed"):
        values = getattr(args, dest)
        if values is not None and len(set(values)) != len(values):
            parser.error(f"{_flag(dest)} repeats a value: {values}")
    if mode == "folds" and len(args.val_lists) != len(args.splits):
        parser.error(f"--val-lists gives {len(args.val_lists)} lists for {len(args.splits)} --splits")
    if mode == "official":
        try:
            official_names(args.protocol, args.dataset)
        except ValueError as err:
            parser.error(str(err))
    return mode


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi protocols`: write one dataset's lists for the zero-shot, few-shot or fully supervised
    protocol."""
    parser = _parser()
    args = parser.parse_args(argv)
    mode = _mode(parser, args)
    by_name = policy_from_args(parser, args)
    resolver = resolver_from_args(parser, args)
    out = args.out_dir
    if (args.protocol, mode) == ("fewshot", "official"):
        copy_official_fewshot(args.official, args.dataset, out, args.shots, resolver, by_name)
    elif args.protocol == "fewshot":
        write_fewshot(args.labels, args.train_list, args.val_list, out, args.shots, args.seed, resolver)
    elif mode == "official":
        copy_official_zeroshot(args.official, args.dataset, out, args.splits, resolver, by_name)
    elif mode == "folds":
        write_zeroshot_folds(args.labels, dict(zip(args.splits, args.val_lists, strict=True)), out, resolver)
    elif mode == "class draws":
        write_zeroshot_classes(
            args.labels, args.val_list, out, args.splits, args.classes_per_split, args.seed[0], resolver
        )
    else:
        write_fullsup(args.labels, args.train_list, args.val_list, out, resolver)
    return 0
