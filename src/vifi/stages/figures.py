"""Render the report's figures as PDF (for the paper) and PNG (for the HTML index).

Usage:
    python -m vifi figures --kind fewshot --mode demo --metrics results/aggregates/fewshot.csv \\
        --out-pdf results/figures/fewshot.pdf --out-png results/figures/fewshot.png
    python -m vifi figures --kind tsne --mode demo --embeddings vanilla=E1.npz vifi=E2.npz --out-pdf ...

The kinds of figure: `vifi.report.figures`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.report.figures import INPUT, KINDS, PERPLEXITY, FigureError, build_figure, save_figure
from vifi.report.tables import MODES
from vifi.stages.argtypes import int_at_least


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vifi figures", description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--mode", choices=MODES, required=True, help="demo titles say 'synthetic demo'")
    parser.add_argument("--metrics", type=Path, help="fewshot, base2novel: the protocol's aggregate CSV")
    parser.add_argument("--embeddings", nargs="+", metavar="NAME=NPZ", help="tsne: files of `vifi embed`")
    parser.add_argument("--perplexity", type=float, default=PERPLEXITY, help="tsne (clipped below N)")
    parser.add_argument("--seed", type=int, default=0, help="tsne random_state")
    parser.add_argument("--threads", type=int_at_least(1), default=1, help="tsne CPU threads")
    parser.add_argument("--logs", nargs="+", type=Path, metavar="TRAIN_LOG_CSV", help="curves: train_log.csv")
    parser.add_argument("--out-pdf", type=Path, required=True)
    parser.add_argument("--out-png", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Render one figure; a bad input is reported by file name and exits with status 1."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, INPUT[args.kind]) is None:
        parser.error(f"--kind {args.kind} needs --{INPUT[args.kind]}")
    try:
        fig = build_figure(
            args.kind,
            args.mode,
            metrics=args.metrics,
            embeddings=args.embeddings,
            perplexity=args.perplexity,
            seed=args.seed,
            threads=args.threads,
            logs=args.logs,
        )
    except FigureError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # it logs each font table it subsets
    save_figure(fig, args.out_pdf, args.out_png)
    return 0
