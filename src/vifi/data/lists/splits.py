"""Base-to-novel splits and K-shot training subsets, following the paper's protocol (METHODS.md §6).

Classes are ordered by training-set frequency (ties by label id); the more frequent half (the larger half when
the count is odd) is *base*, the rest *novel*. Both label files list their classes in ascending frequency, as
the shipped UCF-101 and SSv2 files do, and with equal counts this reproduces the shipped HMDB-51 split (novel =
the first 25 ids). Base and novel lists are relabelled into their own label spaces. Each seed draws its own
K-shot subset of the base training videos: the paper's "seeds" are different training subsets.

With a video root (`--videos`), every list is resolved onto the raw dataset's video keys and lines whose video
is missing or quarantined are dropped into `missing_videos.{json,csv}` beside the lists
(`vifi.data.lists.resolve`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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
from vifi.data.lists.audit import VideoNames, relabel_by_name, video_namer
from vifi.data.lists.resolve import ListResolver

log = logging.getLogger(__name__)

REPORT = "missing_videos.json"


@dataclass(frozen=True)
class ByName:
    """The `by_name` audit policy for released lists: each video's id follows the class its path or annotation
    names (`vifi.data.lists.audit`), so that, e.g., HMDB-51's `kick_ball` videos are scored as `kick ball`."""

    fmt: str
    names: VideoNames

    def apply(self, items: Sequence[Item], label_names: Sequence[str], source: str | Path) -> list[Item]:
        relabelled, changed = relabel_by_name(
            items, label_names, video_namer(self.fmt, label_names, self.names)
        )
        log.info("%s: %d of %d lines relabelled by the class their videos name", source, changed, len(items))
        return relabelled


def read_official_list(path: Path, label_names: Sequence[str], by_name: ByName | None) -> list[Item]:
    """A released list checked against its label file, relabelled by name under the `by_name` policy."""
    items = read_list(path, len(label_names))
    return items if by_name is None else by_name.apply(items, label_names, path)


def order_by_frequency(train: Sequence[Item], num_classes: int) -> list[int]:
    """Class ids sorted by ascending training count, ties broken by id."""
    counts = Counter(item.label for item in train)
    return sorted(range(num_classes), key=lambda c: (counts[c], c))


def split_classes(train: Sequence[Item], num_classes: int) -> tuple[list[int], list[int]]:
    """(base, novel) class ids, each in ascending-frequency order; base is the more frequent half."""
    order = order_by_frequency(train, num_classes)
    n_novel = num_classes // 2
    return order[n_novel:], order[:n_novel]


def relabel(items: Sequence[Item], classes: Sequence[int]) -> list[Item]:
    """Keep the items of `classes` and renumber their labels into 0..len(classes)-1."""
    new_id = {old: new for new, old in enumerate(classes)}
    return [Item(it.path, new_id[it.label]) for it in items if it.label in new_id]


def few_shot(items: Sequence[Item], num_classes: int, shots: int, seed: int) -> list[Item]:
    """`shots` videos per class drawn without replacement with a seeded generator, grouped by class."""
    rng = np.random.default_rng(seed)
    subset: list[Item] = []
    for label in range(num_classes):
        pool = [it for it in items if it.label == label]
        if len(pool) < shots:
            raise ValueError(f"class {label} has {len(pool)} training videos, fewer than {shots} shots")
        picks = rng.choice(len(pool), size=shots, replace=False)
        subset.extend(pool[i] for i in sorted(picks))
    return subset


def write_base2novel(
    labels: Path,
    train_list: Path,
    val_list: Path,
    out_dir: Path,
    shots: int,
    seeds: Sequence[int],
    resolver: ListResolver | None = None,
) -> None:
    """Write base/novel label CSVs, val lists, the full base training list and one K-shot list per seed.

    The class split counts the whole training list, so base/novel membership does not depend on which videos
    a local copy lacks; with a `resolver`, the written lists and the K-shot pools hold only available videos.
    """
    names = read_labels(labels)
    check_paper_order(names, labels)
    train = read_list(train_list, len(names))
    val = read_list(val_list, len(names))
    base, novel = split_classes(train, len(names))
    if resolver is not None:
        train = resolver.resolve("train", train_list, train)
        val = resolver.resolve("val", val_list, val)
        resolver.finish(out_dir / REPORT)
    base_train = relabel(train, base)
    counts = Counter(it.label for it in base_train)
    short = [f"{names[c]!r} ({counts[i]})" for i, c in enumerate(base) if counts[i] < shots]
    if short:
        raise ValueError(
            f"{train_list}: {len(short)} of the {len(base)} base classes have fewer than {shots} training "
            f"videos, e.g. {', '.join(short[:5])}; the split needs every class of {labels}"
        )
    try:
        subsets = {seed: few_shot(base_train, len(base), shots, seed) for seed in seeds}
    except ValueError as err:
        raise ValueError(f"{train_list}: {err}") from err
    write_labels(out_dir / "base_labels.csv", [names[c] for c in base])
    write_labels(out_dir / "novel_labels.csv", [names[c] for c in novel])
    write_list(out_dir / "base_train.txt", base_train)
    write_list(out_dir / "base_val.txt", relabel(val, base))
    write_list(out_dir / "novel_val.txt", relabel(val, novel))
    for seed, subset in subsets.items():
        write_list(out_dir / f"fs_base_s{seed}_train.txt", subset)


def copy_official(
    official: Path,
    dataset: str,
    out_dir: Path,
    seeds: Sequence[int],
    resolver: ListResolver | None = None,
    by_name: ByName | None = None,
) -> None:
    """Use the released base-to-novel files, after checking that every file parses.

    The published numbers were measured on exactly these partitions and subsets, so paper mode takes them
    as they are; only the file names are mapped to the pipeline's. A list that does not exist in the release
    (Kinetics-400's `base_train.txt`) is not invented here. With a `resolver`, list paths become the raw
    dataset's video keys, and unavailable videos are reported and dropped (the lists are otherwise unchanged).
    """
    released = dataset_catalog.official_files("base2novel")  # where the release keeps each dataset's files
    if dataset not in released:
        raise ValueError(f"no official base-to-novel split for {dataset!r}; known: {sorted(released)}")
    folder, prefix = released[dataset]["folder"], released[dataset]["labels"]
    src = official / "datasets_splits" / "base2novel_splits" / folder
    labels = {
        part: read_labels(official / "labels" / f"{prefix}_{part}_labels.csv") for part in ("base", "novel")
    }
    lists = {"base_val.txt": "base", "novel_val.txt": "novel"} | {
        f"fs_base_s{s}_train.txt": "base" for s in seeds
    }
    items = {name: read_official_list(src / name, labels[part], by_name) for name, part in lists.items()}
    if resolver is not None:
        items = {name: resolver.resolve(name, src / name, listed) for name, listed in items.items()}
        resolver.finish(out_dir / REPORT)
    for part, names in labels.items():
        write_labels(out_dir / f"{part}_labels.csv", names)
    for name, listed in items.items():
        write_list(out_dir / name, listed)
