"""Each dataset's own annotation files, read and written as their publishers ship them.

Someone who downloads UCF-101, HMDB-51, Kinetics-400/600 or Something-Something v2 gets the publisher's
annotation files, not the `<path> <label id>` lists of the ViFi-CLIP release. This module reads those files as
published into one shape (`Annotations`), so the pipeline derives its lists without hand conversion, and
writes the same formats byte for byte, so the synthetic demo goes through the same readers as paper mode.
Paths relative to the dataset root (`data/raw/<dataset>`):

- `ucf101`: `ucfTrainTestlist/` (or the root itself) with `classInd.txt` (`1 ApplyEyeMakeup`, 1-based ids),
  `trainlistNN.txt` (`ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1`) and `testlistNN.txt` (no label: the class
  is the folder), CRLF line ends.
- `hmdb51`: `testTrainMulti_7030_splits/` with `<class>_test_split<N>.txt`, lines `<video>.avi <tag> ` (trailing
  space; tag 1 = train, 2 = test, 0 = unused in that split).
- `kinetics`: `annotations/` (or the root) with CSVs `label,youtube_id,time_start,time_end,split[,is_cc]`: the
  training file (`train.csv`, Kinetics-600's `train.txt`), the validation file (`val.csv`, `validate.csv`,
  `val.txt`) and optionally a test file, which counts as a split only where it has labels.
- `ssv2`: `labels/` (or the root) with `labels.json` (name -> id string), `train.json` and `validation.json`
  (the older `something-something-v2-*.json` names too). A video's class is its template without brackets.

Video paths follow the paper's released lists: bare file names for UCF and HMDB,
`<split>/<id>_<start>_<end>.mp4` for Kinetics, `<id>.webm` for SSv2. Class names stay as the dataset spells
them; `to_items` gives them the ids of a label list (the paper's CSV or the demo's `labels.csv`) through
`match_key`, which is what makes `kick_ball` meet the paper's `kick ball`.

Split keys are `train<N>` / `val<N>` (UCF and HMDB folds; Kinetics and SSv2 have fold 1 only), plus `test1` for
a labelled Kinetics test file. Kinetics-600's zero-shot lists mix training, validation and test videos of the
classes new to Kinetics-600: `exclude_classes` drops the Kinetics-400 classes and `all_videos` pools what is
left into one list.

The paper orders HMDB-51's val lists by its own label ids (`kick ball` before `kick`); the 7030 files, sorted by
class folder, give the same videos per class in the same order, so sorting `to_items`' output by label (a stable
sort) gives the paper's order.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vifi.data.lists import kinetics
from vifi.data.lists.annotations import AnnotationError, Item
from vifi.io import write_text

FORMATS = ("ucf101", "hmdb51", "kinetics", "ssv2")
MAX_LISTED = 10

UCF_FOLDER = "ucfTrainTestlist"
HMDB_FOLDER = "testTrainMulti_7030_splits"
KINETICS_FOLDER = "annotations"
SSV2_FOLDER = "labels"

_UCF_LIST = re.compile(r"(train|test)list(\d+)\.txt")
_HMDB_FILE = re.compile(r"(.+)_test_split(\d+)\.txt")
_SPLIT_KEY = re.compile(r"(train|val|test)(\d+)")
_KINETICS_CLIP = re.compile(r"([^/]+)/(.+)_(\d{6,})_(\d{6,})\.mp4")
_HMDB_TAGS = {"1": "train", "2": "val", "0": None}
_SSV2_PLACEHOLDER = re.compile(r"\b[Ss]omething\b")

# Candidate file names per Kinetics split, in order of preference (K400 CSVs, K600's `.txt` CSVs).
KINETICS_FILES = {
    "train1": ("train.csv", "train.txt"),
    "val1": ("val.csv", "validate.csv", "val.txt", "validate.txt"),
    "test1": ("test.csv", "test.txt"),
}
SSV2_FILES = {
    "labels": ("labels.json", "something-something-v2-labels.json"),
    "train1": ("train.json", "something-something-v2-train.json"),
    "val1": ("validation.json", "something-something-v2-validation.json"),
}


@dataclass(frozen=True)
class Video:
    """One annotated video: its path as the paper's released lists write it, its class as the dataset does."""

    path: str
    name: str


@dataclass
class Annotations:
    """A dataset's classes in its own id order and its splits (`train1`, `val1`, ...), each in file order."""

    format: str
    classes: list[str]
    splits: dict[str, list[Video]]


def match_key(name: str) -> str:
    """A class name reduced to lower-case letters and digits, so that one class's spellings meet.

    `ApplyEyeMakeup` / `apply eye makeup`, `kick_ball` / `kick ball`, `Putting [something] on X` / `Putting
    something on X` meet; distinct classes stay apart (`kick` is not `kick ball`).
    """
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def read_annotations(fmt: str, root: str | Path) -> Annotations:
    """Read the annotation files of dataset root `root` in format `fmt` (one of `FORMATS`)."""
    root = Path(root)
    if fmt not in _READERS:
        raise ValueError(f"unknown annotation format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not root.is_dir():
        raise AnnotationError(f"{root}: no such folder (expected the {fmt} dataset root)")
    return _READERS[fmt](root)


def write_annotations(
    fmt: str, root: str | Path, classes: Sequence[str], splits: dict[str, list[Video]]
) -> None:
    """Write `splits` under dataset root `root` in format `fmt`, as the publisher writes it.

    Reading it back gives the same `Annotations` when `classes` and the lists are in the order the format keeps
    (see each writer).
    """
    if fmt not in _WRITERS:
        raise ValueError(f"unknown annotation format {fmt!r}; expected one of {', '.join(FORMATS)}")
    _check_names(classes, splits)
    _WRITERS[fmt](Path(root), list(classes), splits)


def to_items(videos: Iterable[Video], names: Sequence[str], source: str | Path) -> list[Item]:
    """`(path, label id)` items with the ids of label list `names`.

    A video's class is found by its exact name, else by the one name with the same `match_key`. Unknown or
    ambiguous class names are refused, naming `source` (where the videos came from): a video silently given
    another class's id would corrupt every number measured on the list.
    """
    videos = list(videos)
    exact = {name: i for i, name in enumerate(names)}
    by_key: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_key.setdefault(match_key(name), []).append(i)
    counts = Counter(video.name for video in videos)
    ids: dict[str, int] = {}
    unknown, ambiguous = [], []
    for name, count in counts.items():
        found = [exact[name]] if name in exact else by_key.get(match_key(name), [])
        if len(found) == 1:
            ids[name] = found[0]
        elif found:
            ambiguous.append(
                f"{name!r} ({count} video(s)) matches " + " and ".join(repr(names[i]) for i in found)
            )
        else:
            unknown.append(f"{name!r} ({count} video(s))")
    if unknown:
        raise AnnotationError(
            f"{source}: {len(unknown)} class name(s) not in the label list of {len(names)} names: "
            + ", ".join(unknown[:MAX_LISTED])
        )
    if ambiguous:
        raise AnnotationError(f"{source}: {len(ambiguous)} ambiguous class name(s): {'; '.join(ambiguous)}")
    return [Item(video.path, ids[video.name]) for video in videos]


def exclude_classes(annotations: Annotations, names: Iterable[str]) -> Annotations:
    """`annotations` without the classes of another label list (matched by `match_key`) and their videos.

    This is the Kinetics-600 zero-shot protocol: its classes that are not in Kinetics-400.
    """
    dropped = {match_key(name) for name in names}
    keep = {name for name in annotations.classes if match_key(name) not in dropped}
    return Annotations(
        annotations.format,
        [name for name in annotations.classes if name in keep],
        {split: [v for v in videos if v.name in keep] for split, videos in annotations.splits.items()},
    )


def all_videos(annotations: Annotations) -> list[Video]:
    """Every distinct labelled video, split by split (`train1`, `val1`, `test1`, ...), each in file order.

    The released Kinetics-600 zero-shot lists draw on all of a class's videos, whatever split they came from.
    """
    return list(dict.fromkeys(video for videos in annotations.splits.values() for video in videos))


# ---------------------------------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; the CR of a CRLF end is dropped, other whitespace kept."""
    lines = _read_text(path).split("\n")
    return [(n, line.removesuffix("\r")) for n, line in enumerate(lines, start=1) if line.strip()]


def _folder(root: Path, name: str) -> Path:
    """The annotation folder: `root/name` as archives extract it, or `root` given as that folder."""
    return root / name if (root / name).is_dir() else root


def _missing(root: Path, folder: Path, name: str, files: Sequence[str], expected: str) -> AnnotationError:
    where = f"{folder}: missing" if folder != root else f"{root}: no {name}/ folder and no"
    return AnnotationError(f"{where} {', '.join(files)}; expected {expected}")


def _first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _fold_numbers(found: Iterable[int], path: Path, what: str) -> list[int]:
    """The folds 1..F; a gap (split 1 and 3 but no 2) is named rather than silently renumbered."""
    folds = sorted(set(found))
    if folds != list(range(1, len(folds) + 1)):
        raise AnnotationError(f"{path}: {what} are numbered {folds}; expected 1..{len(folds)} without gaps")
    return folds


def read_ucf101(root: Path) -> Annotations:
    """UCF-101's `ucfTrainTestlist`: classes in classInd.txt order, `train<N>` / `val<N>` from trainlist0N /
    testlist0N."""
    folder = _folder(root, UCF_FOLDER)
    expected = "classInd.txt, trainlist01.txt..trainlist03.txt and testlist01.txt..testlist03.txt"
    lists = {(m[1], int(m[2])) for m in map(_UCF_LIST.fullmatch, _names(folder)) if m}
    folds = sorted({fold for _, fold in lists})
    required = ["classInd.txt"] if not (folder / "classInd.txt").is_file() else []
    required += [
        f"{kind}list{n:02d}.txt" for n in folds or [1] for kind in ("train", "test") if (kind, n) not in lists
    ]
    if required:
        raise _missing(root, folder, UCF_FOLDER, required, expected)
    classes = _read_class_ind(folder / "classInd.txt")
    splits: dict[str, list[Video]] = {}
    for n in _fold_numbers(folds, folder, "trainlist/testlist files"):
        splits[f"train{n}"] = _read_ucf_train(folder / f"trainlist{n:02d}.txt", classes)
        splits[f"val{n}"] = _read_ucf_test(folder / f"testlist{n:02d}.txt", classes)
    return Annotations("ucf101", classes, splits)


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.is_file())


def _read_class_ind(path: Path) -> list[str]:
    classes: list[str] = []
    for lineno, line in _lines(path):
        number, _, name = line.strip().partition(" ")
        if not number.isdigit() or not name.strip():
            raise AnnotationError(
                f"{path}:{lineno}: expected '<id> <ClassName>' (UCF-101 classInd.txt), found {line!r}"
            )
        if int(number) != len(classes) + 1:
            raise AnnotationError(
                f"{path}:{lineno}: class id {number} out of order; classInd.txt numbers classes 1, 2, ... "
                f"so expected {len(classes) + 1}"
            )
        classes.append(name.strip())
    if not classes:
        raise AnnotationError(f"{path}: no classes listed")
    return classes


def _ucf_entry(path: Path, lineno: int, entry: str, line: str, expected: str) -> tuple[str, str]:
    folder, sep, file = entry.partition("/")
    if not sep or not folder or not file or "/" in file or any(ch.isspace() for ch in entry):
        raise AnnotationError(f"{path}:{lineno}: expected {expected}, found {line!r}")
    return folder, file


def _read_ucf_train(path: Path, classes: Sequence[str]) -> list[Video]:
    expected = "'<Class>/<video>.avi <1-based class id>' (UCF-101 trainlist)"
    videos = []
    for lineno, line in _lines(path):
        entry, _, label = line.strip().rpartition(" ")
        folder, file = _ucf_entry(path, lineno, entry, line, expected)
        if not label.isdigit() or not 1 <= int(label) <= len(classes):
            raise AnnotationError(
                f"{path}:{lineno}: class id {label!r} is not in classInd.txt's 1..{len(classes)}; "
                f"expected {expected}"
            )
        name = classes[int(label) - 1]
        if folder != name:
            raise AnnotationError(
                f"{path}:{lineno}: folder {folder!r} but class id {label} is {name!r} in classInd.txt"
            )
        videos.append(Video(file, name))
    return videos


def _read_ucf_test(path: Path, classes: Sequence[str]) -> list[Video]:
    expected = "'<Class>/<video>.avi' with no label (UCF-101 testlist: the folder is the class)"
    known = set(classes)
    videos = []
    for lineno, line in _lines(path):
        folder, file = _ucf_entry(path, lineno, line.strip(), line, expected)
        if folder not in known:
            raise AnnotationError(f"{path}:{lineno}: class folder {folder!r} is not in classInd.txt")
        videos.append(Video(file, folder))
    return videos


def read_hmdb51(root: Path) -> Annotations:
    """HMDB-51's 7030 split files: classes sorted by name; `train<N>` / `val<N>` = tags 1 / 2 of split N.

    The lists take the classes in sorted order, each class file in its own order.
    """
    folder = _folder(root, HMDB_FOLDER)
    found = {(m[1], int(m[2])): folder / m[0] for m in map(_HMDB_FILE.fullmatch, _names(folder)) if m}
    if not found:
        raise _missing(
            root,
            folder,
            HMDB_FOLDER,
            ["<class>_test_split<N>.txt"],
            "51 classes x 3 splits of 7030 split files",
        )
    classes = sorted({name for name, _ in found})
    folds = _fold_numbers((n for _, n in found), folder, "7030 split files")
    absent = [f"{name}_test_split{n}.txt" for name in classes for n in folds if (name, n) not in found]
    if absent:
        shown = absent[:MAX_LISTED] + ([f"... ({len(absent)} in all)"] if len(absent) > MAX_LISTED else [])
        raise _missing(root, folder, HMDB_FOLDER, shown, "every class to have every split file")
    splits: dict[str, list[Video]] = {}
    for n in folds:
        tagged = [(tag, Video(file, name)) for name in classes for tag, file in _read_7030(found[name, n])]
        splits[f"train{n}"] = [video for tag, video in tagged if tag == "train"]
        splits[f"val{n}"] = [video for tag, video in tagged if tag == "val"]
    return Annotations("hmdb51", classes, splits)


def _read_7030(path: Path) -> list[tuple[str | None, str]]:
    """(split, video) per line: split is `train` (tag 1), `val` (tag 2) or None (tag 0)."""
    rows = []
    for lineno, line in _lines(path):
        video, _, tag = line.strip().rpartition(" ")
        if tag not in _HMDB_TAGS or not video.strip():
            raise AnnotationError(
                f"{path}:{lineno}: expected '<video>.avi <tag> ' with tag 1 (train), 2 (test) or 0 (unused) "
                f"(HMDB-51 7030 split file), found {line!r}"
            )
        rows.append((_HMDB_TAGS[tag], video.strip()))
    return rows


def read_kinetics(root: Path) -> Annotations:
    """Kinetics-400/600 annotation CSVs: `train1`, `val1`, and `test1` where the test file has labels.

    The classes are the sorted labels of those files: the CSVs have no class list of their own.
    """
    folder = _folder(root, KINETICS_FOLDER)
    paths = {split: _first_existing(folder, names) for split, names in KINETICS_FILES.items()}
    absent = [" or ".join(KINETICS_FILES[split]) for split in ("train1", "val1") if paths[split] is None]
    if absent:
        raise _missing(root, folder, KINETICS_FOLDER, absent, "a training and a validation annotation CSV")
    splits: dict[str, list[Video]] = {}
    for split, path in paths.items():
        videos = _read_kinetics_file(path, labelled=split != "test1") if path is not None else None
        if videos is not None:
            splits[split] = videos
    classes = sorted({video.name for videos in splits.values() for video in videos})
    return Annotations("kinetics", classes, splits)


def _read_kinetics_file(path: Path, labelled: bool) -> list[Video] | None:
    """The videos of one CSV; None for a test file without labels (no `label` column, or every label empty)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = [column.strip() for column in next(csv.reader(fh), [])]
    missing = [column for column in kinetics.COLUMNS if column not in header]
    if missing == ["label"] and not labelled:
        return None
    if missing:
        raise AnnotationError(
            f"{path}:1: expected a Kinetics annotation CSV with the header "
            f"{','.join(kinetics.COLUMNS)}[,is_cc], found {','.join(header)!r}"
        )
    frame = kinetics.read_annotations(path)
    blank = (frame["label"].str.strip() == "").to_numpy()
    if not labelled and blank.all():
        return None
    if blank.any():
        raise AnnotationError(f"{path}: data row {int(blank.argmax()) + 1} has an empty label")
    return [Video(p, name) for p, name in zip(kinetics.clip_paths(frame), frame["label"], strict=True)]


def read_ssv2(root: Path) -> Annotations:
    """Something-Something v2's JSON files: classes in labels.json id order, train.json and validation.json."""
    folder = _folder(root, SSV2_FOLDER)
    paths = {part: _first_existing(folder, names) for part, names in SSV2_FILES.items()}
    absent = [" or ".join(SSV2_FILES[part]) for part, path in paths.items() if path is None]
    if absent:
        raise _missing(root, folder, SSV2_FOLDER, absent, "labels.json, train.json and validation.json")
    labels = paths.pop("labels")
    classes = _read_ssv2_labels(labels)
    known = set(classes)
    splits = {split: _read_ssv2_videos(path, known, labels.name) for split, path in paths.items()}
    return Annotations("ssv2", classes, splits)


def _load_json(path: Path, expected: str) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); expected {expected}") from err


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _read_ssv2_labels(path: Path) -> list[str]:
    expected = 'a JSON object {"<class name>": "<id>"} (SSv2 labels.json)'
    data = _load_json(path, expected)
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected {expected}, found {_json_kind(data)}")
    bad = [(name, value) for name, value in data.items() if not (isinstance(value, str) and value.isdigit())]
    if bad:
        raise AnnotationError(f"{path}: class {bad[0][0]!r} has id {bad[0][1]!r}; expected {expected}")
    ids = sorted(int(value) for value in data.values())
    if ids != list(range(len(ids))) or not ids:
        raise AnnotationError(
            f"{path}: ids are not 0..{len(ids) - 1}, each once (found {ids[:MAX_LISTED]} ...)"
        )
    return sorted(data, key=lambda name: int(data[name]))


def _read_ssv2_videos(path: Path, classes: set[str], labels: str) -> list[Video]:
    expected = 'a JSON list of {"id": ..., "template": ...} objects (SSv2 train/validation.json)'
    data = _load_json(path, expected)
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected {expected}, found {_json_kind(data)}")
    videos = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("template"), str) or not entry.get("id"):
            raise AnnotationError(
                f"{path}: entry {index}: expected an object with an id and a template, found "
                f"{json.dumps(entry)[:200]}"
            )
        name = entry["template"].replace("[", "").replace("]", "")
        if name not in classes:
            raise AnnotationError(
                f"{path}: entry {index} (id {entry['id']}): template {entry['template']!r} is class {name!r}, "
                f"which is not in {labels}"
            )
        videos.append(Video(f"{entry['id']}.webm", name))
    return videos


_READERS: dict[str, Callable[[Path], Annotations]] = {
    "ucf101": read_ucf101,
    "hmdb51": read_hmdb51,
    "kinetics": read_kinetics,
    "ssv2": read_ssv2,
}


# ---------------------------------------------------------------------------------------------------- writing


def _check_names(classes: Sequence[str], splits: dict[str, list[Video]]) -> None:
    known = set(classes)
    for split, videos in splits.items():
        unknown = sorted({video.name for video in videos} - known)
        if unknown:
            raise ValueError(f"split {split}: class(es) {unknown[:MAX_LISTED]} are not in the class list")


def _folds(splits: dict[str, list[Video]], kinds: Sequence[str]) -> list[int]:
    """The fold numbers of `splits`, refusing keys the format cannot store and folds missing a side."""
    parsed = [_SPLIT_KEY.fullmatch(key) for key in splits]
    bad = [key for key, m in zip(splits, parsed, strict=True) if not m or m[1] not in kinds]
    if bad:
        raise ValueError(f"split key(s) {bad} cannot be written; expected {'/'.join(kinds)} followed by a fold")
    folds = sorted({int(m[2]) for m in parsed if m})
    absent = [f"{kind}{n}" for n in folds for kind in kinds if f"{kind}{n}" not in splits]
    if absent or folds != list(range(1, len(folds) + 1)):
        raise ValueError(
            f"splits {sorted(splits)}: every fold 1..N needs {' and '.join(kinds)} (missing {absent})"
        )
    return folds


def _bare_name(video: Video) -> str:
    if not video.path or "/" in video.path:
        raise ValueError(f"{video.path!r}: expected a bare file name, as the paper's lists write this dataset")
    return video.path


def write_ucf101(root: Path, classes: list[str], splits: dict[str, list[Video]]) -> None:
    """`ucfTrainTestlist/` with CRLF line ends.

    A video's folder is its class name: `HandstandPushups` holds `v_HandStandPushups_*` files, so the file name
    cannot be trusted to spell it.
    """
    folder = root / UCF_FOLDER
    ids = {name: i for i, name in enumerate(classes, start=1)}
    write_text(folder / "classInd.txt", "".join(f"{i} {name}\r\n" for name, i in ids.items()))
    for n in _folds(splits, ("train", "val")):
        train = "".join(f"{v.name}/{_bare_name(v)} {ids[v.name]}\r\n" for v in splits[f"train{n}"])
        write_text(folder / f"trainlist{n:02d}.txt", train)
        write_text(
            folder / f"testlist{n:02d}.txt", "".join(f"{v.name}/{_bare_name(v)}\r\n" for v in splits[f"val{n}"])
        )


def write_hmdb51(root: Path, classes: list[str], splits: dict[str, list[Video]]) -> None:
    """One `<class>_test_split<N>.txt` per class and fold, with a trailing space on every line as published.

    Each file lists every video of the class sorted by name (as published) with tag 1 (in train N), 2 (in val
    N) or 0 (neither). The files keep neither the class order (the reader sorts) nor any other list order.
    """
    folder = root / HMDB_FOLDER
    folds = _folds(splits, ("train", "val"))
    per_class: dict[str, set[str]] = {name: set() for name in classes}
    for videos in splits.values():
        for video in videos:
            per_class[video.name].add(_bare_name(video))
    for n in folds:
        train = {(v.name, v.path) for v in splits[f"train{n}"]}
        val = {(v.name, v.path) for v in splits[f"val{n}"]}
        if both := train & val:
            raise ValueError(f"fold {n}: {len(both)} video(s) in both train{n} and val{n}, e.g. {min(both)}")
        for name, files in per_class.items():
            tags = (1 if (name, f) in train else 2 if (name, f) in val else 0 for f in sorted(files))
            text = "".join(f"{file} {tag} \n" for file, tag in zip(sorted(files), tags, strict=True))
            write_text(folder / f"{name}_test_split{n}.txt", text)


def write_kinetics(root: Path, classes: list[str], splits: dict[str, list[Video]]) -> None:
    """`annotations/train.csv`, `val.csv` (and `test.csv` for `test1`), quoting only where needed.

    The split column is the path's folder. The files keep the classes only through their videos (the reader
    sorts them).
    """
    if not {"train1", "val1"} <= set(splits) <= set(KINETICS_FILES):
        raise ValueError(f"splits {sorted(splits)}: Kinetics needs train1 and val1 and takes test1 besides")
    for split, videos in splits.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(kinetics.COLUMNS)
        writer.writerows(_kinetics_row(video) for video in videos)
        write_text(root / KINETICS_FOLDER / KINETICS_FILES[split][0], buf.getvalue())


def _kinetics_row(video: Video) -> tuple[str, str, int, int, str]:
    m = _KINETICS_CLIP.fullmatch(video.path)
    if not m:
        raise ValueError(f"{video.path!r}: expected '<split>/<youtube id>_<start:06d>_<end:06d>.mp4'")
    folder, youtube_id, start, end = m.groups()
    return video.name, youtube_id, int(start), int(end), folder


def write_ssv2(root: Path, classes: list[str], splits: dict[str, list[Video]]) -> None:
    """`labels/labels.json`, `train.json` and `validation.json`, one entry per line as published.

    A template brackets each `something` of the class name; the `label` field (the filled-in sentence, which
    nothing reads) repeats the class name, with `something` as every placeholder.
    """
    if set(splits) != {"train1", "val1"}:
        raise ValueError(f"splits {sorted(splits)}: SSv2 takes exactly train1 and val1")
    if bracketed := [name for name in classes if "[" in name or "]" in name]:
        raise ValueError(f"class names {bracketed[:MAX_LISTED]} contain brackets, which templates reserve")
    folder = root / SSV2_FOLDER
    entries = ",\n".join(f" {json.dumps(name)}:{json.dumps(str(i))}" for i, name in enumerate(classes))
    write_text(folder / SSV2_FILES["labels"][0], "{\n" + entries + "\n}\n")
    for split in ("train1", "val1"):
        lines = ",\n".join(json.dumps(_ssv2_entry(video), separators=(",", ":")) for video in splits[split])
        write_text(folder / SSV2_FILES[split][0], "[\n" + lines + "\n]\n")


def _ssv2_entry(video: Video) -> dict[str, Any]:
    stem, dot, ext = video.path.rpartition(".")
    if dot != "." or ext != "webm" or not stem or "/" in stem:
        raise ValueError(f"{video.path!r}: expected '<id>.webm'")
    template = _SSV2_PLACEHOLDER.sub(lambda m: f"[{m[0]}]", video.name)
    placeholders = _SSV2_PLACEHOLDER.findall(video.name)
    return {"id": stem, "label": video.name, "template": template, "placeholders": placeholders}


_WRITERS: dict[str, Callable[[Path, list[str], dict[str, list[Video]]], None]] = {
    "ucf101": write_ucf101,
    "hmdb51": write_hmdb51,
    "kinetics": write_kinetics,
    "ssv2": write_ssv2,
}
