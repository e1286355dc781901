"""`vifi quarantine`: merge a dataset's undecodable videos into `quarantine.csv`; stop the run if too many.

Usage:
    python -m vifi quarantine --shards SHARD... --out quarantine.csv --max-fraction F [--manifest manifest.json]

What is checked and why: `vifi.data.frames.quarantine`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from vifi.data.frames.quarantine import check_quarantine, write_quarantine
from vifi.data.frames.shards import write_manifest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi quarantine",
        description="Merge the quarantined videos of a dataset's shards into one CSV; fail above a fraction.",
    )
    parser.add_argument("--shards", type=Path, nargs="+", required=True, help="the dataset's shard files")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (columns video,reason)")
    parser.add_argument(
        "--max-fraction", type=float, required=True, help="fail above this quarantined fraction (0-1)"
    )
    parser.add_argument(
        "--manifest", type=Path, help="frame-store manifest to write once the check passes (see write_manifest)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write `--out` from the shards' failures, print a JSON summary, then apply the `--max-fraction` check."""
    args = build_parser().parse_args(argv)
    quarantine = write_quarantine(args.shards, args.out)
    summary = {
        "out": str(args.out),
        "quarantined": len(quarantine.failed),
        "total": quarantine.total,
        "fraction": quarantine.fraction,
        "max_fraction": args.max_fraction,
    }
    print(json.dumps(summary, indent=2, sort_keys=True))
    check_quarantine(quarantine, args.max_fraction)
    if args.manifest:
        write_manifest(args.shards, args.manifest)
    return 0
