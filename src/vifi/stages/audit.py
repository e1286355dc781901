"""Check each list's label ids against the class its videos themselves name.

Usage:
    python -m vifi audit --format FORMAT [--names videos.csv] --list L --labels C [--list L --labels C ...]
        --policy as_released|by_name --out audit.json

Why every list is audited: `vifi.data.lists.audit`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from vifi.data.lists.annotations import AnnotationError
from vifi.data.lists.audit import FORMATS, PATH_NAMED, POLICIES, AuditError, run_audit

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """`vifi audit`: write audit.json and audit.csv for lists of one dataset; exits 0 whatever it finds."""
    parser = argparse.ArgumentParser(prog="vifi audit", description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=FORMATS, required=True, help="how the dataset's paths name classes")
    parser.add_argument("--names", type=Path, help="videos.csv (path,name): each video's class per annotations")
    parser.add_argument("--list", type=Path, action="append", required=True, help="a split list (repeatable)")
    parser.add_argument(
        "--labels", type=Path, action="append", required=True, help="the label CSV of each --list, in order"
    )
    parser.add_argument("--policy", choices=POLICIES, required=True, help="recorded: what the pipeline does")
    parser.add_argument("--out", type=Path, required=True, help="audit.json to write; audit.csv goes beside it")
    args = parser.parse_args(argv)
    if len(args.list) != len(args.labels):
        parser.error(f"{len(args.list)} --list but {len(args.labels)} --labels: give one label CSV per list")
    if len(set(args.list)) != len(args.list):
        parser.error("a --list is given twice")
    if args.format not in PATH_NAMED and args.names is None:
        parser.error(f"--format {args.format} needs --names: its paths do not name a class")
    if args.out.suffix != ".json":
        parser.error(f"--out must end in .json (audit.csv is written beside it), got {args.out}")
    try:
        run_audit(
            args.format, list(zip(args.list, args.labels, strict=True)), args.names, args.policy, args.out
        )
    except (AuditError, AnnotationError, OSError, UnicodeDecodeError) as err:
        log.error("vifi audit: %s", err)
        return 1
    return 0
