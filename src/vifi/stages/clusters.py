"""`vifi clusters`: measure how tightly video embeddings cluster by class, as JSON and a LaTeX sentence.

Usage:
    python -m vifi clusters --dataset ucf101 --embeddings vanilla=E1.npz vifi=E2.npz \\
        --out-json results/figures/clusters_ucf101.json --out-tex results/figures/clusters_ucf101.tex

What is measured and why: `vifi.report.clusters`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.io import write_json, write_text
from vifi.report.clusters import MODELS, ClustersError, score
from vifi.report.tables import latex_escape


def _model_path(text: str) -> tuple[str, Path]:
    """argparse type: MODEL=NPZ."""
    model, sep, path = text.partition("=")
    if not sep or model not in MODELS or not path:
        raise argparse.ArgumentTypeError(f"expected MODEL=NPZ with MODEL one of {', '.join(MODELS)}")
    return model, Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Score both models' embeddings and write the JSON and the LaTeX sentence."""
    parser = argparse.ArgumentParser(
        prog="vifi clusters", description="Measure how tightly video embeddings cluster by class."
    )
    parser.add_argument("--dataset", required=True, help="the embedded dataset, for the sentence")
    parser.add_argument("--embeddings", type=_model_path, nargs=2, required=True, metavar="MODEL=NPZ",
                        help="vanilla=<npz> vifi=<npz>, files of `vifi embed`")  # fmt: skip
    parser.add_argument("--out-json", type=Path, required=True, help="scores and sentence")
    parser.add_argument("--out-tex", type=Path, required=True, help="the sentence, LaTeX-escaped")
    args = parser.parse_args(argv)
    paths = dict(args.embeddings)
    if set(paths) != set(MODELS):
        parser.error(f"--embeddings needs one file for each of {', '.join(MODELS)}")
    try:
        result = score(paths, args.dataset)
    except ClustersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_json(args.out_json, result)
    write_text(args.out_tex, latex_escape(result["sentence"]) + "\n")
    return 0
