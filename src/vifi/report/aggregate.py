"""Collect per-run `metrics.json` files into one table per protocol (METHODS §5.2).

Every evaluated run writes `results/runs/<protocol>/<dataset>/<method>/<run>/metrics.json`, where `<run>` is
`seed<k>` (base-to-novel, training subset k), `<K>shot` (few-shot) or `main` (zero-shot, fully supervised).
Each protocol's table has one row per:

- base2novel: (dataset, method), with base and novel top-1 mean/std over the seeds and the HM of the means;
- zeroshot: (target dataset, method), with the top-1 of each split and their mean/std;
- fewshot: (dataset, method, K), with the run's top-1 and top-5;
- fullsup: (dataset, method), with top-1, top-5 and the clips x crops views they were measured on.

Two files are written: a CSV with full precision and the run paths (the input of the table renderer, which
links every number to its runs), and a small rounded JSON summary meant for `dvc metrics diff`.

Usage: python -m vifi aggregate --protocol base2novel --out-csv results/aggregates/base2novel.csv \\
           --out-json results/metrics/base2novel.json results/runs/base2novel/*/*/seed*/metrics.json
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vifi.io import write_json, write_text
from vifi.metrics import harmonic_mean, mean_std
from vifi.names import DATASETS, METHODS

TOPK = ("top1", "top5")
VIEWS = ("clips", "crops")
SPLIT = re.compile(r"split[1-9]\d*")
SUMMARY_DECIMALS = 2


class MetricsError(ValueError):
    """A metrics file or table is malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Protocol:
    """How a protocol names its runs, which sets they are evaluated on, and how its table is built.

    `index` names the columns that identify a table row: rows are sorted by them (datasets and methods in the
    name mappings' order), the runs sharing them are aggregated into that row, and the JSON summary nests by
    them. `columns` are the columns every table of the protocol has (zero-shot adds one per split).
    """

    run_form: str
    run_pattern: str  # group 1, if any, is the integer stored under `key`
    key: str | None
    sets: Callable[[Any, Path], tuple[str, ...]]
    index: tuple[str, ...]
    row: Callable[[pd.DataFrame], dict[str, Any]]
    columns: tuple[str, ...]
    summary: Mapping[str, str]  # summary name -> table column


def _require(data: Any, keys: Sequence[str], path: Path) -> Any:
    """Return `data[k0][k1]...`, or fail naming the file and the dotted key, so a broken run is found fast."""
    for depth, key in enumerate(keys):
        if not isinstance(data, dict) or key not in data:
            raise MetricsError(f"{path}: missing key '{'.'.join(keys[: depth + 1])}'")
        data = data[key]
    return data


def _accuracy(data: dict[str, Any], name: str, k: str, path: Path) -> float:
    """An accuracy in percent; booleans, strings and out-of-range values are errors, not numbers."""
    value = _require(data, ("metrics", name, k), path)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise MetricsError(f"{path}: 'metrics.{name}.{k}' must be a percentage in [0, 100], got {value!r}")
    return float(value)


def _views(data: dict[str, Any], name: str, field: str, path: Path) -> int:
    """A view count (clips or crops per video): a positive integer."""
    value = _require(data, ("metrics", name, "views", field), path)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MetricsError(f"{path}: 'metrics.{name}.views.{field}' must be a positive integer, got {value!r}")
    return value


def _fixed(*names: str) -> Callable[[Any, Path], tuple[str, ...]]:
    """Sets every run of a protocol has; a missing one fails when its accuracy is read."""
    return lambda metrics, path: names


def _splits(metrics: Any, path: Path) -> tuple[str, ...]:
    """The zero-shot test splits a run was evaluated on (whichever ran), in split order."""
    if not isinstance(metrics, dict) or not metrics:
        raise MetricsError(f"{path}: 'metrics' must map split<k> to results, got {metrics!r}")
    for name in metrics:
        if not SPLIT.fullmatch(name):
            raise MetricsError(f"{path}: 'metrics.{name}' is not a zero-shot split (split<k>)")
    return tuple(sorted(metrics, key=lambda name: int(name.removeprefix("split"))))


def _only(runs: pd.DataFrame) -> pd.Series:
    """The single run behind a row of a protocol with one run per row (duplicates are rejected earlier)."""
    return runs.iloc[0]


def _base2novel_row(runs: pd.DataFrame) -> dict[str, Any]:
    """Seed statistics of one (dataset, method); HM from the averaged base and novel, as METHODS §5.2 says."""
    runs = runs.sort_values("seed")
    base_mean, base_std = mean_std(runs["base_top1"])
    novel_mean, novel_std = mean_std(runs["novel_top1"])
    return {
        "dataset": runs["dataset"].iloc[0],
        "method": runs["method"].iloc[0],
        "n_seeds": len(runs),
        "base_mean": base_mean,
        "base_std": base_std,
        "novel_mean": novel_mean,
        "novel_std": novel_std,
        "hm": harmonic_mean(base_mean, novel_mean),
        "runs": list(runs["path"]),
    }


def _zeroshot_row(runs: pd.DataFrame) -> dict[str, Any]:
    """Top-1 of each test split and their mean and std; the paper reports the mean over the 3 splits."""
    run = _only(runs)
    top1 = {name: run[f"{name}_top1"] for name in run["sets"]}
    mean, std = mean_std(top1.values())
    return {
        "dataset": run["dataset"],
        "method": run["method"],
        **top1,
        "mean": mean,
        "std": std,
        "n_splits": len(top1),
        "runs": [run["path"]],
    }


def _fewshot_row(runs: pd.DataFrame) -> dict[str, Any]:
    """One run per K: its accuracy on the test list, with no averaging (METHODS §5.2)."""
    run = _only(runs)
    top = {k: run[f"val_{k}"] for k in TOPK}
    return {
        "dataset": run["dataset"],
        "method": run["method"],
        "shots": run["shots"],
        **top,
        "runs": [run["path"]],
    }


def _fullsup_row(runs: pd.DataFrame) -> dict[str, Any]:
    """Top-1/top-5 with the views they were measured on, since the paper's numbers use 4 clips x 3 crops."""
    run = _only(runs)
    values = {name: run[f"val_{name}"] for name in (*TOPK, *VIEWS)}
    return {"dataset": run["dataset"], "method": run["method"], **values, "runs": [run["path"]]}


PROTOCOL: Mapping[str, Protocol] = {
    "zeroshot": Protocol(
        run_form="main",
        run_pattern="main",
        key=None,
        sets=_splits,
        index=("dataset", "method"),
        row=_zeroshot_row,
        columns=("dataset", "method", "mean", "std", "n_splits", "runs"),
        summary={"mean": "mean", "std": "std"},
    ),
    "base2novel": Protocol(
        run_form="seed<k> (main: an untrained method, the same on every subset)",
        run_pattern=r"seed(\d+)|main",
        key="seed",
        sets=_fixed("base", "novel"),
        index=("dataset", "method"),
        row=_base2novel_row,
        columns=(
            "dataset",
            "method",
            "n_seeds",
            "base_mean",
            "base_std",
            "novel_mean",
            "novel_std",
            "hm",
            "runs",
        ),
        summary={"base": "base_mean", "novel": "novel_mean", "hm": "hm"},
    ),
    "fewshot": Protocol(
        run_form="<K>shot",
        run_pattern=r"([1-9]\d*)shot",
        key="shots",
        sets=_fixed("val"),
        index=("dataset", "method", "shots"),
        row=_fewshot_row,
        columns=("dataset", "method", "shots", *TOPK, "runs"),
        summary={k: k for k in TOPK},
    ),
    "fullsup": Protocol(
        run_form="main",
        run_pattern="main",
        key=None,
        sets=_fixed("val"),
        index=("dataset", "method"),
        row=_fullsup_row,
        columns=("dataset", "method", *TOPK, *VIEWS, "runs"),
        summary={k: k for k in TOPK},
    ),
}
PROTOCOLS = tuple(PROTOCOL)


def _identity(data: dict[str, Any], protocol: str, path: Path) -> dict[str, Any]:
    """Protocol, dataset, method and run of a file, checked against the protocol being aggregated."""
    row: dict[str, Any] = {
        key: _require(data, (key,), path) for key in ("protocol", "dataset", "method", "run")
    }
    if row["protocol"] != protocol:
        raise MetricsError(f"{path}: 'protocol' is {row['protocol']!r}, expected {protocol!r}")
    for key, known in (("dataset", DATASETS), ("method", METHODS)):
        if row[key] not in known:
            raise MetricsError(f"{path}: unknown {key} {row[key]!r}; known: {', '.join(known)}")
    spec = PROTOCOL[protocol]
    match = re.fullmatch(spec.run_pattern, row["run"]) if isinstance(row["run"], str) else None
    if match is None:
        raise MetricsError(f"{path}: 'run' must be {spec.run_form} for {protocol}, got {row['run']!r}")
    if spec.key is not None:
        row[spec.key] = int(match[1]) if match[1] else 0
    return row


def _read_run(path: Path, protocol: str) -> dict[str, Any]:
    """One row of `load_runs`: the run's identity, top-1/top-5 and views of each set, and where it came from."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MetricsError(f"{path}: cannot read metrics JSON: {err}") from err
    row = _identity(data, protocol, path)
    row["sets"] = PROTOCOL[protocol].sets(_require(data, ("metrics",), path), path)
    for name in row["sets"]:
        row |= {f"{name}_{k}": _accuracy(data, name, k, path) for k in TOPK}
        row |= {f"{name}_{field}": _views(data, name, field, path) for field in VIEWS}
    row["path"] = str(path)
    return row


def load_runs(paths: Iterable[str | Path], protocol: str) -> pd.DataFrame:
    """Read one protocol's metrics files into one row per run, failing on the first malformed file.

    Each evaluation set contributes `<set>_top1`, `<set>_top5`, `<set>_clips` and `<set>_crops`; `sets`
    lists a run's sets in order.
    """
    return pd.DataFrame([_read_run(Path(path), protocol) for path in paths])


def _check_unique_runs(runs: pd.DataFrame) -> None:
    """Two files for the same run would silently weigh it twice in a mean, or fill one table cell twice."""
    duplicated = runs[runs.duplicated(["dataset", "method", "run"], keep=False)]
    if not duplicated.empty:
        raise MetricsError(f"several metrics files for the same run: {', '.join(duplicated['path'])}")


def _check_same_sets(runs: pd.DataFrame) -> None:
    """A run lacking a set the others have (a zero-shot split) would be averaged over different sets."""
    expected = set().union(*runs["sets"])
    for run in runs.itertuples(index=False):
        missing = sorted(expected - set(run.sets))
        if missing:
            raise MetricsError(
                f"{run.path}: missing evaluation set(s) {', '.join(missing)} that other runs have"
            )


def _display_order(table: pd.DataFrame, index: Sequence[str]) -> pd.DataFrame:
    """Sort rows as the name mappings order datasets and methods, then by the protocol's other index columns."""
    position = {"dataset": list(DATASETS).index, "method": list(METHODS).index}
    return table.sort_values(
        list(index),
        key=lambda col: col.map(position[col.name]) if col.name in position else col,
        ignore_index=True,
    )


def aggregate_runs(protocol: str, runs: pd.DataFrame) -> pd.DataFrame:
    """The protocol's table: one row per value of its index, built from the runs that share it."""
    if runs.empty:
        raise MetricsError(f"no {protocol} metrics files to aggregate")
    _check_unique_runs(runs)
    _check_same_sets(runs)
    spec = PROTOCOL[protocol]
    rows = [spec.row(group) for _, group in runs.groupby(list(spec.index), sort=False)]
    return _display_order(pd.DataFrame(rows), spec.index)


def summary(protocol: str, table: pd.DataFrame) -> dict[str, Any]:
    """`{dataset: {method: (...{K:}) {name: value}}}`, rounded so `dvc metrics diff` shows real changes only."""
    spec = PROTOCOL[protocol]
    out: dict[str, Any] = {}
    for row in table.to_dict("records"):
        *outer, last = (str(row[col]) for col in spec.index)
        node = out
        for key in outer:
            node = node.setdefault(key, {})
        node[last] = {name: round(float(row[col]), SUMMARY_DECIMALS) for name, col in spec.summary.items()}
    return out


def write_aggregate_csv(path: str | Path, table: pd.DataFrame) -> None:
    """Write a protocol's table atomically; the run-path lists are stored as JSON arrays in one column."""
    buf = io.StringIO()
    table.assign(runs=table["runs"].map(json.dumps)).to_csv(buf, index=False, lineterminator="\n")
    write_text(path, buf.getvalue())


def read_aggregate_csv(path: str | Path, protocol: str = "base2novel") -> pd.DataFrame:
    """Read a table written by `write_aggregate_csv`, with `runs` back as lists of paths."""
    df = pd.read_csv(path)
    missing = [col for col in PROTOCOL[protocol].columns if col not in df.columns]
    if missing:
        raise MetricsError(f"{path}: missing columns {', '.join(missing)}")
    return df.assign(runs=df["runs"].map(json.loads))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vifi aggregate", description="Aggregate one protocol's per-run metrics.json files."
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


if __name__ == "__main__":
    sys.exit(main())
