"""Kinetics-400/600 split lists built from the dataset's annotation CSVs.

The release lacks the full Kinetics-400 training list (`k400_splits/train.txt`), so paper mode builds it from
the annotations, in the path style of the official lists: `<split>/<youtube_id>_<start:06d>_<end:06d>.mp4` (the
name the Kinetics downloaders give each clip). Each path is then resolved against the local copy exactly like an
official list (`vifi.data.lists.resolve`: other folder layouts and containers are found, missing clips are
reported and counted against `--max-missing-fraction`). Labels get the ids of the paper's label CSV; a label
that is not in it is an error, because dropping its clips would shrink a class without anyone noticing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from vifi.data.lists.annotations import (
    AnnotationError,
    Item,
    check_paper_order,
    normalise_name,
    read_labels,
    write_list,
)
from vifi.data.lists.resolve import ListResolver

COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
# The official lists keep validation clips under `val/`; some annotation files call that split `validate`.
SPLIT_FOLDERS = {"validate": "val"}
MAX_LISTED = 10


def read_annotations(path: str | Path) -> pd.DataFrame:
    """The rows of an annotation CSV with whole-second integer times; extra columns (`is_cc`) are kept.

    Everything is read as text first: YouTube ids such as `nan` or `0123` must not turn into numbers.
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    for column in ("time_start", "time_end"):
        seconds = pd.to_numeric(frame[column], errors="coerce")
        bad = seconds.isna() | (seconds < 0) | (seconds != seconds.round())
        if bad.any():
            row = int(bad.to_numpy().argmax())
            value = frame[column].iloc[row]
            raise AnnotationError(
                f"{path}: data row {row + 1}: {column} {value!r} is not a whole number of seconds"
            )
        frame[column] = seconds.astype("int64")
    return frame


def clip_paths(frame: pd.DataFrame) -> pd.Series:
    """`<split>/<youtube_id>_<start:06d>_<end:06d>.mp4` for every row, as the official lists name clips."""
    folder = frame["split"].replace(SPLIT_FOLDERS)
    start = frame["time_start"].map("{:06d}".format)
    end = frame["time_end"].map("{:06d}".format)
    return folder + "/" + frame["youtube_id"] + "_" + start + "_" + end + ".mp4"


def label_ids(frame: pd.DataFrame, names: Sequence[str], source: str | Path, labels: str | Path) -> pd.Series:
    """The label id of every row: the exact name first, else the same name after `normalise_name`.

    The paper's Kinetics-400 names are the annotations' names; its Kinetics-600 list lower-cases `american` in
    one name that Kinetics-400 capitalises, so either spelling is accepted there.
    """
    exact = {name: i for i, name in enumerate(names)}
    normalised: dict[str, int] = {}
    for i, name in enumerate(names):
        other = normalised.setdefault(normalise_name(name), i)
        if other != i:
            raise AnnotationError(f"{labels}: {names[other]!r} and {name!r} differ only in case or separators")
    table = {}
    unknown = []
    for label in frame["label"].unique():
        found = exact.get(label, normalised.get(normalise_name(label)))
        if found is None:
            unknown.append(label)
        table[label] = found
    if unknown:
        rows = [int((frame["label"] == label).to_numpy().argmax()) + 1 for label in unknown[:MAX_LISTED]]
        shown = ", ".join(f"{label!r} (data row {row})" for label, row in zip(unknown, rows, strict=False))
        raise AnnotationError(f"{source}: {len(unknown)} label(s) not in {labels}: {shown}")
    return frame["label"].map(table)


def annotation_items(path: str | Path, names: Sequence[str], labels: str | Path) -> list[Item]:
    """The `(clip path, label id)` items of one annotation CSV, in its row order."""
    frame = read_annotations(path)
    ids = label_ids(frame, names, path, labels)
    return [Item(p, int(i)) for p, i in zip(clip_paths(frame), ids, strict=True)]


def write_kinetics_list(annotations: Sequence[Path], labels: Path, out: Path, resolver: ListResolver) -> None:
    """Write the list of every annotated clip that the video root holds; the rest go to the report.

    The report is `<out stem>_missing.json` and `.csv` beside `out`.
    """
    names = read_labels(labels)
    check_paper_order(names, labels)
    items = [item for path in annotations for item in annotation_items(path, names, labels)]
    kept = resolver.resolve(out.name, ", ".join(map(str, annotations)), items)
    resolver.finish(out.with_name(f"{out.stem}_missing.json"))
    write_list(out, kept)
