"""`vifi render`: render one results table as LaTeX and HTML from the aggregated metrics CSVs.

Usage:
    python -m vifi render --table base2novel --metrics results/aggregates/base2novel.csv --mode demo \\
        --out-tex results/tables/base2novel.tex --out-html results/tables/base2novel.html

What the tables show and how: `vifi.report.tables`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.io import write_text
from vifi.report.aggregate import MetricsError
from vifi.report.published import DEFAULT as DEFAULT_PUBLISHED
from vifi.report.published import Published, PublishedError
from vifi.report.tables import (
    DEFAULT_TOLERANCE,
    MODES,
    TABLES,
    TEMPLATES,
    Context,
    RenderError,
    build_table,
    make_environment,
    read_audit_notes,
    read_flops,
    read_metrics,
    render,
)


def _tolerance(text: str) -> float:
    """argparse type: a non-negative number of percentage points."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a non-negative number of points")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi render", description="Render one results table as LaTeX and HTML."
    )
    add = parser.add_argument
    add("--table", choices=tuple(TABLES), required=True)
    add("--metrics", type=Path, nargs="+", required=True, metavar="CSV", help="written by `vifi aggregate`")
    add("--mode", choices=MODES, required=True)
    add("--published", type=Path, default=DEFAULT_PUBLISHED, metavar="YAML", help="paper mode's reference")
    add(
        "--tolerance",
        type=_tolerance,
        default=DEFAULT_TOLERANCE,
        metavar="PP",
        help=f"flag |ours - published| above this many points (default {DEFAULT_TOLERANCE})",
    )
    add("--flops", type=Path, nargs="+", metavar="JSON", help="{method: GFLOPs per view} files, fullsup only")
    add("--audits", type=Path, nargs="+", default=[], metavar="JSON", help="release audits of the lists used")
    add(
        "--ci",
        action=argparse.BooleanOptionalAction,
        required=True,
        help="LaTeX: ± is half the width of the 95%% confidence interval (--ci), or the std (--no-ci)",
    )
    add("--templates", type=Path, default=TEMPLATES, metavar="DIR", help="directory of the .j2 templates")
    add("--out-tex", type=Path, required=True)
    add("--out-html", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Render one table; both files are written only once both rendered. Links are relative to `--out-html`."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.flops is not None and args.table != "fullsup":
        parser.error(f"--flops applies to the fullsup table only, not {args.table}")
    try:
        ctx = Context(
            link_from=args.out_html.parent,
            published=Published.load(args.published) if args.mode == "paper" else None,
            tolerance=args.tolerance,
            flops={k: v for path in args.flops or () for k, v in read_flops(path).items()},
        )
        table = build_table(args.table, read_metrics(args.metrics, TABLES[args.table].protocol), ctx)
        env = make_environment(args.templates)
        notes = read_audit_notes(args.audits)
        tex, html = render(
            args.table, table, env, mode=args.mode, tolerance=ctx.tolerance, audit_notes=notes, ci=args.ci
        )
    except (MetricsError, PublishedError, RenderError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text(args.out_tex, tex)
    write_text(args.out_html, html)
    return 0
