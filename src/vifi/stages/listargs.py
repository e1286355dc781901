"""The options shared by the stages that write lists: resolving them against a raw dataset, and the `by_name`
audit policy for released lists (`vifi splits`, `vifi protocols`, `vifi kinetics`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vifi.data.lists.audit import FORMATS, VideoNames
from vifi.data.lists.resolve import ListResolver
from vifi.data.lists.splits import ByName


def add_resolution_args(parser: argparse.ArgumentParser, videos_required: bool = False) -> None:
    """The options of every stage that writes lists against a raw dataset."""
    parser.add_argument(
        "--videos",
        type=Path,
        required=videos_required,
        help="raw video root: list paths become its video keys, as extraction names them",
    )
    parser.add_argument(
        "--quarantine",
        type=Path,
        help="quarantine CSV (video,reason) of the extraction; its videos are dropped",
    )
    parser.add_argument(
        "--max-missing-fraction",
        type=float,
        help="fail when a list loses more than this fraction of its lines to missing or quarantined videos "
        "(default 0: any such line is an error)",
    )


def max_missing_fraction(parser: argparse.ArgumentParser, args: argparse.Namespace) -> float:
    """`--max-missing-fraction`, 0 when not given; outside [0, 1] is a usage error."""
    fraction = 0.0 if args.max_missing_fraction is None else args.max_missing_fraction
    if not 0.0 <= fraction <= 1.0:
        parser.error(f"--max-missing-fraction must be in [0, 1], got {fraction}")
    return fraction


def resolver_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ListResolver | None:
    """A resolver for `--videos`, or None without it (lists are then written with their own paths)."""
    if args.videos is None:
        if args.quarantine is not None or args.max_missing_fraction is not None:
            parser.error("--quarantine and --max-missing-fraction need --videos")
        return None
    return ListResolver.scan(args.videos, args.quarantine, max_missing_fraction(parser, args))


def add_policy_args(parser: argparse.ArgumentParser) -> None:
    """The options that apply the `by_name` audit policy to released lists (with --official)."""
    parser.add_argument(
        "--relabel-by-name",
        type=Path,
        metavar="VIDEOS_CSV",
        help="with --official: relabel each video by the class named in this path,name CSV or its own path",
    )
    parser.add_argument(
        "--format", choices=FORMATS, help="annotation format of the dataset, with --relabel-by-name"
    )


def policy_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ByName | None:
    if args.relabel_by_name is None:
        return None
    if args.official is None or args.format is None:
        parser.error("--relabel-by-name needs --official and --format")
    return ByName(args.format, VideoNames.read(args.relabel_by_name))
