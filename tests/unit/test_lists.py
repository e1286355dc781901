"""`vifi lists`: official annotations -> labels.csv, train/val lists and videos.csv; the `by_name` policy on
released lists."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vifi.data.lists.annotations import Item, read_labels, read_list, write_labels, write_list
from vifi.data.lists.lists import build_lists
from vifi.data.lists.official import Video, write_annotations
from vifi.data.lists.splits import copy_official
from vifi.stages.lists import main


def kinetics(root: Path) -> None:
    """Two Kinetics-400 classes and one class new to Kinetics-600, videos in train, val and a labelled test."""
    train = [
        Video("train/-aNccq2jvUA_000055_000065.mp4", "abseiling"),
        Video("train/a_000001_000011.mp4", "zumba"),
    ]
    val = [Video("val/0123_000002_000012.mp4", "acting in play"), Video("val/b_000003_000013.mp4", "zumba")]
    splits = {"train1": train, "val1": val, "test1": [Video("test/c_000004_000014.mp4", "acting in play")]}
    write_annotations("kinetics", root, ["abseiling", "acting in play", "zumba"], splits)


def test_lists_take_ids_from_the_label_file_not_from_the_annotations(tmp_path: Path) -> None:
    kinetics(tmp_path / "raw")
    write_labels(tmp_path / "labels.csv", ["zumba", "acting in play", "abseiling"])
    counts = build_lists("kinetics", tmp_path / "raw", tmp_path / "labels.csv", tmp_path / "out")
    assert counts == {"train1.txt": 2, "val1.txt": 2, "test1.txt": 1}
    assert read_list(tmp_path / "out/train1.txt") == [
        Item("train/-aNccq2jvUA_000055_000065.mp4", 2),
        Item("train/a_000001_000011.mp4", 0),
    ]
    assert read_labels(tmp_path / "out/labels.csv") == ["zumba", "acting in play", "abseiling"]
    with open(tmp_path / "out/videos.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and rows[2] == {"path": "val/0123_000002_000012.mp4", "name": "acting in play"}


def test_kinetics600_zero_shot_keeps_new_classes_and_pools_every_split(tmp_path: Path) -> None:
    """The K600 protocol: Kinetics-400 classes are dropped, the rest's videos from every split form one list."""
    kinetics(tmp_path / "raw")
    write_labels(tmp_path / "k600.csv", ["abseiling", "acting in play", "zumba"])
    write_labels(tmp_path / "k400.csv", ["abseiling", "Zumba"])
    build_lists(
        "kinetics", tmp_path / "raw", tmp_path / "k600.csv", tmp_path / "out", tmp_path / "k400.csv", pool=True
    )
    assert read_labels(tmp_path / "out/labels.csv") == ["acting in play"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["labels.csv", "val1.txt", "videos.csv"]
    assert read_list(tmp_path / "out/val1.txt") == [
        Item("val/0123_000002_000012.mp4", 0),
        Item("test/c_000004_000014.mp4", 0),
    ]


def test_a_class_missing_from_the_label_file_is_refused_by_name(tmp_path: Path, capsys) -> None:
    kinetics(tmp_path / "raw")
    write_labels(tmp_path / "labels.csv", ["abseiling", "zumba"])
    with pytest.raises(SystemExit) as exit_:
        main([
            *("--format", "kinetics", "--root", str(tmp_path / "raw")),
            *("--labels", str(tmp_path / "labels.csv"), "--out-dir", str(tmp_path / "out")),
        ])  # fmt: skip
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "acting in play" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def hmdb_release(official: Path) -> list[str]:
    """A release in the official folder layout whose HMDB lists carry the published kick/kick_ball swap."""
    names = ["kick ball", "kick", "wave"]
    labels = official / "labels"
    write_labels(labels / "hmdb_51_base_labels.csv", names)
    write_labels(labels / "hmdb_51_novel_labels.csv", ["pour"])
    folder = official / "datasets_splits/base2novel_splits/hmdb_splits"
    swapped = [Item("A_kick_ball_u_nm_np1_fr_goo_0.avi", 1), Item("B_kick_u_nm_np1_fr_goo_0.avi", 0)]
    write_list(folder / "base_val.txt", [*swapped, Item("C_wave_u_nm_np1_fr_goo_0.avi", 2)])
    write_list(folder / "fs_base_s1_train.txt", [Item("D_kick_ball_u_nm_np1_fr_goo_1.avi", 1)])
    write_list(folder / "novel_val.txt", [Item("E_pour_u_nm_np1_fr_goo_0.avi", 0)])
    return names


@pytest.mark.parametrize("policy", ["as_released", "by_name"])
def test_by_name_relabels_the_released_swap_and_as_released_keeps_it(tmp_path: Path, policy: str) -> None:
    from vifi.data.lists.audit import VideoNames
    from vifi.data.lists.splits import ByName

    hmdb_release(tmp_path / "official")
    by_name = ByName("hmdb51", VideoNames({})) if policy == "by_name" else None
    copy_official(tmp_path / "official", "hmdb51", tmp_path / "out", [1], by_name=by_name)
    val = read_list(tmp_path / "out/base_val.txt")
    train = read_list(tmp_path / "out/fs_base_s1_train.txt")
    if policy == "by_name":
        assert [it.label for it in val] == [0, 1, 2] and [it.label for it in train] == [0]
    else:
        assert [it.label for it in val] == [1, 0, 2] and [it.label for it in train] == [1]
    assert read_list(tmp_path / "out/novel_val.txt") == [Item("E_pour_u_nm_np1_fr_goo_0.avi", 0)]


def test_a_base_class_without_enough_training_videos_is_named_without_a_traceback(
    tmp_path: Path, capsys
) -> None:
    """A copy that lacks whole classes cannot make the paper's split; the stage says which, in one line."""
    from vifi.stages.splits import main as splits_main

    write_labels(tmp_path / "labels.csv", ["ApplyEyeMakeup", "Archery", "YoYo"])
    write_list(tmp_path / "train.txt", [Item(f"v_YoYo_g0{i}_c01.avi", 2) for i in range(1, 4)])
    write_list(tmp_path / "val.txt", [Item("v_YoYo_g05_c01.avi", 2)])
    with pytest.raises(SystemExit) as exit_:
        splits_main([
            *("--labels", str(tmp_path / "labels.csv"), "--train-list", str(tmp_path / "train.txt")),
            *("--val-list", str(tmp_path / "val.txt"), "--shots", "1", "--seeds", "1"),
            *("--out-dir", str(tmp_path / "out")),
        ])  # fmt: skip
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "Traceback" not in err
    assert "1 of the 2 base classes have fewer than 1 training videos, e.g. 'Archery' (0)" in err
