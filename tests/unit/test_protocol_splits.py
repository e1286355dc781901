"""Zero-shot, few-shot and fully supervised lists: generated draws, official copies, resolution, CLI checks."""

import json
from collections import Counter

import pytest

from tests.conftest import ROOT
from vifi.data.lists.annotations import Item, read_labels, read_list, write_labels, write_list
from vifi.data.lists.protocols import (
    derived_seed,
    draw_classes,
    fewshot_list,
    write_fewshot,
    write_zeroshot_classes,
)
from vifi.data.lists.resolve import MissingVideosLimitError
from vifi.data.lists.splits import few_shot
from vifi.stages.protocols import main

OFFICIAL = ROOT.parent / "shared" / "reference" / "official"
needs_official = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason="the official ViFi-CLIP split files are not beside the checkout"
)
NAMES = [f"class {c}" for c in range(6)]


def _dataset(root, train_per_class=20, val_per_class=5):
    """Labels, a training list and a test list with distinct videos per class, under `root`."""
    write_labels(root / "labels.csv", NAMES)
    train = [Item(f"train/t{c}_{i}.avi", c) for c in range(len(NAMES)) for i in range(train_per_class)]
    write_list(root / "train.txt", train)
    write_list(
        root / "val.txt",
        [Item(f"val/v{c}_{i}.avi", c) for c in range(len(NAMES)) for i in range(val_per_class)],
    )
    return root / "labels.csv", root / "train.txt", root / "val.txt"


def _touch(root, keys):
    for key in keys:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).touch()


def _fewshot(tmp_path, out, shots, seed=7):
    labels, train, val = _dataset(tmp_path)
    write_fewshot(labels, train, val, tmp_path / out, shots, [seed])
    return {k: read_list(tmp_path / out / fewshot_list(k, seed), len(NAMES)) for k in shots}


def _by_class(items):
    return {c: {it.path for it in items if it.label == c} for c in range(len(NAMES))}


def test_generated_fewshot_picks_exactly_k_training_videos_per_class(tmp_path):
    subsets = _fewshot(tmp_path, "fs", [2, 4, 16])
    for k, subset in subsets.items():
        assert Counter(it.label for it in subset) == dict.fromkeys(range(len(NAMES)), k)
        assert len(set(subset)) == len(subset)
        assert all(it.path.startswith(f"train/t{it.label}_") for it in subset)
    assert read_labels(tmp_path / "fs" / "labels.csv") == NAMES
    assert (tmp_path / "fs" / "val.txt").read_text() == (tmp_path / "val.txt").read_text()


def test_each_k_is_its_own_draw_not_nested_and_not_changed_by_the_other_ks(tmp_path):
    together = _fewshot(tmp_path, "all", [2, 4, 8])
    alone = _fewshot(tmp_path, "alone", [4])
    assert alone[4] == together[4] == few_shot(read_list(tmp_path / "train.txt"), 6, 4, derived_seed(7, 4))
    two, four = _by_class(together[2]), _by_class(together[4])
    # nested draws would put every 2-shot video of a class in its 4-shot set
    assert any(not two[c] <= four[c] for c in two)


def test_every_seed_and_k_pair_seeds_its_own_generator():
    """`seed + K` would give seed 1 / 8 shots and seed 5 / 4 shots the same subsets."""
    pairs = [(seed, key) for seed in range(10) for key in (1, 2, 3, 4, 8, 16)]
    assert len({derived_seed(seed, key) for seed, key in pairs}) == len(pairs)


def test_fewshot_draws_are_seeded(tmp_path):
    first, again = _fewshot(tmp_path, "a", [4], seed=3), _fewshot(tmp_path, "b", [4], seed=3)
    other = _fewshot(tmp_path, "c", [4], seed=4)
    assert first == again
    assert first != other


def test_several_seeds_write_one_list_per_k_and_seed_each_its_own_draw(tmp_path):
    labels, train, val = _dataset(tmp_path)
    write_fewshot(labels, train, val, tmp_path / "fs", [2, 4], [3, 4])
    written = sorted(p.name for p in (tmp_path / "fs").glob("train_*"))
    assert written == [
        "train_2shot_seed3.txt",
        "train_2shot_seed4.txt",
        "train_4shot_seed3.txt",
        "train_4shot_seed4.txt",
    ]
    lists = {name: read_list(tmp_path / "fs" / name, len(NAMES)) for name in written}
    assert lists["train_4shot_seed3.txt"] == _fewshot(tmp_path, "alone", [4], seed=3)[4]
    assert lists["train_4shot_seed3.txt"] != lists["train_4shot_seed4.txt"]


def test_too_few_training_videos_names_the_list_and_class(tmp_path):
    labels, train, val = _dataset(tmp_path, train_per_class=3)
    with pytest.raises(ValueError, match=r"train\.txt: class 0 has 3 training videos, fewer than 4 shots"):
        write_fewshot(labels, train, val, tmp_path / "fs", [2, 4], [1])
    assert not (tmp_path / "fs" / fewshot_list(2, 1)).exists()


def test_a_training_list_sharing_videos_with_the_test_list_is_refused(tmp_path):
    labels, train, _ = _dataset(tmp_path)
    with pytest.raises(ValueError, match=r"train\.txt and .*train\.txt share 120 video"):
        write_fewshot(labels, train, train, tmp_path / "fs", [2], [1])


def test_zeroshot_class_draws_relabel_every_val_video_of_the_drawn_classes(tmp_path):
    labels, _, val = _dataset(tmp_path)
    original = read_list(val, len(NAMES))
    write_zeroshot_classes(labels, val, tmp_path / "zs", [1, 2, 3], 4, seed=5)
    write_zeroshot_classes(labels, val, tmp_path / "again", [3], 4, seed=5)
    drawn = []
    for s in (1, 2, 3):
        names = read_labels(tmp_path / "zs" / f"split{s}_labels.csv")
        items = read_list(tmp_path / "zs" / f"split{s}_val.txt", len(names))
        assert names == [NAMES[c] for c in draw_classes(len(NAMES), 4, derived_seed(5, s))]  # in drawn order
        assert len(set(names)) == 4
        assert sorted({it.label for it in items}) == [0, 1, 2, 3]
        old_id = {name: NAMES.index(name) for name in names}
        assert [(it.path, old_id[names[it.label]]) for it in items] == [
            (it.path, it.label) for it in original if NAMES[it.label] in old_id
        ]
        drawn.append(names)
    assert len({tuple(names) for names in drawn}) == 3
    assert read_labels(tmp_path / "again" / "split3_labels.csv") == drawn[2]
    again = (tmp_path / "again" / "split3_val.txt").read_text()
    assert again == (tmp_path / "zs" / "split3_val.txt").read_text()


def test_zeroshot_folds_keep_each_folds_test_list_with_all_classes(tmp_path):
    labels, train, val = _dataset(tmp_path)
    args = ["--protocol", "zeroshot", "--labels", str(labels), "--splits", "1", "2"]
    main([*args, "--val-lists", str(val), str(train), "--out-dir", str(tmp_path / "zs")])
    assert (tmp_path / "zs" / "split1_val.txt").read_text() == val.read_text()
    assert (tmp_path / "zs" / "split2_val.txt").read_text() == train.read_text()
    assert read_labels(tmp_path / "zs" / "split2_labels.csv") == NAMES


def test_fullsup_resolves_the_given_lists_and_fails_naming_a_list_over_the_threshold(tmp_path):
    labels, train, val = _dataset(tmp_path, train_per_class=4, val_per_class=2)
    videos = tmp_path / "videos"
    listed = read_list(train) + read_list(val)[1:]  # one of the 12 val videos is missing
    _touch(videos, [f"{NAMES[it.label].replace(' ', '_')}/{it.path.split('/')[1]}" for it in listed])
    args = (
        f"--protocol fullsup --labels {labels} --train-list {train} --val-list {val} --videos {videos}".split()
    )
    with pytest.raises(MissingVideosLimitError, match=r"val\.txt \(.*val\.txt\): 1 of 12 lines"):
        main([*args, "--out-dir", str(tmp_path / "strict")])
    assert not (tmp_path / "strict" / "train.txt").exists()
    main([*args, "--out-dir", str(tmp_path / "full"), "--max-missing-fraction", "0.1"])
    kept = read_list(tmp_path / "full" / "val.txt", len(NAMES))
    assert len(kept) == 11 and kept[0] == Item("class_0/v0_1.avi", 0)
    assert len(read_list(tmp_path / "full" / "train.txt")) == 24
    report = json.loads((tmp_path / "full" / "missing_videos.json").read_text())["lists"]
    assert (report["val.txt"]["missing"], report["train.txt"]["matched_by"]) == (1, {"name": 24})


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ("fewshot --labels l --train-list t --val-list v", "needs --shots, --seed"),
        ("zeroshot --labels l --val-list v --splits 1", "needs --classes-per-split"),
        ("zeroshot --official o --dataset k600 --splits 1 --shots 2", "does not take --shots"),
        ("fewshot --official o --dataset k600 --shots 2", "no official fewshot files for 'k600'"),
        ("fullsup --official o --dataset hmdb51", "fullsup has no --official files"),
        ("zeroshot --labels l --val-lists a --splits 1 2", "gives 1 lists for 2 --splits"),
        ("zeroshot --labels l --val-list v --classes-per-split 2 --splits 1 --seed 1 2", "with one --seed"),
        ("fewshot --labels l --train-list t --val-list v --seed 1 1 --shots 2", "--seed repeats a value"),
        ("fewshot --labels l --train-list t --val-list v --seed 1 --shots 2 2", "--shots repeats a value"),
    ],
)
def test_each_protocol_takes_exactly_its_own_options(tmp_path, capsys, args, error):
    with pytest.raises(SystemExit):
        main(["--protocol", *args.split(), "--out-dir", str(tmp_path)])
    assert error in capsys.readouterr().err


@needs_official
def test_official_hmdb_fewshot_keeps_the_shipped_lines_with_class_folder_keys(tmp_path):
    """The raw HMDB-51 archives extract to `<class>/<file>.avi`; the shipped lists name bare files."""
    src = OFFICIAL / "datasets_splits" / "hmdb_splits"
    names = read_labels(OFFICIAL / "labels" / "hmdb_51_labels.csv")
    shipped = {
        name: read_list(src / name) for name in ("train1_few_shot_2.txt", "train1_few_shot_16.txt", "val1.txt")
    }
    key = {
        it.path: f"{names[it.label].replace(' ', '_')}/{it.path}" for items in shipped.values() for it in items
    }
    _touch(tmp_path / "videos", key.values())
    out = tmp_path / "fs"
    args = ["--protocol", "fewshot", "--official", str(OFFICIAL), "--dataset", "hmdb51", "--shots", "2", "16"]
    main([*args, "--videos", str(tmp_path / "videos"), "--out-dir", str(out)])
    copied = {fewshot_list(2, 1): "train1_few_shot_2.txt", fewshot_list(16, 1): "train1_few_shot_16.txt"}
    for ours, theirs in (copied | {"val.txt": "val1.txt"}).items():
        assert read_list(out / ours) == [Item(key[it.path], it.label) for it in shipped[theirs]]
    assert len(read_list(out / fewshot_list(16, 1))) == 816
    assert read_labels(out / "labels.csv") == names


@needs_official
def test_official_k600_zeroshot_reproduces_the_shipped_lines_and_labels(tmp_path):
    src = OFFICIAL / "datasets_splits" / "k600_splits" / "ZS_split1_K600_eval.txt"
    _touch(tmp_path / "videos", [it.path for it in read_list(src)])
    out = tmp_path / "zs"
    args = ["--protocol", "zeroshot", "--official", str(OFFICIAL), "--dataset", "k600", "--splits", "1"]
    main([*args, "--videos", str(tmp_path / "videos"), "--out-dir", str(out)])
    assert (out / "split1_val.txt").read_text().splitlines() == src.read_text().splitlines()
    assert read_labels(out / "split1_labels.csv") == read_labels(OFFICIAL / "labels" / "ZS_split1_K600.csv")
    assert json.loads((out / "missing_videos.json").read_text())["lists"]["split1_val.txt"]["kept"] == 14084
