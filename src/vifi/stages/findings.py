"""`vifi findings`: render the table of which of the papers' claims hold in this run.

Usage:
    python -m vifi findings --mode demo --metrics base2novel=results/aggregates/base2novel.csv \\
        zeroshot=results/aggregates/zeroshot.csv --clusters results/figures/clusters_ucf101.json \\
        --out-tex results/tables/findings.tex --out-html results/tables/findings.html

How a verdict is reached: `vifi.report.findings`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.io import write_json, write_text
from vifi.report.aggregate import PROTOCOL, PROTOCOLS, MetricsError
from vifi.report.findings import (
    CLAIMS,
    FindingsError,
    as_records,
    bridges,
    claim_findings,
    load_claims,
    read_clusters,
    read_runs,
    render,
)
from vifi.report.published import DEFAULT as DEFAULT_PUBLISHED
from vifi.report.published import Published, PublishedError
from vifi.report.tables import MODES, TEMPLATES


def _protocol_path(text: str) -> tuple[str, Path]:
    """argparse type: PROTOCOL=CSV."""
    protocol, sep, path = text.partition("=")
    if not sep or protocol not in PROTOCOL or not path:
        raise argparse.ArgumentTypeError(f"expected PROTOCOL=CSV with PROTOCOL one of {', '.join(PROTOCOLS)}")
    return protocol, Path(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi findings", description="Render the findings table: which claims hold in this run."
    )
    add = parser.add_argument
    add("--mode", choices=MODES, required=True)
    add("--metrics", type=_protocol_path, nargs="+", required=True, metavar="PROTOCOL=CSV",
        help="aggregate tables of `vifi aggregate`, one per protocol that ran")  # fmt: skip
    add("--claims", type=Path, default=CLAIMS, metavar="YAML", help="the claims (default: the packaged ones)")
    add("--published", type=Path, default=DEFAULT_PUBLISHED, metavar="YAML", help="the papers' numbers")
    add(
        "--clusters", type=Path, metavar="JSON", help="cluster scores of the t-SNE embeddings (`vifi clusters`)"
    )
    add("--templates", type=Path, default=TEMPLATES, metavar="DIR", help="directory of the .j2 templates")
    add("--out-tex", type=Path, required=True)
    add("--out-html", type=Path, required=True)
    add("--out-json", type=Path, help="every row as data, for `dvc metrics` and comparisons between runs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Render the findings table; both files are written only once both rendered."""
    parser = _parser()
    args = parser.parse_args(argv)
    paths = dict(args.metrics)
    if len(paths) != len(args.metrics):
        parser.error("--metrics names a protocol twice")
    try:
        claims = load_claims(args.claims)
        published = Published.load(args.published)
        runs = read_runs(paths)
        findings = [claim_findings(claim, runs.get(claim.protocol), published) for claim in claims]
        clusters = read_clusters(args.clusters) if args.clusters else None
        tex, html = render(
            findings, mode=args.mode, clusters=clusters, bridges=bridges(runs), templates=args.templates
        )
    except (FindingsError, MetricsError, PublishedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text(args.out_tex, tex)
    write_text(args.out_html, html)
    if args.out_json:
        write_json(args.out_json, as_records(findings))
    return 0
