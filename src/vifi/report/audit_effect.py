"""What the release audit's disagreements do to the numbers: each evaluation scored as released and by name.

The released HMDB-51 lists give `kick ball`/`kick` and `sword exercise`/`sword` each other's ids, and zero-shot
and novel accuracy depend on class names. Every run's per-video predictions (`predictions.csv`) already say
which class the model chose for each video, so both policies' top-1 follow without evaluating again: as
released, against the list's ids; by name, against the ids of the classes the videos name
(`vifi.data.lists.audit.relabel_by_name`). The models themselves were trained on the lists as `audit.policy` had
them, so under `as_released` the table isolates the effect of the evaluation labels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import Environment

from vifi.data.lists.annotations import Item, read_labels
from vifi.data.lists.audit import VideoNames, relabel_by_name, video_namer
from vifi.names import DATASETS, METHODS
from vifi.report.predictions import PredictionsError, read_predictions


@dataclass(frozen=True)
class Case:
    """One evaluation set of one run, with what names its videos' classes."""

    run: Path  # the run folder: metrics.json and predictions.csv
    set: str
    labels: Path
    fmt: str
    names: Path


@dataclass(frozen=True)
class Effect:
    """Top-1 of one evaluation set under both policies, and how many of its videos change label."""

    protocol: str
    dataset: str
    method: str
    run: str
    set: str
    videos: int
    relabelled: int
    as_released: float
    by_name: float

    @property
    def delta(self) -> float:
        return self.by_name - self.as_released


def measure(case: Case) -> Effect:
    """Score one set's predictions against its list's ids and against the ids its videos' names give."""
    meta = json.loads((case.run / "metrics.json").read_text(encoding="utf-8"))
    predictions = read_predictions(case.run / meta["predictions"])
    if case.set not in predictions:
        raise PredictionsError(f"{case.run}: no set {case.set!r} in its predictions ({', '.join(predictions)})")
    scored = predictions[case.set]
    names = read_labels(case.labels)
    items = [Item(video, int(label)) for video, label in zip(scored.videos, scored.labels, strict=True)]
    namer = video_namer(case.fmt, names, VideoNames.read(case.names))
    by_name, changed = relabel_by_name(items, names, namer)
    new = np.array([it.label for it in by_name], dtype=np.int64)
    return Effect(
        protocol=meta["protocol"],
        dataset=meta["dataset"],
        method=meta["method"],
        run=meta["run"],
        set=case.set,
        videos=len(items),
        relabelled=changed,
        as_released=float(100.0 * np.mean(scored.predictions == scored.labels)),
        by_name=float(100.0 * np.mean(scored.predictions == new)),
    )


def render(effects: Sequence[Effect], policy: str, mode: str, env: Environment) -> tuple[str, str]:
    """(LaTeX, HTML) of the sets whose ids change by name; a sentence, not an empty table, when none do."""
    rows = [
        {**vars(e), "dataset": DATASETS.get(e.dataset, e.dataset), "method": METHODS.get(e.method, e.method),
         "delta": e.delta}
        for e in effects
        if e.relabelled
    ]  # fmt: skip
    context = {"rows": rows, "policy": policy, "mode": mode, "checked": len(effects)}
    return (
        env.get_template("audit_effect.tex.j2").render(context),
        env.get_template("audit_effect.html.j2").render(context),
    )
