"""`vifi aggregate`: collect one protocol's per-run `metrics.json` files into its table (CSV and JSON).

Usage:
    python -m vifi aggregate --protocol base2novel --out-csv results/aggregates/base2novel.csv \\
        --out-json results/metrics/base2novel.json results/runs/base2novel/*/*/seed*/metrics.json

What each protocol's table holds: `vifi.report.aggregate`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.io import write_json
from vifi.report.aggregate import (
    PROTOCOLS,
    MetricsError,
    aggregate_runs,
    load_runs,
    summary,
    write_aggregate_csv,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi aggregate", description="Aggregate one protocol's per-run metrics.json files."
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--out-csv", type=Path, required=True, help="full-precision table with run paths")
    parser.add_argument("--out-json", type=Path, required=True, help="rounded summary for dvc metrics")
    parser.add_argument("metrics", nargs="+", type=Path, metavar="METRICS_JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Aggregate the given metrics files; a malformed file is reported by name and exits with status 1."""
    args = _parser().parse_args(argv)
    try:
        table = aggregate_runs(args.protocol, load_runs(args.metrics, args.protocol))
    except MetricsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_aggregate_csv(args.out_csv, table)
    write_json(args.out_json, summary(args.protocol, table))
    return 0
