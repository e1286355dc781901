"""The per-video file `vifi evaluate` writes beside each metrics.json: what the confidence intervals resample.

An accuracy is a mean over test videos, so its uncertainty can only be estimated from the videos themselves. One
CSV per run holds a row per (evaluation set, video), in list order:

    set,video,label,prediction,probability,correct1,correct5
    base,v_ApplyEyeMakeup_g01_c01.avi,0,0,0.912345,1,1

`video` is the path as the split list gives it (the key that pairs two runs scored on the same list), `label`
and `prediction` are class ids of the set's own label file, `probability` is the mean softmax of the prediction
over the views, and `correct1`/`correct5` say whether the label ranks first / among the first five, with the tie
rule of `vifi.metrics.topk_accuracy`. metrics.json names the file (key `predictions`, relative to its own
folder), and a reader checks that the two agree on every set's video count, top-1 and top-5.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vifi.io import write_text
from vifi.metrics import label_ranks

COLUMNS = ("set", "video", "label", "prediction", "probability", "correct1", "correct5")
TOPK = {"top1": "correct1", "top5": "correct5"}
PROBABILITY_DECIMALS = 6


class PredictionsError(ValueError):
    """A per-video file is missing, malformed or disagrees with its metrics.json; the message names the file."""


@dataclass(frozen=True)
class SetPredictions:
    """One evaluation set's per-video outcomes, in list order; `source` names the file and set in errors."""

    videos: tuple[str, ...]
    labels: np.ndarray
    predictions: np.ndarray
    probability: np.ndarray
    correct1: np.ndarray
    correct5: np.ndarray
    source: str = ""

    def correct(self, metric: str) -> np.ndarray:
        """The 0/1 outcome of each video under `metric` ("top1" or "top5")."""
        return getattr(self, TOPK[metric])

    def accuracy(self, metric: str) -> float:
        """The set's accuracy in percent, as metrics.json reports it."""
        return float(100.0 * np.mean(self.correct(metric)))


def from_scores(videos: Sequence[str], probs: np.ndarray, labels: np.ndarray) -> SetPredictions:
    """Per-video outcomes of `(N, K)` view-averaged probabilities against `(N,)` labels."""
    rank = label_ranks(probs, labels)
    prediction = probs.argmax(axis=1)  # the first of equal maxima: the class rank 0 goes to on a tie
    return SetPredictions(
        videos=tuple(videos),
        labels=np.asarray(labels, dtype=np.int64),
        predictions=prediction.astype(np.int64),
        probability=probs[np.arange(len(probs)), prediction].astype(np.float64),
        correct1=rank < 1,
        correct5=rank < 5,
    )


def write_predictions(path: str | Path, sets: Mapping[str, SetPredictions]) -> None:
    """Write every set's rows atomically, sets in the given order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name, one in sets.items():
        for i, video in enumerate(one.videos):
            writer.writerow(
                (
                    name,
                    video,
                    int(one.labels[i]),
                    int(one.predictions[i]),
                    f"{one.probability[i]:.{PROBABILITY_DECIMALS}f}",
                    int(one.correct1[i]),
                    int(one.correct5[i]),
                )
            )
    write_text(path, buf.getvalue())


def _parse_row(row: list[str], where: str) -> tuple[str, str, int, int, float, bool, bool]:
    """One data row, checked: ids are non-negative integers, outcomes 0 or 1, and top-1 implies top-5."""
    if len(row) != len(COLUMNS):
        raise PredictionsError(f"{where}: expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), got {len(row)}")
    name, video, label, prediction, probability, correct1, correct5 = row
    try:
        ids = int(label), int(prediction)
        prob = float(probability)
    except ValueError as err:
        raise PredictionsError(f"{where}: label and prediction must be integers, probability a number") from err
    if min(ids) < 0 or not 0.0 <= prob <= 1.0:
        raise PredictionsError(f"{where}: class ids must be >= 0 and the probability in [0, 1]")
    if correct1 not in ("0", "1") or correct5 not in ("0", "1"):
        raise PredictionsError(f"{where}: correct1 and correct5 must be 0 or 1, got {correct1!r}, {correct5!r}")
    if (correct1 == "1") != (ids[0] == ids[1]) or (correct1, correct5) == ("1", "0"):
        raise PredictionsError(f"{where}: correct1 must say whether prediction == label, and imply correct5")
    return name, video, *ids, prob, correct1 == "1", correct5 == "1"


def read_predictions(path: str | Path) -> dict[str, SetPredictions]:
    """Every set of a file written by `write_predictions`, in file order; errors name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PredictionsError(f"{path}: cannot read per-video predictions: {err}") from err
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or tuple(header) != COLUMNS:
        raise PredictionsError(f"{path}: line 1 must be the header {','.join(COLUMNS)}, got {header}")
    columns: dict[str, list[tuple]] = {}
    for line, row in enumerate(rows, start=2):
        name, *fields = _parse_row(row, f"{path}, line {line}")
        columns.setdefault(name, []).append(tuple(fields))
    if not columns:
        raise PredictionsError(f"{path}: no videos")
    return {name: _set(fields, f"{path} (set {name!r})") for name, fields in columns.items()}


def _set(fields: list[tuple], source: str) -> SetPredictions:
    videos, labels, predictions, probability, correct1, correct5 = zip(*fields, strict=True)
    return SetPredictions(
        videos=videos,
        labels=np.array(labels, dtype=np.int64),
        predictions=np.array(predictions, dtype=np.int64),
        probability=np.array(probability, dtype=np.float64),
        correct1=np.array(correct1, dtype=bool),
        correct5=np.array(correct5, dtype=bool),
        source=source,
    )
