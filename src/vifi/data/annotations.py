"""Readers and writers for the annotation formats of the official ViFi-CLIP release.

Two formats carry every dataset: label CSVs (`id,name`, ids contiguous from 0, names possibly quoted because
SSv2 names contain commas) and split lists (`<relative video path> <label id>`, whitespace separated). The
synthetic generator writes the same formats, so paper mode and demo mode share these functions.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from vifi.io import write_text


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
    """Read a `<path> <label>` split list; the path may contain spaces, the label is the last field."""
    path = Path(path)
    items: list[Item] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        video, sep, label = line.rpartition(" ")
        if not sep or not video.strip():
            raise AnnotationError(f"{path}:{lineno}: expected '<video path> <label id>', found {line!r}")
        try:
            label_id = int(label)
        except ValueError as err:
            raise AnnotationError(f"{path}:{lineno}: label {label!r} is not an integer") from err
        if label_id < 0 or (num_classes is not None and label_id >= num_classes):
            raise AnnotationError(f"{path}:{lineno}: label {label_id} outside 0..{(num_classes or 0) - 1}")
        items.append(Item(video.strip(), label_id))
    return items


def write_list(path: str | Path, items: list[Item]) -> None:
    """Write a `<path> <label>` split list atomically."""
    write_text(path, "".join(f"{it.path} {it.label}\n" for it in items))
