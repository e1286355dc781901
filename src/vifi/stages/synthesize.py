"""`vifi synthesize` and `vifi stills`: the demo's stand-in for downloading real data.

Usage:
    python -m vifi synthesize --out DIR --name NAME --role ROLE --format FORMAT --classes N ...
    python -m vifi stills --out stills.npz --count N --seed S --height H --width W

What the synthetic world is and why: `vifi.data.synthetic.synthesize`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.data.lists.official import FORMATS
from vifi.data.synthetic.synthesize import (
    VideoFormat,
    check_frame_size,
    generate_stills,
    plan_dataset,
    write_dataset,
)
from vifi.data.synthetic.world import ROLES
from vifi.stages.argtypes import int_at_least


def _add_frame_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int_at_least(0), required=True)
    parser.add_argument("--height", type=int_at_least(16), required=True, help="frame height (even)")
    parser.add_argument("--width", type=int_at_least(16), required=True, help="frame width (even, >= height)")


def _dataset_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi synthesize", description="Write one synthetic video dataset in the official formats."
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset directory (replaced atomically)")
    parser.add_argument("--name", required=True, help="dataset name, part of the video file names")
    parser.add_argument("--role", choices=ROLES, required=True, help="which real dataset's role it plays")
    parser.add_argument(
        "--format", choices=FORMATS, required=True, help="the official annotation format to write it in"
    )
    parser.add_argument("--classes", type=int_at_least(2), required=True, help="number of classes")
    parser.add_argument(
        "--train-per-class",
        type=int_at_least(0),
        nargs=2,
        metavar=("MIN", "MAX"),
        required=True,
        help="training videos per class, ramping from MIN to MAX over shuffled classes",
    )
    parser.add_argument("--val-per-class", type=int_at_least(1), required=True, help="test videos per class")
    parser.add_argument("--splits", type=int_at_least(1), required=True, help="1, or k folds (3 = UCF style)")
    _add_frame_args(parser)
    parser.add_argument("--frames", type=int_at_least(2), required=True, help="frames per video")
    parser.add_argument("--fps", type=int_at_least(1), required=True, help="frame rate stored in the files")
    parser.add_argument(
        "--crf", type=int_at_least(0), default=16, help="H.264 quality, 0..51 (default 16; .mp4 videos only)"
    )
    parser.add_argument("--exclude-labels", type=Path, help="labels.csv whose class names must not be used")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`vifi synthesize`: write one synthetic dataset."""
    parser = _dataset_parser()
    args = parser.parse_args(argv)
    try:
        plan = plan_dataset(
            name=args.name,
            fmt=args.format,
            role=args.role,
            classes=args.classes,
            train_per_class=tuple(args.train_per_class),
            val_per_class=args.val_per_class,
            splits=args.splits,
            seed=args.seed,
            video=VideoFormat(args.height, args.width, args.frames, args.fps, args.crf),
            exclude_labels=args.exclude_labels,
        )
    except (ValueError, OSError) as err:
        parser.error(str(err))
    write_dataset(args.out, plan)
    return 0


def stills_main(argv: Sequence[str] | None = None) -> int:
    """`vifi stills`: write the captioned stills for the image-pretraining stand-in."""
    parser = argparse.ArgumentParser(
        prog="vifi stills", description="Write appearance-only captioned stills to one .npz file."
    )
    parser.add_argument("--out", type=Path, required=True, help="output .npz file (written atomically)")
    parser.add_argument("--count", type=int_at_least(1), required=True, help="number of stills")
    _add_frame_args(parser)
    args = parser.parse_args(argv)
    try:
        check_frame_size(args.height, args.width)
    except ValueError as err:
        parser.error(str(err))
    generate_stills(args.out, count=args.count, seed=args.seed, height=args.height, width=args.width)
    return 0
