"""The findings table: which of the papers' qualitative claims hold in this run, as LaTeX and HTML.

The claims are data (`findings.yaml` beside this module): one side is at least as good as the other on one
metric of one protocol. For each claim and each dataset (and K, or method) for which the run has both sides, a
row gives the paper's difference (from published.yaml where the papers print both numbers, "—" otherwise), ours
(side A - side B on the values the results tables print) with its paired 95% bootstrap interval, and the verdict
that interval implies (`vifi.report.bootstrap.verdict`): holds when it lies above 0, does not hold when below,
inconclusive when it contains 0. The pairing resamples the same seeds or splits and the same videos for both
sides, so what they have in common cancels out. A claim the run has no row for is listed as not run; no verdict
is ever written by hand.

Each row also counts the training runs its interval resamples: per side, the runs of a method that trains (the
fewer of the two sides'). At 1 (zero-shot from one source model, fully supervised) the interval covers test
videos and splits only, so the verdict is about that trained model; no interval resamples the pretrained CLIP
every run starts from. Prompting's bridge is resampled only where its runs start from several (`bridge.runs`,
counted by hash in `bridges`). Both vary with the machine's kernels (`docs/results.md`).

The paper's difference is shown in demo mode too, as the claim's source: the demo's numbers come from synthetic
stand-ins, so only the direction of the two can be set side by side. Where `--clusters` is given (the t-SNE
embeddings' silhouette scores, `vifi clusters`), the measured sentence about them closes the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from vifi.catalog import methods as method_catalog
from vifi.names import DATASETS, METHODS
from vifi.report.aggregate import (
    PROTOCOL,
    PROTOCOLS,
    Estimate,
    load_runs,
    paired_sample,
    read_aggregate_csv,
)
from vifi.report.bootstrap import FAILS, HOLDS, INCONCLUSIVE, Interval, estimates, verdict
from vifi.report.published import Published
from vifi.report.tables import BOOTSTRAP, DECIMALS, MODES, TEMPLATES, Mode, make_environment

CLAIMS = Path(__file__).with_name("findings.yaml")
COMPARES = ("methods", "shots")
KEYS = {"id", "claim", "protocol", "metric", "datasets", "compare", "better", "than", "methods"}
VERDICT_CLASS = {HOLDS: "holds", FAILS: "fails", INCONCLUSIVE: "inconclusive"}


class FindingsError(ValueError):
    """The claims file or an input of the findings table is malformed; the message names the file and key."""


@dataclass(frozen=True)
class Claim:
    """One claim of findings.yaml: `better` is at least as good as each of `than` (compare: methods), or each
    method's largest K at least as good as its smallest (compare: shots)."""

    id: str
    text: str
    protocol: str
    metric: str
    compare: str
    better: str | None = None
    than: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a method, at a number of shots in few-shot."""

    method: str
    shots: int | None = None

    def label(self) -> str:
        """The side's name in error messages."""
        return METHODS[self.method] if self.shots is None else f"{METHODS[self.method]}, K={self.shots}"


@dataclass(frozen=True)
class Finding:
    """One row: a dataset and comparison, the paper's and our difference (ours with its interval), a verdict,
    and the training runs per side behind the interval (None where neither side trains)."""

    dataset: str
    comparison: str
    paper: float | None
    ours: Interval
    verdict: str
    runs: int | None = None

    @property
    def verdict_class(self) -> str:
        return VERDICT_CLASS[self.verdict]


@dataclass(frozen=True)
class ClaimFindings:
    """A claim with its rows (none: the run lacks a side of every comparison it makes)."""

    claim: Claim
    rows: tuple[Finding, ...]


def _codes(value: Any, known: Mapping[str, str], where: str) -> tuple[str, ...]:
    """A list of known codes (methods or datasets), or an error naming the key and the known codes."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or any(v not in known for v in values):
        raise FindingsError(f"{where} must be one or more of {', '.join(known)}, got {value!r}")
    return tuple(values)


def _claim(entry: Any, source: Path, index: int) -> Claim:
    """One entry of the claims file, checked against the protocols, metrics and names the tables know."""
    where = f"{source}: claims[{index}]"
    if not isinstance(entry, dict) or not {"id", "claim", "protocol", "metric", "compare"} <= entry.keys():
        raise FindingsError(f"{where} needs id, claim, protocol, metric and compare, got {entry!r}")
    where = f"{source}: claim {entry['id']!r}"
    if unknown := sorted(set(entry) - KEYS):
        raise FindingsError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}")
    protocol, metric, compare = entry["protocol"], entry["metric"], entry["compare"]
    if protocol not in PROTOCOL:
        raise FindingsError(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    metrics = [e.metric for e in PROTOCOL[protocol].estimates]
    if metric not in metrics:
        raise FindingsError(
            f"{where}: metric of {protocol} must be one of {', '.join(metrics)}, got {metric!r}"
        )
    if compare not in COMPARES or (compare == "shots" and protocol != "fewshot"):
        raise FindingsError(f"{where}: compare must be methods, or shots in fewshot, got {compare!r}")
    methods = compare == "methods"
    if methods != ("better" in entry and "than" in entry) or (methods and "methods" in entry):
        raise FindingsError(f"{where}: compare: methods takes better and than; compare: shots, methods")
    optional = {key: _codes(entry[key], known, f"{where}: {key}") for key, known in
                (("than", METHODS), ("methods", METHODS), ("datasets", DATASETS)) if key in entry}  # fmt: skip
    return Claim(
        id=str(entry["id"]),
        text=" ".join(str(entry["claim"]).split()),
        protocol=protocol,
        metric=metric,
        compare=compare,
        better=_codes(entry["better"], METHODS, f"{where}: better")[0] if methods else None,
        **optional,
    )


def load_claims(path: str | Path = CLAIMS) -> tuple[Claim, ...]:
    """The claims of a findings file, in file order, with unique ids."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise FindingsError(f"{path}: cannot read claims: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise FindingsError(f"{path}: expected a mapping with a list under 'claims'")
    claims = tuple(_claim(entry, path, i) for i, entry in enumerate(data["claims"]))
    ids = [claim.id for claim in claims]
    if len(set(ids)) != len(ids):
        raise FindingsError(f"{path}: claim ids must be unique, got {', '.join(ids)}")
    return claims


def _arms(runs: pd.DataFrame, dataset: str) -> dict[Arm, pd.DataFrame]:
    """Every row of one dataset's runs as a comparison side: (method) or, in few-shot, (method, K)."""
    mine = runs[runs["dataset"] == dataset]
    if "shots" in mine.columns:
        return {Arm(m, int(k)): group for (m, k), group in mine.groupby(["method", "shots"], sort=False)}
    return {Arm(m): group for m, group in mine.groupby("method", sort=False)}


def _pairs(claim: Claim, arms: Mapping[Arm, pd.DataFrame]) -> Iterator[tuple[Arm, Arm]]:
    """The (A, B) comparisons a claim makes among the sides one dataset has, in display order."""
    if claim.compare == "shots":
        chosen = claim.methods or tuple(METHODS)
        for method in (m for m in METHODS if m in chosen):
            shots = sorted(arm.shots for arm in arms if arm.method == method)
            if len(shots) > 1:
                yield Arm(method, shots[-1]), Arm(method, shots[0])
        return
    for other in claim.than:
        if claim.protocol == "fewshot":
            shots = sorted({arm.shots for arm in arms})
            yield from ((Arm(claim.better, k), Arm(other, k)) for k in shots)
        else:
            yield Arm(claim.better), Arm(other)


def _paper_delta(published: Published, claim: Claim, dataset: str, a: Arm, b: Arm) -> float | None:
    """Published A - published B on the printed values, None unless the papers print both."""

    def value(arm: Arm) -> float | None:
        shots = () if arm.shots is None else (f"k{arm.shots}",)
        return published.value(claim.protocol, dataset, arm.method, claim.metric, *shots)

    first, second = value(a), value(b)
    return None if first is None or second is None else round(first - second, DECIMALS)


def _difference(claim: Claim, a: pd.DataFrame, b: pd.DataFrame, labels: tuple[str, str]) -> Interval:
    """A - B of the claim's value with its paired interval: both sides in one sample, resampled together."""
    spec = PROTOCOL[claim.protocol]
    estimate: Estimate = spec.estimate(claim.metric)
    sample = paired_sample([spec.units(a), spec.units(b)], (estimate.topk,), rows=labels)

    def statistic(acc: np.ndarray) -> np.ndarray:
        return estimate.statistic(acc[..., 0]) - estimate.statistic(acc[..., 1])

    return estimates(sample, {"difference": statistic})["difference"]


def _training_runs(sides: Mapping[Arm, pd.DataFrame]) -> int | None:
    """The fewest runs of a side whose method trains: the training draws the paired interval resamples."""
    counts = [len(runs) for arm, runs in sides.items() if method_catalog.method(arm.method).trained]
    return min(counts) if counts else None


def _comparison(claim: Claim, a: Arm, b: Arm) -> str:
    """How a row's comparison is printed: A vs B, with the K they share or, for shots, the method first."""
    if claim.compare == "shots":
        return f"{METHODS[a.method]}: K={a.shots} vs K={b.shots}"
    suffix = "" if a.shots is None else f", K={a.shots}"
    return f"{METHODS[a.method]} vs {METHODS[b.method]}{suffix}"


def claim_findings(claim: Claim, runs: pd.DataFrame | None, published: Published) -> ClaimFindings:
    """The rows of one claim over the datasets of its protocol's runs (none when the protocol did not run)."""
    if runs is None or runs.empty:
        return ClaimFindings(claim, ())
    rows = []
    for dataset in (d for d in DATASETS if d in set(runs["dataset"])):
        if claim.datasets is not None and dataset not in claim.datasets:
            continue
        arms = _arms(runs, dataset)
        for a, b in _pairs(claim, arms):
            if a not in arms or b not in arms:
                continue
            ours = _difference(claim, arms[a], arms[b], (f"{dataset} {a.label()}", f"{dataset} {b.label()}"))
            paper = _paper_delta(published, claim, dataset, a, b)
            behind = _training_runs({a: arms[a], b: arms[b]})
            rows.append(
                Finding(DATASETS[dataset], _comparison(claim, a, b), paper, ours, verdict(ours), behind)
            )
    return ClaimFindings(claim, tuple(rows))


def read_runs(paths: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """Per protocol, the runs its aggregate table lists, with their per-video files."""
    runs = {}
    for protocol, path in paths.items():
        try:
            table = read_aggregate_csv(path, protocol)
        except (OSError, ValueError) as err:
            raise FindingsError(f"{path}: cannot read the {protocol} aggregate table: {err}") from err
        runs[protocol] = load_runs([run for listed in table["runs"] for run in listed], protocol)
    return runs


def bridges(runs: Mapping[str, pd.DataFrame]) -> int | None:
    """How many starting models the runs of bridge-started methods (prompting) have over all protocols, by hash:
    at 1 no interval resamples the bridge; None where no such run was read."""
    starts = [
        frame.loc[frame["method"] == code, "start"]
        for frame in runs.values()
        if not frame.empty
        for code in frame["method"].unique()
        if method_catalog.method(code).starts_from == "bridge"
    ]
    found = set(pd.concat(starts).dropna()) if starts else set()
    return len(found) or None


def read_clusters(path: str | Path) -> str:
    """The measured sentence of a `vifi clusters` JSON file."""
    try:
        sentence = json.loads(Path(path).read_text(encoding="utf-8"))["sentence"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise FindingsError(f"{path}: cannot read the cluster scores' sentence: {err}") from err
    if not isinstance(sentence, str) or not sentence:
        raise FindingsError(f"{path}: 'sentence' must be a non-empty string, got {sentence!r}")
    return sentence


def render(
    findings: Sequence[ClaimFindings],
    *,
    mode: Mode,
    clusters: str | None = None,
    bridges: int | None = None,
    templates: Path = TEMPLATES,
) -> tuple[str, str]:
    """(LaTeX, HTML) of the findings table: claims with rows, then the claims not run; `bridges` (see `bridges`)
    says whether the caption can say that prompting's intervals resample its bridge."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    env = make_environment(templates)
    context = {
        "mode": mode,
        "claims": [group for group in findings if group.rows],
        "not_run": [group.claim for group in findings if not group.rows],
        "clusters": clusters,
        "bridges": bridges,
        "bootstrap": BOOTSTRAP,
    }
    return env.get_template("findings.tex.j2").render(context), env.get_template("findings.html.j2").render(
        context
    )


def as_records(findings: Sequence[ClaimFindings]) -> dict[str, dict[str, object]]:
    """Every row keyed `claim | dataset | comparison`: the paper's and our difference, interval and verdict (a
    mapping, so that `dvc metrics diff` pairs rows across experiments)."""
    return {
        f"{group.claim.id} | {row.dataset} | {row.comparison}": {
            "paper": row.paper,
            "ours": row.ours.value,
            "lo": row.ours.lo,
            "hi": row.ours.hi,
            "verdict": row.verdict,
            "runs": row.runs,
        }
        for group in findings
        for row in group.rows
    }
