"""`vifi embed`: write the L2-normalised video embeddings of a split list's videos (the t-SNE figure's input).

Usage:
    python -m vifi embed --frames data/frames/ucf101/*.bin --weights W --arch ViT-B-16 --method vifi \\
        --num-frames 8 --list val1.txt --labels labels.csv --max-videos 500 --out embeddings.npz

Which embedding and why: `vifi.engine.embed`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.data.frames.dataset import SAMPLING
from vifi.data.frames.transforms import NORMALIZATION
from vifi.engine import embed
from vifi.engine.embed import EmbedConfig, run
from vifi.models.factory import ModelArgsError
from vifi.stages.argtypes import int_at_least
from vifi.stages.modelargs import add_model_args, config_from_args, spec_from_args


def build_parser() -> argparse.ArgumentParser:
    """The `vifi embed` flags: the model and data flags of `vifi evaluate`, one list, one view."""
    p = argparse.ArgumentParser(prog="vifi embed", description=embed.__doc__.splitlines()[0])
    p.add_argument("--frames", type=Path, nargs="+", required=True, help="frame-store manifest or shard files")
    p.add_argument("--weights", type=Path, required=True)
    add_model_args(p)
    p.add_argument("--list", type=Path, required=True, help="split list of the videos to embed")
    p.add_argument("--labels", type=Path, required=True, help="label CSV of the list's class ids")
    p.add_argument("--normalize", choices=sorted(NORMALIZATION), required=True, help="pixel statistics")
    p.add_argument("--sampling", choices=SAMPLING, required=True, help="ViFi-CLIP segments or EVL dense")
    p.add_argument("--stride", type=int_at_least(1), required=True, help="frame stride of dense sampling")
    p.add_argument("--max-videos", type=int_at_least(1), help="embed an even spread of at most N videos")
    p.add_argument("--batch-size", type=int_at_least(1), default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True, help=".npz file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi embed`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        spec = spec_from_args(args)
    except ModelArgsError as err:
        parser.error(str(err))
    run(config_from_args(EmbedConfig, args, model=spec))
    return 0
