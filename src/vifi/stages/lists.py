"""`vifi lists`: a dataset's official annotation files, as published, become the pipeline's split lists.

Usage:
    python -m vifi lists --format FMT --root data/raw/<ds> --labels L [--exclude-labels X] [--pool] --out-dir D

What the lists are and where label ids come from: `vifi.data.lists.lists`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.data.lists.annotations import AnnotationError
from vifi.data.lists.lists import build_lists
from vifi.data.lists.official import FORMATS


def main(argv: Sequence[str] | None = None) -> int:
    """`vifi lists`: one dataset's official annotations -> `labels.csv`, `train{s}.txt`, `val{s}.txt`."""
    parser = argparse.ArgumentParser(prog="vifi lists", description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=FORMATS, required=True, help="the dataset's annotation format")
    parser.add_argument("--root", type=Path, required=True, help="the dataset folder (data/raw/<dataset>)")
    parser.add_argument("--labels", type=Path, required=True, help="label CSV (id,name) that fixes the ids")
    parser.add_argument("--exclude-labels", type=Path, help="label CSV whose classes are left out")
    parser.add_argument("--pool", action="store_true", help="write every labelled video as one list, val1.txt")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder of the lists (data/lists/<ds>)")
    args = parser.parse_args(argv)
    try:
        build_lists(args.format, args.root, args.labels, args.out_dir, args.exclude_labels, args.pool)
    except (AnnotationError, FileNotFoundError) as err:
        parser.exit(2, f"vifi lists: error: {err}\n")
    return 0
