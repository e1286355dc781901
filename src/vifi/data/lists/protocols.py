"""Split lists of the zero-shot, few-shot and fully supervised protocols (METHODS.md §3.2, §5.2, §5.3, §6).

Every protocol writes its lists into one folder, from the official release (paper mode) or generated from a
dataset's own annotation lists (the same code on the synthetic demo):

- `fewshot`: `labels.csv` (all classes), `train_{K}shot_seed{s}.txt` per K and seed, `val.txt`. Official:
  the released `train1_few_shot_{K}.txt` (one draw per K, seed 1), the split-1 test list (SSv2:
  `validation.txt`) and the full label file. Generated: K videos per class uniformly without replacement from
  the training list, once per seed. The released subsets of different K are not nested, so each K is an
  independent draw, from a generator seeded by `(seed, K)`: a K-shot list does not change when other K or
  seeds are added or removed.
- `zeroshot`: `split{s}_val.txt` and `split{s}_labels.csv` per split s. HMDB-51/UCF-101 style (official, or
  generated from k-fold lists with `--val-lists`): split s is fold s's test list over all classes.
  Kinetics-600 style (official `ZS_split{s}_K600*`, or generated with `--classes-per-split N`): split s holds
  N classes drawn from the label file by a generator seeded by `(seed, s)`; their val videos are relabelled
  0..N-1 in drawn order and the label file lists their names in that order. Splits may share classes, as the
  released ones do (80 classes are in all three); which classes are eligible (those the source dataset lacks)
  is decided where the dataset is made.
- `fullsup`: `labels.csv`, `train.txt`, `val.txt` from the given lists, their labels checked against the label
  file (Kinetics-400's training list is built by `python -m vifi kinetics`; the release lacks it).

With a video root (`--videos`), lists are resolved onto its video keys and unavailable lines are reported in
`missing_videos.{json,csv}`, exactly as `vifi splits` does (`vifi.data.lists.resolve`); nothing is written but
the report when a list loses more than `--max-missing-fraction` of its lines. K-shot subsets are drawn from the
available videos; class draws depend only on the label file. A training list that shares a video with its test
list is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vifi.catalog import datasets as dataset_catalog
from vifi.data.lists.annotations import (
    Item,
    check_paper_order,
    read_labels,
    read_list,
    write_labels,
    write_list,
)
from vifi.data.lists.resolve import ListResolver
from vifi.data.lists.splits import (
    REPORT,
    ByName,
    few_shot,
    read_official_list,
    relabel,
)

PROTOCOLS = ("fewshot", "zeroshot", "fullsup")
# The fields of a dataset's released files (catalog `official`), in the order the readers unpack them.
OFFICIAL_FIELDS = {"fewshot": ("folder", "test", "labels"), "zeroshot": ("list", "labels")}


def derived_seed(seed: int, key: int) -> int:
    """A generator seed per (seed, K) or (seed, split); `seed + key` would give (1, 8) and (5, 4) one draw."""
    return int(np.random.SeedSequence([seed, key]).generate_state(1)[0])


def draw_classes(num_classes: int, count: int, seed: int) -> list[int]:
    """`count` distinct class ids in the order a seeded generator draws them."""
    if not 0 < count <= num_classes:
        raise ValueError(f"cannot draw {count} classes from {num_classes}")
    return [int(c) for c in np.random.default_rng(seed).choice(num_classes, size=count, replace=False)]


def check_disjoint(train: Sequence[Item], train_source: Path, val: Sequence[Item], val_source: Path) -> None:
    """Refuse a training list that shares videos with its test list: the accuracy would count seen videos."""
    shared = sorted({it.path for it in train} & {it.path for it in val})
    if shared:
        raise ValueError(
            f"{train_source} and {val_source} share {len(shared)} video(s), e.g. {', '.join(shared[:3])}"
        )


def _resolve(
    lists: Mapping[str, tuple[Path, list[Item]]], out_dir: Path, resolver: ListResolver | None
) -> dict[str, list[Item]]:
    """Each named list (source, items) resolved onto the video keys, the report written and the threshold
    checked; the lists as read without a resolver."""
    if resolver is None:
        return {name: items for name, (_, items) in lists.items()}
    resolved = {name: resolver.resolve(name, source, items) for name, (source, items) in lists.items()}
    resolver.finish(out_dir / REPORT)
    return resolved


def _write(out_dir: Path, labels: Mapping[str, list[str]], lists: Mapping[str, list[Item]]) -> None:
    for name, names in labels.items():
        write_labels(out_dir / name, names)
    for name, items in lists.items():
        write_list(out_dir / name, items)


def _read(labels: Path, *lists: Path) -> tuple[list[str], list[list[Item]]]:
    """A dataset's label names, checked against the paper's order, and its lists checked against them."""
    names = read_labels(labels)
    check_paper_order(names, labels)
    return names, [read_list(path, len(names)) for path in lists]


def official_names(protocol: str, dataset: str) -> tuple[str, ...]:
    """The release's file names of one protocol and dataset (the dataset's catalog entry)."""
    released = dataset_catalog.official_files(protocol)
    if dataset not in released:
        raise ValueError(f"no official {protocol} files for {dataset!r}; known: {sorted(released)}")
    return tuple(released[dataset][key] for key in OFFICIAL_FIELDS[protocol])


OFFICIAL_FEWSHOT_SEED = 1  # the release ships one K-shot draw per K


def fewshot_list(shots: int, seed: int) -> str:
    """File name of the K-shot training list drawn with `seed`."""
    return f"train_{shots}shot_seed{seed}.txt"


def write_fewshot(
    labels: Path,
    train_list: Path,
    val_list: Path,
    out_dir: Path,
    shots: Sequence[int],
    seeds: Sequence[int],
    resolver: ListResolver | None = None,
) -> None:
    """Generate one K-shot training list per K and seed over all classes, with the full label file and test
    list."""
    names, (train, val) = _read(labels, train_list, val_list)
    got = _resolve({"train": (train_list, train), "val": (val_list, val)}, out_dir, resolver)
    check_disjoint(got["train"], train_list, got["val"], val_list)
    subsets = {}
    for seed in seeds:
        for k in shots:
            try:
                subsets[fewshot_list(k, seed)] = few_shot(got["train"], len(names), k, derived_seed(seed, k))
            except ValueError as err:
                raise ValueError(f"{train_list}: {err}") from err
    _write(out_dir, {"labels.csv": names}, subsets | {"val.txt": got["val"]})


def copy_official_fewshot(
    official: Path,
    dataset: str,
    out_dir: Path,
    shots: Sequence[int],
    resolver: ListResolver | None = None,
    by_name: ByName | None = None,
) -> None:
    """The released K-shot lists, test list and full label file, unchanged apart from path resolution."""
    folder, val_name, label_file = official_names("fewshot", dataset)
    names = read_labels(official / "labels" / label_file)
    src = official / "datasets_splits" / folder
    sources = {fewshot_list(k, OFFICIAL_FEWSHOT_SEED): src / f"train1_few_shot_{k}.txt" for k in shots}
    sources["val.txt"] = src / val_name
    lists = _resolve(
        {name: (path, read_official_list(path, names, by_name)) for name, path in sources.items()},
        out_dir,
        resolver,
    )
    for k in shots:
        name = fewshot_list(k, OFFICIAL_FEWSHOT_SEED)
        check_disjoint(lists[name], sources[name], lists["val.txt"], src / val_name)
    _write(out_dir, {"labels.csv": names}, lists)


def write_zeroshot_folds(
    labels: Path, val_lists: Mapping[int, Path], out_dir: Path, resolver: ListResolver | None = None
) -> None:
    """HMDB-51/UCF-101 style: split s is fold s's test list, evaluated over all classes."""
    names, items = _read(labels, *val_lists.values())
    lists = {
        f"split{s}_val.txt": (path, listed) for (s, path), listed in zip(val_lists.items(), items, strict=True)
    }
    _write(out_dir, {f"split{s}_labels.csv": names for s in val_lists}, _resolve(lists, out_dir, resolver))


def write_zeroshot_classes(
    labels: Path,
    val_list: Path,
    out_dir: Path,
    splits: Sequence[int],
    classes_per_split: int,
    seed: int,
    resolver: ListResolver | None = None,
) -> None:
    """Kinetics-600 style: split s holds `classes_per_split` classes drawn with seed `(seed, s)`, relabelled
    0..N-1 in drawn order; every val video of a drawn class is kept."""
    names, (val,) = _read(labels, val_list)
    if classes_per_split > len(names):
        raise ValueError(f"{labels}: {len(names)} classes, fewer than {classes_per_split} per split")
    drawn = {s: draw_classes(len(names), classes_per_split, derived_seed(seed, s)) for s in splits}
    val = _resolve({"val": (val_list, val)}, out_dir, resolver)["val"]
    _write(
        out_dir,
        {f"split{s}_labels.csv": [names[c] for c in classes] for s, classes in drawn.items()},
        {f"split{s}_val.txt": relabel(val, classes) for s, classes in drawn.items()},
    )


def copy_official_zeroshot(
    official: Path,
    dataset: str,
    out_dir: Path,
    splits: Sequence[int],
    resolver: ListResolver | None = None,
    by_name: ByName | None = None,
) -> None:
    """The released zero-shot test lists and their label files (HMDB/UCF: the full one), unchanged apart from
    path resolution."""
    list_pattern, label_pattern = official_names("zeroshot", dataset)
    labels = {s: read_labels(official / "labels" / label_pattern.format(s=s)) for s in splits}
    sources = {s: official / "datasets_splits" / list_pattern.format(s=s) for s in splits}
    lists = {
        f"split{s}_val.txt": (sources[s], read_official_list(sources[s], labels[s], by_name)) for s in splits
    }
    _write(
        out_dir,
        {f"split{s}_labels.csv": names for s, names in labels.items()},
        _resolve(lists, out_dir, resolver),
    )


def write_fullsup(
    labels: Path, train_list: Path, val_list: Path, out_dir: Path, resolver: ListResolver | None = None
) -> None:
    """Every class and training video: the given lists checked, resolved and written under the stage's names."""
    names, (train, val) = _read(labels, train_list, val_list)
    lists = _resolve({"train.txt": (train_list, train), "val.txt": (val_list, val)}, out_dir, resolver)
    check_disjoint(lists["train.txt"], train_list, lists["val.txt"], val_list)
    _write(out_dir, {"labels.csv": names}, lists)
