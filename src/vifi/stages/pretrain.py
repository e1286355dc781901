"""Image-pretrain the demo's small CLIP contrastively on synthetic stills.

Usage:
    python -m vifi pretrain --stills data/raw/stills.npz --arch vifi-tiny --epochs E --warmup-epochs W \\
        --batch-size B --lr LR --weight-decay WD --seed S --threads T \\
        --out checkpoints/pretrained/vifi-tiny.pt --log-csv L

Why the demo pretrains its own CLIP: `vifi.engine.pretrain`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from vifi.engine.pretrain import PretrainConfig, train
from vifi.models.pretrained import OPENAI_ARCH


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi pretrain`."""
    parser = argparse.ArgumentParser(prog="vifi pretrain", description=__doc__.splitlines()[0])
    parser.add_argument("--stills", type=Path, required=True, help="stills .npz from `vifi stills`")
    parser.add_argument("--arch", required=True, help="open_clip architecture, e.g. vifi-tiny")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--warmup-epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--weight-decay", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (fixed: the floats depend on it)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    parser.add_argument("--log-csv", type=Path, required=True, help="per-step loss and LR")
    args = parser.parse_args(argv)
    if args.arch == OPENAI_ARCH:
        parser.error(f"--arch {OPENAI_ARCH} names a checkpoint's architecture; pretraining starts from none")
    train(PretrainConfig(**vars(args)))
    return 0
