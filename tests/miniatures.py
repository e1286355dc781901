"""Miniatures of the paper's five datasets, as their publishers package them, plus a miniature release.

Each miniature is a synthetic dataset (`vifi.data.synthetic.synthesize`, so real encoded videos in the
publisher's codec) whose classes carry real class names of the dataset (UCF-101's `ApplyEyeMakeup`, HMDB-51's
`kick_ball`, ...), so that paper mode's label files, the paper's shipped label CSVs, name them.
`tests/published.py` then packs each folder as its publisher serves it. Odd files that the real datasets have
are put in: a zero-byte UCF-101 clip that its test list names, a truncated Kinetics clip, a clip in Kinetics'
`replacement/` folder, YouTube ids beginning with `-`, SSv2 at 427x240 and 12 fps.

`write_release` writes, for those miniatures, the folder that paper mode's `official` names: the paper's label
CSVs and released lists in the release's layout, built as METHODS.md §5-§6 describe, and with the released
HMDB-51 lists' flaw: `kick ball`/`kick` and `sword exercise`/`sword` carry each other's ids.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import av
import numpy as np

from vifi.data.lists.annotations import Item, read_labels, read_list, write_labels, write_list
from vifi.data.lists.lists import build_lists, paper_label_file
from vifi.data.lists.official import Video, read_annotations, write_annotations
from vifi.data.lists.splits import order_by_frequency
from vifi.data.synthetic.encode import write_video
from vifi.data.synthetic.synthesize import generate_dataset

# Pipeline dataset -> (registry key, format, role, real class names as the dataset spells them, splits).
MINIATURES = {
    "ucf101": ("ucf101", "ucf101", "downstream", ["ApplyEyeMakeup", "Archery", "Basketball", "YoYo"], 3),
    "hmdb51": ("hmdb51", "hmdb51", "downstream", ["kick", "kick_ball", "sword", "sword_exercise"], 3),
    "k400": ("kinetics400", "kinetics", "source", ["abseiling", "air drumming", "archery", "zumba"], 1),
    "k600": ("kinetics600", "kinetics", "downstream", ["acting in play", "adjusting glasses", "alligator wrestling", "archery"], 1),  # noqa: E501
    "ssv2": (
        "ssv2", "ssv2", "temporal",
        ["Moving something up", "Moving something down", "Pushing something from left to right",
         "Pushing something from right to left"], 1,
    ),
}  # fmt: skip
SHOTS = 2  # K of the released few-shot lists and 16-shot base subsets, scaled down
SWAPPED = {"kick ball": "kick", "kick": "kick ball", "sword exercise": "sword", "sword": "sword exercise"}


def generate(dataset: str, out: Path, *, seed: int = 0) -> Path:
    """Write one miniature in the layout `vifi download` extracts to, with real class names and odd files."""
    _, fmt, role, names, splits = MINIATURES[dataset]
    counts = (4, 4) if splits == 3 else (3, 4)
    generate_dataset(
        out, name=dataset, fmt=fmt, role=role, classes=len(names), train_per_class=counts, val_per_class=2,
        splits=splits, seed=seed, height=32, width=48, frames=8, fps=8,
    )  # fmt: skip
    _rename_classes(fmt, out, names)
    for extra in ("labels.csv", "world.json"):  # the generator's, not the publisher's
        (out / extra).unlink()
    ODDITIES.get(dataset, lambda root: None)(out)
    return out


def _rename_classes(fmt: str, root: Path, names: Sequence[str]) -> None:
    """Give the generated classes real names, in annotations, folders and file names alike."""
    ann = read_annotations(fmt, root)
    rename = dict(zip(ann.classes, names, strict=True))
    moved: dict[str, str] = {}
    for videos in ann.splits.values():
        for video in videos:
            moved.setdefault(video.path, _renamed_path(fmt, video.path, video.name, rename[video.name]))
    for path in (root / "videos").rglob("*"):
        if path.is_file() and path.name in moved and moved[path.name] != path.name:
            target = path.parent.parent / _folder(fmt, rename, path.parent.name) / moved[path.name]
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
    for folder in sorted((root / "videos").rglob("*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    splits = {
        split: [Video(moved[v.path], rename[v.name]) for v in videos] for split, videos in ann.splits.items()
    }
    for folder in ("ucfTrainTestlist", "testTrainMulti_7030_splits", "annotations", "labels"):
        shutil.rmtree(root / folder, ignore_errors=True)
    write_annotations(fmt, root, [rename[c] for c in ann.classes], splits)
    if fmt == "kinetics":
        (root / "annotations/test.csv").write_text("youtube_id,time_start,time_end,split\n")


def _renamed_path(fmt: str, path: str, old: str, new: str) -> str:
    """UCF-101 and HMDB-51 spell the class in the file name too (`v_<Class>_`, `_<class>_<tags>`)."""
    if fmt == "ucf101":
        return path.replace(f"v_{old}_", f"v_{new}_", 1)
    if fmt == "hmdb51":
        return path.replace(f"_{old}_", f"_{new}_", 1)
    return path


def _folder(fmt: str, rename: Mapping[str, str], name: str) -> str:
    return rename.get(name, name) if fmt in ("ucf101", "hmdb51") else name


def _ucf_oddities(root: Path) -> None:
    """A zero-byte clip that the first test list names, as corrupt downloads are."""
    first = next(iter(sorted((root / "videos/UCF-101/Archery").iterdir())))
    first.write_bytes(b"")


def _k400_oddities(root: Path) -> None:
    """A truncated validation clip, and a training clip found only in `replacement/`, as K400's fixes ship."""
    val = sorted((root / "videos/val").iterdir())[0]
    val.write_bytes(val.read_bytes()[:300])
    train = sorted((root / "videos/train").iterdir())[-1]
    (root / "videos/replacement").mkdir()
    train.rename(root / "videos/replacement" / train.name)


def _k600_oddities(root: Path) -> None:
    """Kinetics-600 ships its train/val annotations as `.txt` files (CSV inside)."""
    for name in ("train", "val"):
        (root / f"annotations/{name}.csv").rename(root / f"annotations/{name}.txt")


def _ssv2_oddities(root: Path) -> None:
    """SSv2's videos are 427x240 VP9 at 12 fps."""
    for path in sorted((root / "videos").rglob("*.webm")):
        with av.open(str(path)) as container:
            clip = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        write_video(path, clip, 12, size=(240, 427))


ODDITIES = {"ucf101": _ucf_oddities, "k400": _k400_oddities, "k600": _k600_oddities, "ssv2": _ssv2_oddities}


# ---- the miniature release


def write_release(raws: Mapping[str, Path], out: Path, scratch: Path) -> None:
    """The `official` folder for the miniatures: the paper's label CSVs and lists in the release's layout."""
    lists = {}
    for dataset, raw in raws.items():
        fmt = MINIATURES[dataset][1]
        exclude = paper_label_file("k400") if dataset == "k600" else None
        build_lists(fmt, raw, paper_label_file(dataset), scratch / dataset, exclude, pool=dataset == "k600")
        lists[dataset] = scratch / dataset
    labels, splits = out / "labels", out / "datasets_splits"
    labels.mkdir(parents=True)
    for dataset, prefix in (("hmdb51", "hmdb_51"), ("ucf101", "ucf_101"), ("k400", "kinetics_400"),
                            ("k600", "kinetics_600"), ("ssv2", "ssv2")):  # fmt: skip
        shutil.copy(paper_label_file(dataset), labels / f"{prefix}_labels.csv")
    folders = {"ucf101": "ucf_splits", "hmdb51": "hmdb_splits", "ssv2": "ssv2_splits", "k400": "k400_splits"}
    prefixes = {"ucf101": "ucf_101", "hmdb51": "hmdb_51", "ssv2": "ssv2_174", "k400": "kinetics_400"}
    for dataset, folder in folders.items():
        prefix = prefixes[dataset]
        _base2novel(lists[dataset], splits / "base2novel_splits" / folder, labels, prefix, dataset)
    for dataset, folder in (("ucf101", "ucf_splits"), ("hmdb51", "hmdb_splits")):
        names = read_labels(lists[dataset] / "labels.csv")
        for s in (1, 2, 3):
            _write(splits / folder / f"val{s}.txt", read_list(lists[dataset] / f"val{s}.txt"), names, dataset)
    for dataset in ("ucf101", "hmdb51", "ssv2"):
        folder = folders[dataset]
        names = read_labels(lists[dataset] / "labels.csv")
        train = read_list(lists[dataset] / "train1.txt")
        for k in (1, SHOTS):
            _write(splits / folder / f"train1_few_shot_{k}.txt", _per_class(train, k), names, dataset)
    ssv2 = lists["ssv2"]
    _write(
        splits / "ssv2_splits/validation.txt",
        read_list(ssv2 / "val1.txt"),
        read_labels(ssv2 / "labels.csv"),
        "ssv2",
    )
    k400 = lists["k400"]
    _write(
        splits / "k400_splits/val.txt", read_list(k400 / "val1.txt"), read_labels(k400 / "labels.csv"), "k400"
    )
    _zero_shot_k600(lists["k600"], splits / "k600_splits", labels)


def _write(path: Path, items: Sequence[Item], names: Sequence[str], dataset: str) -> None:
    """A released list; HMDB-51's carry the published swap of two class pairs' ids."""
    if dataset == "hmdb51":
        ids = {name: i for i, name in enumerate(names)}
        items = [Item(it.path, ids.get(SWAPPED.get(names[it.label], ""), it.label)) for it in items]
    write_list(path, items)


def _per_class(items: Sequence[Item], k: int) -> list[Item]:
    """The first `k` videos of every class present, grouped by class."""
    taken: Counter[int] = Counter()
    chosen = []
    for item in sorted(items, key=lambda it: it.label):
        if taken[item.label] < k:
            taken[item.label] += 1
            chosen.append(item)
    return chosen


def _base2novel(lists: Path, folder: Path, labels: Path, prefix: str, dataset: str) -> None:
    """Base = the more frequent half of the classes present (ties by id), lists relabelled into each half."""
    names = read_labels(lists / "labels.csv")
    train, val = read_list(lists / "train1.txt"), read_list(lists / "val1.txt")
    present = sorted({it.label for it in train})
    order = [
        present[i]
        for i in order_by_frequency([Item(it.path, present.index(it.label)) for it in train], len(present))
    ]
    novel, base = order[: len(order) // 2], order[len(order) // 2 :]
    for part, classes in (("base", base), ("novel", novel)):
        part_names = [names[c] for c in classes]
        write_labels(labels / f"{prefix}_{part}_labels.csv", part_names)
        new_id = {c: i for i, c in enumerate(classes)}
        relabelled = [Item(it.path, new_id[it.label]) for it in val if it.label in new_id]
        _write(folder / f"{part}_val.txt", relabelled, part_names, dataset)
    base_names = [names[c] for c in base]
    new_id = {c: i for i, c in enumerate(base)}
    base_train = [Item(it.path, new_id[it.label]) for it in train if it.label in new_id]
    for seed in (1, 2, 3):
        rotated = base_train[seed:] + base_train[:seed]  # three different K-shot subsets
        _write(folder / f"fs_base_s{seed}_train.txt", _per_class(rotated, SHOTS), base_names, dataset)


def _zero_shot_k600(lists: Path, folder: Path, labels: Path) -> None:
    """Three splits of two Kinetics-600 classes new to Kinetics-400 each, relabelled in drawn order."""
    names = read_labels(lists / "labels.csv")
    val = read_list(lists / "val1.txt")
    present = sorted({it.label for it in val})
    for s in (1, 2, 3):
        drawn = [present[(s - 1) % len(present)], present[s % len(present)]]
        write_labels(labels / f"ZS_split{s}_K600.csv", [names[c] for c in drawn])
        new_id = {c: i for i, c in enumerate(drawn)}
        write_list(
            folder / f"ZS_split{s}_K600_eval.txt",
            [Item(it.path, new_id[it.label]) for it in val if it.label in new_id],
        )
