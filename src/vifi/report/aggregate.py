"""Collect per-run `metrics.json` files and aggregate them over seeds (METHODS §5.2).

Every evaluated run writes `results/runs/<protocol>/<dataset>/<method>/seed<k>/metrics.json`. This module
reads them into one table, averages each (dataset, method) over its seeds, and writes two files: a CSV with
full precision and the run paths (the input of the table renderer, which links every number to its runs),
and a small rounded JSON summary meant for `dvc metrics diff`.

Usage: python -m vifi aggregate --protocol base2novel --out-csv results/metrics/base2novel.csv \\
           --out-json results/metrics/base2novel.json results/runs/base2novel/*/*/seed*/metrics.json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vifi.io import write_json, write_text
from vifi.metrics import harmonic_mean, mean_std
from vifi.names import DATASETS, METHODS

PROTOCOLS = ("base2novel",)
SPLITS = ("base", "novel")
TOPK = ("top1", "top5")
RUN_COLUMNS = ("protocol", "dataset", "method", "seed", *(f"{s}_{k}" for s in SPLITS for k in TOPK), "path")
AGGREGATE_COLUMNS = (
    "dataset",
    "method",
    "n_seeds",
    "base_mean",
    "base_std",
    "novel_mean",
    "novel_std",
    "hm",
    "runs",
)
SUMMARY_DECIMALS = 2


class MetricsError(ValueError):
    """A metrics file or table is malformed or inconsistent; the message names the file."""


def _require(data: Any, keys: Sequence[str], path: Path) -> Any:
    """Return `data[k0][k1]...`, or fail naming the file and the dotted key, so a broken run is found fast."""
    for depth, key in enumerate(keys):
        if not isinstance(data, dict) or key not in data:
            raise MetricsError(f"{path}: missing key '{'.'.join(keys[: depth + 1])}'")
        data = data[key]
    return data


def _accuracy(data: dict[str, Any], split: str, k: str, path: Path) -> float:
    """An accuracy in percent; booleans, strings and out-of-range values are errors, not numbers."""
    value = _require(data, ("metrics", split, k), path)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise MetricsError(f"{path}: 'metrics.{split}.{k}' must be a percentage in [0, 100], got {value!r}")
    return float(value)


def _read_run(path: Path) -> dict[str, Any]:
    """One row of `load_runs`: the run's identity, its base/novel top-1/top-5 and where it came from."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MetricsError(f"{path}: cannot read metrics JSON: {err}") from err
    row: dict[str, Any] = {key: _require(data, (key,), path) for key in ("protocol", "dataset", "method")}
    row["seed"] = _require(data, ("seed",), path)
    if isinstance(row["seed"], bool) or not isinstance(row["seed"], int):
        raise MetricsError(f"{path}: 'seed' must be an integer, got {row['seed']!r}")
    for key, known in (("protocol", PROTOCOLS), ("dataset", DATASETS), ("method", METHODS)):
        if row[key] not in known:
            raise MetricsError(f"{path}: unknown {key} {row[key]!r}; known: {', '.join(known)}")
    for split in SPLITS:
        for k in TOPK:
            row[f"{split}_{k}"] = _accuracy(data, split, k, path)
    row["path"] = str(path)
    return row


def load_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read metrics files into one row per run, failing on the first malformed or incomplete file."""
    rows = [_read_run(Path(path)) for path in paths]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _check_unique_runs(df: pd.DataFrame) -> None:
    """Two files for the same seed would silently weigh that seed twice in the mean."""
    duplicated = df[df.duplicated(["dataset", "method", "seed"], keep=False)]
    if not duplicated.empty:
        raise MetricsError(f"several metrics files for the same run: {', '.join(duplicated['path'])}")


def _display_order(df: pd.DataFrame) -> pd.DataFrame:
    """Sort rows as the name mappings order datasets and methods, the row order of every table."""
    position = {"dataset": list(DATASETS).index, "method": list(METHODS).index}
    return df.sort_values(["dataset", "method"], key=lambda col: col.map(position[col.name]), ignore_index=True)


def _aggregate_group(dataset: str, method: str, runs: pd.DataFrame) -> dict[str, Any]:
    """Seed statistics of one (dataset, method); HM from the averaged base and novel, as METHODS §5.2 says."""
    runs = runs.sort_values("seed")
    base_mean, base_std = mean_std(runs["base_top1"])
    novel_mean, novel_std = mean_std(runs["novel_top1"])
    return {
        "dataset": dataset,
        "method": method,
        "n_seeds": len(runs),
        "base_mean": base_mean,
        "base_std": base_std,
        "novel_mean": novel_mean,
        "novel_std": novel_std,
        "hm": harmonic_mean(base_mean, novel_mean),
        "runs": list(runs["path"]),
    }


def aggregate_base2novel(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method): top-1 mean/std over seeds, the HM of the means, and the run paths."""
    other = df[df["protocol"] != "base2novel"]
    if not other.empty:
        raise MetricsError(f"not base-to-novel runs: {', '.join(other['path'])}")
    _check_unique_runs(df)
    rows = [_aggregate_group(ds, m, runs) for (ds, m), runs in df.groupby(["dataset", "method"], sort=False)]
    return _display_order(pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS)))


def summary(agg: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """`{dataset: {method: {base, novel, hm}}}`, rounded so `dvc metrics diff` shows real changes only."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in agg.itertuples(index=False):
        out.setdefault(row.dataset, {})[row.method] = {
            "base": round(row.base_mean, SUMMARY_DECIMALS),
            "novel": round(row.novel_mean, SUMMARY_DECIMALS),
            "hm": round(row.hm, SUMMARY_DECIMALS),
        }
    return out


def write_aggregate_csv(path: str | Path, agg: pd.DataFrame) -> None:
    """Write the aggregate table atomically; the run-path lists are stored as JSON arrays in one column."""
    buf = io.StringIO()
    agg.assign(runs=agg["runs"].map(json.dumps)).to_csv(buf, index=False, lineterminator="\n")
    write_text(path, buf.getvalue())


def read_aggregate_csv(path: str | Path) -> pd.DataFrame:
    """Read a table written by `write_aggregate_csv`, with `runs` back as lists of paths."""
    df = pd.read_csv(path)
    missing = [col for col in AGGREGATE_COLUMNS if col not in df.columns]
    if missing:
        raise MetricsError(f"{path}: missing columns {', '.join(missing)}")
    return df.assign(runs=df["runs"].map(json.loads))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vifi aggregate", description="Aggregate per-run metrics.json files over seeds."
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
        agg = aggregate_base2novel(load_runs(args.metrics))
    except MetricsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_aggregate_csv(args.out_csv, agg)
    write_json(args.out_json, summary(agg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
