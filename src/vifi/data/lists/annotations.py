"""Readers and writers for the annotation formats of the official ViFi-CLIP release.

Two formats carry every dataset: label CSVs (`id,name`, ids contiguous from 0, names possibly quoted because
SSv2 names contain commas) and split lists (`<relative video path> <label id>`, whitespace separated). The
synthetic generator writes the same formats, so paper mode and demo mode share these functions.

The paper's full label lists ship in `vifi/data/lists/labels/` (copied unchanged from the release), because
label ids are fixed by their order and common sources order some datasets differently: HMDB-51 class folders
sorted alphabetically put `kick` before `kick_ball` and `sword` before `sword_exercise`, the paper the other way
round. `check_paper_order` refuses such a list wherever a label file enters the pipeline.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vifi.catalog import datasets as dataset_catalog
from vifi.io import write_text

# The paper's full label lists shipped with the package (each catalog dataset's), by file prefix.
PAPER_LABELS = tuple(d.label_prefix for d in dataset_catalog.datasets().values() if d.label_prefix)
MAX_LISTED = 10

# Files of the datasets' own formats that look enough like label CSVs and split lists to be passed by mistake;
# `vifi.data.lists.official` reads them.
_CLASS_IND_LINE = re.compile(r"\s*\d+\s+\S.*")
_UCF_TRAIN_FILE = re.compile(r"trainlist\d+\.txt")
_UCF_TEST_FILE = re.compile(r"testlist\d+\.txt")
_UCF_TEST_LINE = re.compile(r"[^/\s]+/v_\S+\.avi")
_HMDB_SPLIT_FILE = re.compile(r".+_test_split\d+\.txt")
_OFFICIAL_READER = "vifi.data.lists.official.read_annotations({fmt!r}, <dataset root>)"


class AnnotationError(ValueError):
    """A label or split file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    """One line of a split list: a video path relative to the dataset's video root, and its label id."""

    path: str
    label: int


def read_labels(path: str | Path) -> list[str]:
    """Return class names in label-id order, checking that ids are 0..K-1 in order."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    rows = list(csv.reader(io.StringIO(text)))
    if rows and len(rows[0]) == 1 and _CLASS_IND_LINE.fullmatch(rows[0][0]):
        raise AnnotationError(
            f"{path}:1: expected the header 'id,name', found {rows[0][0]!r}: this looks like UCF-101's "
            f"classInd.txt ('<id> <name>' lines, ids 1-based); read it with "
            f"{_OFFICIAL_READER.format(fmt='ucf101')}"
        )
    if not rows or [c.strip() for c in rows[0]] != ["id", "name"]:
        raise AnnotationError(f"{path}: expected the header 'id,name', found {rows[:1]}")
    names: list[str] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise AnnotationError(f"{path}:{lineno}: expected 2 columns (id,name), found {len(row)}: {row}")
        try:
            idx = int(row[0])
        except ValueError as err:
            raise AnnotationError(f"{path}:{lineno}: label id {row[0]!r} is not an integer") from err
        if idx == 1 and not names:
            raise AnnotationError(
                f"{path}:{lineno}: the ids look 1-based (the first is 1); label CSVs number classes from 0. "
                f"For UCF-101's classInd.txt use {_OFFICIAL_READER.format(fmt='ucf101')}"
            )
        if idx != len(names):
            raise AnnotationError(f"{path}:{lineno}: label id {idx} out of order, expected {len(names)}")
        names.append(row[1])
    if not names:
        raise AnnotationError(f"{path}: no classes listed")
    return names


def write_labels(path: str | Path, names: list[str]) -> None:
    """Write an `id,name` CSV atomically, quoting only where the name needs it (as the official files do)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "name"])
    writer.writerows(enumerate(names))
    write_text(path, buf.getvalue())


def read_list(path: str | Path, num_classes: int | None = None) -> list[Item]:
    """Read a `<path> <label>` split list; the path may contain spaces, the label is the last field.

    The datasets' own split files look alike but mean something else (HMDB-51's 7030 tags, UCF-101's 1-based
    ids, UCF-101's unlabelled test lists); they are refused with a message that says what the file is and which
    reader takes it, rather than read as wrong label ids.
    """
    path = Path(path)
    lines = [
        (lineno, raw)
        for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if raw.strip()
    ]
    _refuse_hmdb_split(path, lines)
    numbered = [(lineno, _list_item(path, lineno, raw.strip())) for lineno, raw in lines]
    _refuse_one_based(path, [item.label for _, item in numbered], num_classes)
    for lineno, item in numbered:
        if item.label < 0 or (num_classes is not None and item.label >= num_classes):
            raise AnnotationError(f"{path}:{lineno}: label {item.label} outside 0..{(num_classes or 0) - 1}")
    return [item for _, item in numbered]


def _list_item(path: Path, lineno: int, line: str) -> Item:
    video, sep, label = line.rpartition(" ")
    unlabelled = not sep or not video.strip() or not label.lstrip("-").isdigit()
    if unlabelled and (_UCF_TEST_FILE.fullmatch(path.name) or _UCF_TEST_LINE.fullmatch(line)):
        raise AnnotationError(
            f"{path}:{lineno}: found {line!r} with no label: this looks like a UCF-101 test list "
            f"(testlistNN.txt), whose videos take their class from their folder; read it with "
            f"{_OFFICIAL_READER.format(fmt='ucf101')}"
        )
    if not sep or not video.strip():
        raise AnnotationError(f"{path}:{lineno}: expected '<video path> <label id>', found {line!r}")
    try:
        return Item(video.strip(), int(label))
    except ValueError as err:
        raise AnnotationError(f"{path}:{lineno}: label {label!r} is not an integer") from err


def _refuse_hmdb_split(path: Path, lines: Sequence[tuple[int, str]]) -> None:
    """HMDB-51's 7030 files read like lists with labels 0..2: their tags (1 train, 2 test, 0 unused) would
    become class ids. They are known by name, or by their tags with the trailing space every line has."""
    tagged = bool(lines) and all(
        raw.endswith((" ", "\t")) and raw.split()[-1] in ("0", "1", "2") for _, raw in lines
    )
    if _HMDB_SPLIT_FILE.fullmatch(path.name) or tagged:
        raise AnnotationError(
            f"{path}: this is an HMDB-51 7030 split file ('<video> <tag> ' lines: 1 = train, 2 = test, "
            f"0 = unused), not a list of label ids; read it with {_OFFICIAL_READER.format(fmt='hmdb51')}"
        )


def _refuse_one_based(path: Path, labels: Sequence[int], num_classes: int | None) -> None:
    """A list numbered 1..K (UCF-101's trainlistNN.txt uses classInd.txt's ids) would shift every class by one
    and only fail, if at all, at the first line of the last class."""
    if not labels or min(labels) < 1:
        return
    if _UCF_TRAIN_FILE.fullmatch(path.name) or (num_classes is not None and max(labels) == num_classes):
        raise AnnotationError(
            f"{path}: labels run {min(labels)}..{max(labels)}"
            + (f" for {num_classes} classes" if num_classes is not None else "")
            + ": the ids look 1-based, as in UCF-101's trainlistNN.txt; split lists number classes from 0. "
            f"Read UCF-101's lists with {_OFFICIAL_READER.format(fmt='ucf101')}"
        )


def write_list(path: str | Path, items: list[Item]) -> None:
    """Write a `<path> <label>` split list atomically."""
    write_text(path, "".join(f"{it.path} {it.label}\n" for it in items))


def normalise_name(name: str) -> str:
    """A class name as compared across sources.

    Folder names use underscores (`kick_ball`), SSv2's annotation templates bracket their placeholders
    (`[something]`), and the shipped K600 list writes `passing american football (not in game)` where
    Kinetics-400 capitalises `American`.
    """
    return " ".join(name.replace("_", " ").replace("[", "").replace("]", "").split()).casefold()


@functools.cache
def paper_labels(prefix: str) -> tuple[str, ...]:
    """The paper's class names of one dataset in label-id order, from the shipped `<prefix>_labels.csv`."""
    if prefix not in PAPER_LABELS:
        raise KeyError(f"no shipped label list {prefix!r}; shipped: {', '.join(PAPER_LABELS)}")
    with resources.as_file(resources.files("vifi.data.lists") / "labels" / f"{prefix}_labels.csv") as path:
        return tuple(read_labels(path))


@functools.cache
def _paper_class_sets() -> dict[str, frozenset[str]]:
    return {prefix: frozenset(map(normalise_name, paper_labels(prefix))) for prefix in PAPER_LABELS}


def check_paper_order(names: Sequence[str], source: str | Path) -> None:
    """Refuse a label list that holds exactly a paper dataset's classes but under other ids or spellings.

    Such a list comes from rebuilding the labels from raw folders or another code base (torchvision's HMDB51
    sorts the folders); its ids would silently disagree with every official split list and the prompts would
    use other strings. Lists of other class sets (synthetic data, base/novel halves) are not affected.
    """
    normalised = frozenset(map(normalise_name, names))
    for prefix, classes in _paper_class_sets().items():
        paper = paper_labels(prefix)
        if len(names) != len(paper) or normalised != classes or tuple(names) == paper:
            continue
        diffs = [
            (i, ours, theirs)
            for i, (ours, theirs) in enumerate(zip(names, paper, strict=True))
            if ours != theirs
        ]
        shown = "; ".join(
            f"id {i} is {ours!r} here, {theirs!r} in the paper" for i, ours, theirs in diffs[:MAX_LISTED]
        )
        raise AnnotationError(
            f"{source}: has the classes of the paper's {prefix}_labels.csv but {len(diffs)} id(s) differ in "
            f"name or order ({shown}); use the shipped vifi/data/lists/labels/{prefix}_labels.csv"
        )
