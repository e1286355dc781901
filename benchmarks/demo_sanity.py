"""Sanity targets of a finished demo: properties any working miniature of the paper has, whichever method wins.

A demo whose models do not learn still produces every table, so the tables alone cannot tell a working
miniature from a broken one. These checks can: each prints its measured value next to its threshold, and any
failure makes the exit status 1.

- fully supervised, on the source (Kinetics-400) role: ViFi-CLIP top-1 >= 85, at least 30 points above
  vanilla CLIP, and its training accuracy >= 95 (measured here: one view per training video, same model);
- few-shot: K = 2, 4, 8, 16, each with 3 seeds, and for every method the seed-mean top-1 never falls as K
  grows;
- temporal (SSv2) role: EVL top-1 >= 80 while every frame-order-blind method stays <= 55 (its ceiling is 50);
- base-to-novel: on at least two datasets, ViFi-CLIP's base accuracy >= vanilla CLIP's + 20;
- base-to-novel evaluation sets large enough that every base and novel value's 95% interval over its test
  videos is at most +-3 points. A value that averages 3 training subsets also varies with the subsets, which no
  test set removes: its table interval resamples those too, and each line prints that half-width beside.

    .venv/bin/python benchmarks/demo_sanity.py [DEMO_DIR]    # default: this checkout
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from vifi.report.aggregate import MetricsError, load_runs, paired_sample, read_aggregate_csv
from vifi.report.bootstrap import estimates

ROOT = Path(__file__).resolve().parents[1]
FEWSHOT_K = (2, 4, 8, 16)
FEWSHOT_SEEDS = 3
ORDER_AWARE = frozenset({"evl"})
HALF_WIDTH = 3.0


class SanityError(Exception):
    """A finished demo lacks what a check needs (a file, a row); the message names it."""


@dataclass(frozen=True)
class Check:
    """One target: what was measured, the bound it must meet, and whether it does."""

    name: str
    value: float
    bound: str
    passed: bool

    def __post_init__(self) -> None:
        # pandas hands back numpy scalars; the record is JSON, which takes only Python's own
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "passed", bool(self.passed))

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.value:.1f} ({self.bound})"


def at_least(name: str, value: float, bound: float) -> Check:
    return Check(name, value, f">= {bound:g}", value >= bound)


def at_most(name: str, value: float, bound: float) -> Check:
    return Check(name, value, f"<= {bound:g}", value <= bound)


def aggregate(root: Path, protocol: str) -> pd.DataFrame:
    path = root / "results" / "aggregates" / f"{protocol}.csv"
    if not path.is_file():
        raise SanityError(f"{path}: missing; run the demo first (snakemake --cores all)")
    try:
        return read_aggregate_csv(path, protocol)
    except MetricsError as err:
        raise SanityError(str(err)) from err


def cell(table: pd.DataFrame, column: str, **where: str) -> float:
    """The one value of `column` in the row matching `where`, e.g. cell(t, "top1", dataset="k400")."""
    rows = table
    for key, value in where.items():
        rows = rows[rows[key] == value]
    if len(rows) != 1:
        raise SanityError(f"expected one row with {where}, found {len(rows)}")
    return float(rows[column].iloc[0])


def roles(root: Path) -> dict[str, str]:
    """Dataset name -> its synthetic role (source, downstream, zeroshot, temporal), from the demo's params."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    return {name: spec["role"] for name, spec in params["synthetic"]["datasets"].items()}


def dataset_with_role(root: Path, role: str, table: pd.DataFrame) -> str:
    names = [name for name, r in roles(root).items() if r == role and name in set(table["dataset"])]
    if len(names) != 1:
        raise SanityError(f"expected one {role} dataset in the fully supervised table, found {names}")
    return names[0]


def fullsup_checks(root: Path) -> list[Check]:
    table = aggregate(root, "fullsup")
    source = dataset_with_role(root, "source", table)
    vifi = cell(table, "top1", dataset=source, method="vifi")
    vanilla = cell(table, "top1", dataset=source, method="vanilla")
    return [
        at_least(f"fullsup {source} ViFi-CLIP top-1", vifi, 85),
        at_least(f"fullsup {source} ViFi-CLIP minus vanilla CLIP", vifi - vanilla, 30),
        at_least(f"fullsup {source} ViFi-CLIP training accuracy", training_accuracy(root, source), 95),
    ]


def run_metrics(root: Path, protocol: str, dataset: str, method: str) -> dict:
    path = root / "results" / "runs" / protocol / dataset / method / "main" / "metrics.json"
    if not path.is_file():
        raise SanityError(f"{path}: missing")
    return json.loads(path.read_text())


def training_accuracy(root: Path, dataset: str) -> float:
    """Top-1 of the fully supervised ViFi-CLIP on its own training list, one centre view per video.

    The evaluation re-runs the recorded command of the run's scoring (same weights, frames, model flags) with
    the training list in place of the validation list, so it measures how well the model fits what it saw.
    """
    record = run_metrics(root, "fullsup", dataset, "vifi")["provenance"]
    train_list = record["train"]["args"]["train_list"]
    labels = record["params"]["eval"][0][2]
    argv = views_of_one(drop_outputs(record["argv"]))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.json"
        command = [sys.executable, "-m", "vifi", "evaluate", *argv, "--eval", "train", train_list, labels]
        command += ["--out", str(out), "--predictions", str(Path(tmp) / "predictions.csv")]
        env = {**os.environ, "PYTHONPATH": str(root / "src")}  # the demo's own code, not this checkout's
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SanityError(f"scoring the training list failed:\n{done.stderr[-2000:]}")
        return float(json.loads(out.read_text())["metrics"]["train"]["top1"])


def drop_outputs(argv: list[str]) -> list[str]:
    """The recorded evaluation flags without its evaluation sets and output files."""
    kept, skip = [], 0
    for word in argv:
        if skip:
            skip -= 1
        elif word == "--eval":
            skip = 3
        elif word in ("--out", "--predictions"):
            skip = 1
        else:
            kept.append(word)
    return kept


def views_of_one(argv: list[str]) -> list[str]:
    """The flags with one clip and one crop per video, the training-time view."""
    words = list(argv)
    for flag in ("--num-clips", "--num-crops"):
        if flag in words:
            words[words.index(flag) + 1] = "1"
    return words


def fewshot_checks(root: Path) -> list[Check]:
    table = aggregate(root, "fewshot")
    checks = []
    for (dataset, method), rows in table.groupby(["dataset", "method"]):
        means = rows.groupby("shots")["top1"].mean()
        seeds = seed_counts(rows)
        shots = tuple(int(k) for k in means.index)
        grid_ok = shots == FEWSHOT_K and all(n >= FEWSHOT_SEEDS for n in seeds.values())
        trend = " <= ".join(f"{means[k]:.1f}" for k in means.index)
        drop = max((means.iloc[i] - means.iloc[i + 1] for i in range(len(means) - 1)), default=0.0)
        name = f"fewshot {dataset} {method}: K={list(shots)}, seeds {sorted(set(seeds.values()))}, {trend}"
        checks.append(Check(name, -max(drop, 0.0), "largest fall as K grows, must be 0", grid_ok and drop <= 0))
    if not checks:
        raise SanityError("the few-shot table has no rows")
    return checks


def seed_counts(rows: pd.DataFrame) -> dict[int, int]:
    """Seeds behind each K: the table's `n_seeds` column where it averages them, else one row per seed."""
    if "n_seeds" in rows:
        return {int(k): int(n) for k, n in rows.groupby("shots")["n_seeds"].sum().items()}
    return {int(k): int(n) for k, n in rows.groupby("shots").size().items()}


def temporal_checks(root: Path) -> list[Check]:
    table = aggregate(root, "fullsup")
    temporal = dataset_with_role(root, "temporal", table)
    rows = table[table["dataset"] == temporal]
    evl = cell(table, "top1", dataset=temporal, method="evl")
    checks = [at_least(f"fullsup {temporal} EVL top-1", evl, 80)]
    for method in sorted(set(rows["method"]) - ORDER_AWARE):
        value = cell(table, "top1", dataset=temporal, method=method)
        checks.append(at_most(f"fullsup {temporal} {method} (order-blind) top-1", value, 55))
    return checks


def base2novel_checks(root: Path) -> list[Check]:
    table = aggregate(root, "base2novel")
    datasets = sorted(set(table["dataset"]))
    checks = [Check("base-to-novel datasets", len(datasets), ">= 2", len(datasets) >= 2)]
    for dataset in datasets:
        vifi = cell(table, "base_mean", dataset=dataset, method="vifi")
        vanilla = cell(table, "base_mean", dataset=dataset, method="vanilla")
        checks.append(at_least(f"base2novel {dataset} ViFi-CLIP base minus vanilla base", vifi - vanilla, 20))
    return checks


def half_widths_over_test_videos(root: Path, runs: list[str]) -> dict[str, float]:
    """Half the width of each set's 95% interval of the mean top-1 over `runs` (metrics files relative to
    `root`) when only the test videos are resampled: the runs become columns of one unit, so the same
    resampled videos score every run, and the subsets' own spread does not enter."""
    table = load_runs([root / path for path in runs], "base2novel")
    arms = [{0: (run.predictions["base"], run.predictions["novel"])} for run in table.itertuples()]
    sample = paired_sample(arms, ("top1",))
    mean = {name: (lambda acc, i=i: acc[..., i, :].mean(axis=-1)) for i, name in enumerate(("base", "novel"))}
    return {name: (one.hi - one.lo) / 2 for name, one in estimates(sample, mean).items()}


def interval_checks(root: Path) -> list[Check]:
    checks = []
    for row in aggregate(root, "base2novel").itertuples():
        widths = half_widths_over_test_videos(root, row.runs)
        for name, width in widths.items():
            table_width = (getattr(row, f"{name}_mean_hi") - getattr(row, f"{name}_mean_lo")) / 2
            label = f"base2novel {row.dataset} {row.method} {name}: half-width over test videos"
            spread = f"the table's, subsets resampled too: {table_width:.1f}"
            checks.append(Check(label, width, f"<= {HALF_WIDTH:g}; {spread}", width <= HALF_WIDTH))
    return checks


def all_checks(root: Path) -> list[Check]:
    return [
        *fullsup_checks(root),
        *fewshot_checks(root),
        *temporal_checks(root),
        *base2novel_checks(root),
        *interval_checks(root),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=ROOT, help="a finished demo's checkout")
    args = parser.parse_args(argv)
    try:
        checks = all_checks(args.root.resolve())
    except SanityError as err:
        print(f"demo_sanity: {err}", file=sys.stderr)
        return 1
    for check in checks:
        print(check.line())
    failed = sum(not c.passed for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
