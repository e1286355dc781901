"""`vifi extract`: decode one shard of a video folder into a frame shard and print a JSON summary.

Usage:
    python -m vifi extract --videos DIR --shard I --num-shards N --short-side S [--frames-per-video M] --out F

Why videos are decoded once and how a shard is laid out: `vifi.data.frames.extract`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from vifi.data.frames.extract import extract_shard, shard_keys
from vifi.data.frames.shards import CODECS, list_videos
from vifi.stages.argtypes import int_at_least


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi extract", description="Decode one shard of a video folder into a frame shard."
    )
    parser.add_argument("--videos", type=Path, required=True, help="video root; keys are relative to it")
    parser.add_argument("--shard", type=int, required=True, help="index of this shard, 0-based")
    parser.add_argument("--num-shards", type=int, required=True, help="total number of shards")
    parser.add_argument("--short-side", type=int, required=True, help="resize every video to this short side")
    parser.add_argument("--codec", choices=CODECS, default="jpeg")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (1-100)")
    parser.add_argument(
        "--frames-per-video",
        type=int_at_least(1),
        default=None,
        help="keep this many frames per video, the centres of equal segments (default: every frame)",
    )
    parser.add_argument("--out", type=Path, required=True, help="shard file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Extract one shard of the videos under `--videos` and print a JSON summary."""
    args = build_parser().parse_args(argv)
    keys = shard_keys(list_videos(args.videos), args.shard, args.num_shards)
    summary = extract_shard(
        args.videos,
        keys,
        args.out,
        short_side=args.short_side,
        codec=args.codec,
        quality=args.quality,
        frames_per_video=args.frames_per_video,
    )
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
