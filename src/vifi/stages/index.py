"""`vifi index`: build `results/index.html`, every table, figure and run's provenance on one page.

Usage:
    python -m vifi index --mode demo --tables results/tables/*.html --figures results/figures/*.png \\
        --metrics results/runs/*/*/*/*/metrics.json --out results/index.html

What the page holds and why it is self-contained: `vifi.report.index`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.io import write_text
from vifi.report.index import PageError, build_page
from vifi.report.tables import MODES, TEMPLATES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi index", description="Build the self-contained HTML report of all results."
    )
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--tables", type=Path, nargs="*", default=[], help="HTML tables from `vifi render`")
    parser.add_argument("--figures", type=Path, nargs="*", default=[], help="PNG figures from `vifi figures`")
    parser.add_argument("--metrics", type=Path, nargs="*", default=[], help="the runs' metrics.json files")
    parser.add_argument("--templates", type=Path, default=TEMPLATES, help="directory of index.html.j2")
    parser.add_argument("--out", type=Path, required=True, help="the page, e.g. results/index.html")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        page = build_page(
            mode=args.mode,
            tables=args.tables,
            figures=args.figures,
            metrics=args.metrics,
            out=args.out,
            templates=args.templates,
        )
    except PageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text(args.out, page)
    return 0
