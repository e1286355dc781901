"""The base-to-novel protocol: frequency ordering, relabelling, K-shot subsets, and the paper's label ids."""

import json
from collections import Counter

import pytest

from tests.conftest import ROOT
from vifi.data.lists.annotations import (
    PAPER_LABELS,
    AnnotationError,
    Item,
    paper_labels,
    read_labels,
    read_list,
    write_labels,
    write_list,
)
from vifi.data.lists.resolve import ListResolver
from vifi.data.lists.splits import copy_official, few_shot, order_by_frequency, split_classes, write_base2novel


def _items(counts: dict[int, int]) -> list[Item]:
    return [Item(f"c{label}/v{i}.mp4", label) for label, n in counts.items() for i in range(n)]


def test_more_frequent_half_is_base_in_ascending_frequency():
    train = _items({0: 5, 1: 9, 2: 3, 3: 7, 4: 8})
    base, novel = split_classes(train, 5)
    assert base == [3, 4, 1]  # 7, 8, 9 videos: the larger half when the count is odd
    assert novel == [2, 0]  # 3, 5 videos


def test_equal_counts_reproduce_the_shipped_hmdb_split():
    """All HMDB classes have 70 videos; the official novel half is ids 0-24 and base is 25-50."""
    base, novel = split_classes(_items(dict.fromkeys(range(51), 70)), 51)
    assert novel == list(range(25))
    assert base == list(range(25, 51))


def test_few_shot_is_seeded_per_class_and_without_replacement():
    items = _items({0: 10, 1: 12})
    a, b, c = few_shot(items, 2, 4, seed=1), few_shot(items, 2, 4, seed=1), few_shot(items, 2, 4, seed=2)
    assert a == b and a != c
    assert Counter(it.label for it in a) == {0: 4, 1: 4}
    assert len(set(a)) == 8


def test_too_few_videos_for_the_shots_is_an_error():
    with pytest.raises(ValueError, match="class 1 has 2 training videos"):
        few_shot(_items({0: 5, 1: 2}), 2, 3, seed=1)


def test_written_files_relabel_into_disjoint_label_spaces(tmp_path):
    names = ["a", "b, with comma", "c", "d"]
    write_labels(tmp_path / "labels.csv", names)
    write_list(tmp_path / "train.txt", _items({0: 4, 1: 9, 2: 6, 3: 2}))
    write_list(tmp_path / "val.txt", [Item(f"val/{k}.mp4", k) for k in range(4) for _ in range(3)])
    out = tmp_path / "b2n"
    write_base2novel(tmp_path / "labels.csv", tmp_path / "train.txt", tmp_path / "val.txt", out, 2, [1, 2, 3])
    base, novel = read_labels(out / "base_labels.csv"), read_labels(out / "novel_labels.csv")
    assert base == ["c", "b, with comma"] and novel == ["d", "a"]
    base_val = read_list(out / "base_val.txt", 2)
    assert {(it.path, it.label) for it in base_val} == {(f"val/{k}.mp4", i) for i, k in enumerate((2, 1))}
    assert {it.path for it in read_list(out / "novel_val.txt", 2)} == {"val/3.mp4", "val/0.mp4"}
    for seed in (1, 2, 3):
        subset = read_list(out / f"fs_base_s{seed}_train.txt", 2)
        assert Counter(it.label for it in subset) == {0: 2, 1: 2}
        assert all(it.path.startswith(("c2/", "c1/")) for it in subset)
    assert len(read_list(out / "base_train.txt", 2)) == 15


OFFICIAL = ROOT.parent / "shared" / "reference" / "official"
SHIPPED = [("ucf", "ucf_101", "ucf_101"), ("ssv2", "ssv2_174", "ssv2"), ("hmdb", "hmdb_51", "hmdb_51")]


@pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason="the official ViFi-CLIP split files are not beside the checkout"
)
@pytest.mark.parametrize(("folder", "prefix", "full_name"), SHIPPED)
def test_frequency_order_reproduces_the_shipped_base_label_files(folder, prefix, full_name):
    """Counting the official base training list and ordering by (count, id) gives the shipped base CSV exactly.

    Only base classes have an official full training list here, so this checks the base half's order, ties
    included (UCF-101 has 25 tied pairs, SSv2 5, HMDB-51 all 26 classes tie at 70 videos).
    """
    names = read_labels(OFFICIAL / "labels" / f"{full_name}_labels.csv")
    base = read_labels(OFFICIAL / "labels" / f"{prefix}_base_labels.csv")
    base_train = read_list(
        OFFICIAL / "datasets_splits" / "base2novel_splits" / f"{folder}_splits" / "base_train.txt"
    )
    full_id = {name: i for i, name in enumerate(names)}
    as_full = [Item(it.path, full_id[base[it.label]]) for it in base_train]
    order = [c for c in order_by_frequency(as_full, len(names)) if c in {full_id[b] for b in base}]
    assert [names[c] for c in order] == base


@pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason="the official ViFi-CLIP split files are not beside the checkout"
)
def test_paper_mode_copies_the_official_files_unchanged(tmp_path):
    copy_official(OFFICIAL, "ucf101", tmp_path, [1, 2, 3])
    src = OFFICIAL / "datasets_splits" / "base2novel_splits" / "ucf_splits"
    for name in ("base_val.txt", "novel_val.txt", "fs_base_s1_train.txt", "fs_base_s3_train.txt"):
        assert (tmp_path / name).read_text() == (src / name).read_text()
    assert read_labels(tmp_path / "base_labels.csv") == read_labels(
        OFFICIAL / "labels" / "ucf_101_base_labels.csv"
    )
    assert len(read_list(tmp_path / "base_val.txt", 51)) == 2088
    with pytest.raises(ValueError, match="no official base-to-novel split for 'k600'"):
        copy_official(OFFICIAL, "k600", tmp_path, [1])


HMDB_FOLDERS = [name.replace(" ", "_") for name in paper_labels("hmdb_51")]


def test_the_shipped_hmdb_labels_keep_the_papers_order_of_kick_and_sword():
    """Sorted folder names give kick=20, kick_ball=21, sword=44, sword_exercise=45; the paper swaps both."""
    names = paper_labels("hmdb_51")
    assert (names[20], names[21], names[44], names[45]) == ("kick ball", "kick", "sword exercise", "sword")
    assert sorted(HMDB_FOLDERS)[20:22] == ["kick", "kick_ball"]
    assert sorted(HMDB_FOLDERS)[44:46] == ["sword", "sword_exercise"]


@pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason="the official ViFi-CLIP split files are not beside the checkout"
)
@pytest.mark.parametrize("prefix", PAPER_LABELS)
def test_shipped_label_files_are_the_released_ones(prefix):
    assert list(paper_labels(prefix)) == read_labels(OFFICIAL / "labels" / f"{prefix}_labels.csv")


@pytest.mark.parametrize(
    ("names", "difference"),
    [
        (sorted(HMDB_FOLDERS), "id 0 is 'brush_hair' here, 'brush hair' in the paper"),
        (sorted(paper_labels("hmdb_51")), "id 20 is 'kick' here, 'kick ball' in the paper"),
    ],
)
def test_hmdb_labels_built_from_sorted_folders_are_refused(tmp_path, names, difference):
    write_labels(tmp_path / "labels.csv", names)
    with pytest.raises(AnnotationError, match=difference):
        write_base2novel(
            tmp_path / "labels.csv", tmp_path / "train.txt", tmp_path / "val.txt", tmp_path, 1, [1]
        )


def test_hmdb_labels_in_the_papers_order_are_accepted(tmp_path):
    write_labels(tmp_path / "labels.csv", list(paper_labels("hmdb_51")))
    write_list(tmp_path / "train.txt", _items(dict.fromkeys(range(51), 2)))
    write_list(tmp_path / "val.txt", _items(dict.fromkeys(range(51), 1)))
    write_base2novel(tmp_path / "labels.csv", tmp_path / "train.txt", tmp_path / "val.txt", tmp_path, 1, [1])
    assert read_labels(tmp_path / "base_labels.csv")[:2] == ["pour", "pullup"]


def test_generated_splits_resolve_paths_but_split_classes_on_the_whole_training_list(tmp_path):
    """Two of class 1's nine training videos are missing: it stays base, and its lines use the raw keys."""
    write_labels(tmp_path / "labels.csv", ["a", "b", "c", "d"])
    train = [
        Item(f"v{label}_{i}.avi", label) for label, n in {0: 8, 1: 9, 2: 3, 3: 2}.items() for i in range(n)
    ]
    val = [Item(f"w{label}.avi", label) for label in range(4)]
    write_list(tmp_path / "train.txt", train)
    write_list(tmp_path / "val.txt", val)
    keys = [f"class{it.label}/{it.path}" for it in train + val if it.path not in ("v1_0.avi", "v1_1.avi")]
    resolver = ListResolver(tmp_path / "videos", keys, max_missing_fraction=0.1)
    out = tmp_path / "b2n"
    write_base2novel(
        tmp_path / "labels.csv", tmp_path / "train.txt", tmp_path / "val.txt", out, 2, [1], resolver
    )
    assert read_labels(out / "base_labels.csv") == ["a", "b"]  # 8 < 9 listed, although only 7 of b remain
    base_train = read_list(out / "base_train.txt", 2)
    assert len(base_train) == 15 and all(it.path.startswith(("class0/", "class1/")) for it in base_train)
    report = json.loads((out / "missing_videos.json").read_text())["lists"]
    assert (report["train"]["missing"], report["val"]["missing"]) == (2, 0)
