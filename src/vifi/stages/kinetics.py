"""Kinetics-400/600 split lists built from the dataset's annotation CSVs.

Usage:
    python -m vifi kinetics --annotations train.csv [validate.csv] --labels L --out LIST --videos ROOT

Why the list is built rather than copied: `vifi.data.lists.kinetics`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.data.lists.kinetics import write_kinetics_list
from vifi.data.lists.resolve import ListResolver
from vifi.stages.listargs import add_resolution_args, max_missing_fraction


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi kinetics`: one `<path> <label id>` list from Kinetics annotation CSVs."""
    parser = argparse.ArgumentParser(prog="vifi kinetics", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--annotations", type=Path, nargs="+", required=True, help="annotation CSVs (train.csv, validate.csv)"
    )
    parser.add_argument("--labels", type=Path, required=True, help="the paper's label CSV (id,name)")
    parser.add_argument("--out", type=Path, required=True, help="split list to write")
    add_resolution_args(parser, videos_required=True)
    args = parser.parse_args(argv)
    resolver = ListResolver.scan(args.videos, args.quarantine, max_missing_fraction(parser, args))
    write_kinetics_list(args.annotations, args.labels, args.out, resolver)
    return 0
