"""`vifi paper`: build the report PDF from `paper/main.tex` with latexmk.

Usage:
    python -m vifi paper --tex paper/main.tex --tables results/tables/*.tex \\
        --figures results/figures/*.pdf --snippets results/figures/clusters_*.tex --out paper/main.pdf

What the stage writes and why: `vifi.report.paper`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.report.paper import PaperError, build


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vifi paper", description="Build the report PDF with latexmk.")
    parser.add_argument("--tex", type=Path, required=True, help="the LaTeX document, e.g. paper/main.tex")
    parser.add_argument("--tables", type=Path, nargs="*", default=[], help="LaTeX tables from `vifi render`")
    parser.add_argument("--figures", type=Path, nargs="*", default=[], help="PDF figures from `vifi figures`")
    parser.add_argument(
        "--snippets", type=Path, nargs="*", default=[], help="generated sentences, e.g. from `vifi clusters`"
    )
    parser.add_argument("--out", type=Path, required=True, help="where the PDF goes, e.g. paper/main.pdf")
    args = parser.parse_args(argv)
    try:
        build(args.tex, args.tables, args.figures, args.out, args.snippets)
    except PaperError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
