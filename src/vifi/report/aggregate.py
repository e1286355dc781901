"""Collect per-run `metrics.json` files into one table per protocol (METHODS §5.2).

Every evaluated run writes `results/runs/<protocol>/<dataset>/<method>/<run>/metrics.json`, where `<run>` is
`seed<k>` (base-to-novel, training subset k), `<K>shot-seed<s>` (few-shot, K-shot draw s) or `main` (zero-shot,
fully supervised).
Each protocol's table has one row per:

- base2novel: (dataset, method), with base and novel top-1 mean/std over the seeds and the HM of the means;
- zeroshot: (target dataset, method), with the top-1 of each split and their mean/std;
- fewshot: (dataset, method, K), with top-1 and top-5 averaged over the K-shot draws (seeds);
- fullsup: (dataset, method), with top-1, top-5 and the clips x crops views they were measured on.

Every value comes with its 95% confidence interval (`<column>_lo`, `<column>_hi`), bootstrapped from the
runs' per-video files (`vifi.report.bootstrap`, `vifi.report.predictions`): over the test videos, and over the
seeds or splits where the value averages them. `paired_sample` resamples two rows together, for the findings'
paired comparisons.

Two files are written: a CSV with full precision and the run paths (the input of the table renderer, which
links every number to its runs), and a small rounded JSON summary meant for `dvc metrics diff`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vifi.io import write_text
from vifi.metrics import harmonic_mean, mean_std
from vifi.names import DATASETS, METHODS
from vifi.report.bootstrap import Outcomes, Sample, Statistic, estimates, harmonic
from vifi.report.predictions import PredictionsError, SetPredictions, read_predictions

TOPK = ("top1", "top5")
VIEWS = ("clips", "crops")
SPLIT = re.compile(r"split[1-9]\d*")
SUMMARY_DECIMALS = 2
AGREEMENT = 1e-6  # percentage points between a metrics.json accuracy and its per-video file's
# A row's runs as the units its values average (seeds, or a run's test splits), each unit's per-video outcomes
# in the protocol's set order; units of two rows with the same key are paired.
Units = dict[int | str, tuple[SetPredictions, ...]]


class MetricsError(ValueError):
    """A metrics file or table is malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Estimate:
    """A value of a table row as a statistic of its runs' outcomes, which gives it a confidence interval.

    `column` is its aggregate column, `metric` its name in published.yaml (and in the findings' claims), `topk`
    the per-video outcome it counts, and `statistic` maps per-set accuracies (..., sets) to the value (...).
    """

    column: str
    metric: str
    topk: str
    statistic: Statistic


def _set(index: int) -> Statistic:
    return lambda acc: acc[..., index]


def _hm(acc: np.ndarray) -> np.ndarray:
    """HM of the (seed-averaged) base and novel accuracies, sets 0 and 1, as the table's HM."""
    return harmonic(acc[..., 0], acc[..., 1])


@dataclass(frozen=True)
class Protocol:
    """How a protocol names its runs, which sets they are evaluated on, and how its table is built.

    `index` names the columns that identify a table row: rows are sorted by them (datasets and methods in the
    name mappings' order), the runs sharing them are aggregated into that row, and the JSON summary nests by
    them. `columns` are the columns every table of the protocol has (zero-shot adds one per split). `units`
    splits a row's runs into what its values average (the bootstrap's first level), and `estimates` says how
    each value follows from per-set accuracies, which gives it its confidence interval.
    """

    run_form: str
    run_pattern: str  # group 1, if any, is the integer stored under `key`
    key: str | None
    sets: Callable[[Any, Path], tuple[str, ...]]
    index: tuple[str, ...]
    row: Callable[[pd.DataFrame], dict[str, Any]]
    columns: tuple[str, ...]
    summary: Mapping[str, str]  # summary name -> table column
    units: Callable[[pd.DataFrame], Units]
    estimates: tuple[Estimate, ...]

    @property
    def intervals(self) -> tuple[str, ...]:
        """The confidence-interval columns of the table, two per estimated value."""
        return tuple(f"{e.column}_{end}" for e in self.estimates for end in ("lo", "hi"))

    def estimate(self, metric: str) -> Estimate:
        """The estimate of a published metric name ("hm", "top1", ...)."""
        for one in self.estimates:
            if one.metric == metric:
                return one
        raise KeyError(metric)


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
    """Per K, the accuracy on the test list averaged over the K-shot draws (the paper has one draw per K)."""
    runs = runs.sort_values("draw")
    return {
        "dataset": runs["dataset"].iloc[0],
        "method": runs["method"].iloc[0],
        "shots": runs["shots"].iloc[0],
        **{k: float(runs[f"val_{k}"].mean()) for k in TOPK},
        "n_seeds": len(runs),
        "runs": list(runs["path"]),
    }


def _seed_units(runs: pd.DataFrame) -> Units:
    """Base-to-novel: a unit per training seed (0 for an untrained method's single run), sets base and novel."""
    return {run.seed: (run.predictions["base"], run.predictions["novel"]) for run in runs.itertuples()}


def _split_units(runs: pd.DataFrame) -> Units:
    """Zero-shot: a unit per test split of the row's one run, each its own list of videos."""
    run = _only(runs)
    return {name: (run["predictions"][name],) for name in run["sets"]}


def _draw_units(runs: pd.DataFrame) -> Units:
    """Few-shot: a unit per K-shot draw, set val."""
    return {run.draw: (run.predictions["val"],) for run in runs.itertuples()}


def _run_units(runs: pd.DataFrame) -> Units:
    """Few-shot and fully supervised: the row's one run, set val."""
    return {"val": (_only(runs)["predictions"]["val"],)}


TOPK_ESTIMATES = tuple(Estimate(k, k, k, _set(0)) for k in TOPK)


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
        units=_split_units,
        estimates=(Estimate("mean", "top1", "top1", _set(0)),),
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
        units=_seed_units,
        estimates=(
            Estimate("base_mean", "base", "top1", _set(0)),
            Estimate("novel_mean", "novel", "top1", _set(1)),
            Estimate("hm", "hm", "top1", _hm),
        ),
    ),
    "fewshot": Protocol(
        run_form="<K>shot-seed<s>",
        run_pattern=r"([1-9]\d*)shot-seed(?P<draw>\d+)",
        key="shots",
        sets=_fixed("val"),
        index=("dataset", "method", "shots"),
        row=_fewshot_row,
        columns=("dataset", "method", "shots", *TOPK, "n_seeds", "runs"),
        summary={k: k for k in TOPK},
        units=_draw_units,
        estimates=TOPK_ESTIMATES,
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
        units=_run_units,
        estimates=TOPK_ESTIMATES,
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
    row |= {name: int(value) for name, value in match.groupdict().items()}
    return row


def _read_predictions(data: dict[str, Any], row: dict[str, Any], path: Path) -> dict[str, SetPredictions]:
    """The run's per-video file, named in its metrics.json, checked to be the same evaluation: the same sets,
    video counts and accuracies (a stale or swapped file would give intervals around other numbers)."""
    name = _require(data, ("predictions",), path)
    if not isinstance(name, str) or not name:
        raise MetricsError(f"{path}: 'predictions' must name the per-video CSV, got {name!r}")
    source = path.parent / name
    try:
        sets = read_predictions(source)
    except PredictionsError as err:
        raise MetricsError(str(err)) from err
    missing = [name for name in row["sets"] if name not in sets]
    if missing:
        raise MetricsError(f"{source}: no videos of set(s) {', '.join(missing)}, which {path} reports")
    for name in row["sets"]:
        videos = _require(data, ("metrics", name, "videos"), path)
        if videos != len(sets[name].videos):
            raise MetricsError(
                f"{source}: {len(sets[name].videos)} videos in set {name!r}, {path} says {videos}"
            )
        for k in TOPK:
            if abs(sets[name].accuracy(k) - row[f"{name}_{k}"]) > AGREEMENT:
                raise MetricsError(
                    f"{source}: {k} of set {name!r} is {sets[name].accuracy(k):.4f}, but {path} says "
                    f"{row[f'{name}_{k}']:.4f}: the two files come from different evaluations"
                )
    return sets


def _read_run(path: Path, protocol: str) -> dict[str, Any]:
    """One row of `load_runs`: the run's identity, top-1/top-5 and views of each set, its per-video outcomes
    and where it came from."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise MetricsError(f"{path}: cannot read metrics JSON: {err}") from err
    row = _identity(data, protocol, path)
    row["sets"] = PROTOCOL[protocol].sets(_require(data, ("metrics",), path), path)
    for name in row["sets"]:
        row |= {f"{name}_{k}": _accuracy(data, name, k, path) for k in TOPK}
        row |= {f"{name}_{field}": _views(data, name, field, path) for field in VIEWS}
    row["predictions"] = _read_predictions(data, row, path)
    row["path"] = str(path)
    row["start"] = _start(data)
    return row


def _start(data: dict[str, Any]) -> str | None:
    """The sha256 of the weights the evaluated model was trained from (None for a model as loaded), so a report
    can tell whether a method's runs share their starting model (one bridge) or not."""
    train = data.get("provenance", {}).get("train")
    weights = train.get("inputs", {}).get("weights") if isinstance(train, dict) else None
    return weights.get("sha256") if isinstance(weights, dict) else None


def load_runs(paths: Iterable[str | Path], protocol: str) -> pd.DataFrame:
    """Read one protocol's metrics files into one row per run, failing on the first malformed file.

    Each evaluation set contributes `<set>_top1`, `<set>_top5`, `<set>_clips` and `<set>_crops`; `sets`
    lists a run's sets in order, and `predictions` holds each set's per-video outcomes.
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


def _paired_unit(arm: Units, key: int | str, rows: Sequence[str]) -> tuple[SetPredictions, ...]:
    """An arm's unit under `key`, or its only run where it has one and the others several (an untrained
    method scored once, paired with each seed of a trained one)."""
    if key in arm:
        return arm[key]
    if len(arm) == 1:
        return next(iter(arm.values()))
    raise MetricsError(f"cannot pair the runs of {' and '.join(rows)}: their seeds or splits differ")


def paired_sample(arms: Sequence[Units], topk: Sequence[str], rows: Sequence[str] = ()) -> Sample:
    """One sample of several rows' outcomes, columns arm by arm and `topk` within: resampled together, so a
    difference between two columns is a paired one. Paired units must have scored the same videos; `rows`
    name the arms in errors."""
    rows = tuple(rows) or tuple(f"row {i + 1}" for i in range(len(arms)))
    keys = max(arms, key=len).keys()
    units = []
    for key in keys:
        per_arm = [_paired_unit(arm, key, rows) for arm in arms]
        sets = []
        for predictions in zip(*per_arm, strict=True):
            if any(p.videos != predictions[0].videos for p in predictions):
                raise MetricsError(
                    f"{' and '.join(p.source for p in predictions)}: not the same videos, so not comparable"
                )
            matrix = np.stack([p.correct(k) for p in predictions for k in topk], axis=1)
            sets.append(Outcomes(predictions[0].videos, matrix))
        units.append(tuple(sets))
    return Sample(tuple(units))


def _intervals(spec: Protocol, runs: pd.DataFrame) -> dict[str, float]:
    """`<column>_lo` and `<column>_hi` of every estimated value of one row, from one set of resamples."""
    sample = paired_sample([spec.units(runs)], TOPK)
    statistics = {
        e.column: (lambda acc, e=e: e.statistic(acc[..., TOPK.index(e.topk)])) for e in spec.estimates
    }
    bounds = {}
    for column, interval in estimates(sample, statistics).items():
        bounds |= {f"{column}_lo": interval.lo, f"{column}_hi": interval.hi}
    return bounds


def _row(spec: Protocol, runs: pd.DataFrame) -> dict[str, Any]:
    """A table row with its confidence intervals, the run paths last."""
    row = spec.row(runs)
    paths = row.pop("runs")
    return row | _intervals(spec, runs) | {"runs": paths}


def aggregate_runs(protocol: str, runs: pd.DataFrame) -> pd.DataFrame:
    """The protocol's table: one row per value of its index, built from the runs that share it."""
    if runs.empty:
        raise MetricsError(f"no {protocol} metrics files to aggregate")
    _check_unique_runs(runs)
    _check_same_sets(runs)
    spec = PROTOCOL[protocol]
    groups = runs.sort_values(spec.key) if spec.key else runs
    rows = [_row(spec, group) for _, group in groups.groupby(list(spec.index), sort=False)]
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


def read_aggregate_csv(
    path: str | Path, protocol: str = "base2novel", *, intervals: bool = False
) -> pd.DataFrame:
    """Read a table written by `write_aggregate_csv`, with `runs` back as lists of paths; with `intervals`,
    the confidence-interval columns are required too."""
    df = pd.read_csv(path)
    spec = PROTOCOL[protocol]
    missing = [col for col in (*spec.columns, *(spec.intervals if intervals else ())) if col not in df.columns]
    if missing:
        raise MetricsError(f"{path}: missing columns {', '.join(missing)}")
    return df.assign(runs=df["runs"].map(json.loads))
