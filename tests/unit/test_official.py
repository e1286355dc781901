"""The datasets' own annotation files: readers, byte-exact writers, refusals, the paper's lists built from them.

Every fixture is written here in the publisher's format (CRLF UCF lists, HMDB 7030 files with trailing spaces,
Kinetics CSVs, SSv2 JSON), independently of the module's writers.
"""

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from vifi.data.lists.annotations import AnnotationError, Item, paper_labels, read_labels, read_list
from vifi.data.lists.official import (
    FORMATS,
    Annotations,
    Video,
    all_videos,
    exclude_classes,
    match_key,
    read_annotations,
    to_items,
    write_annotations,
)
from vifi.data.lists.splits import order_by_frequency, relabel, split_classes

Writer = Callable[[str, list[str], dict[str, list[Video]], str], dict[str, bytes]]

# ------------------------------------------------------------------------------------------------ UCF-101

UCF_CLASSES = ["ApplyEyeMakeup", "BandMarching", "HandstandPushups", "YoYo"]
# Clips per group 1..3; fold N tests on group N and trains on the others, so trainlist01 counts are 3, 5, 4, 4.
UCF_CLIPS = {
    "ApplyEyeMakeup": (2, 1, 2),
    "BandMarching": (1, 3, 2),
    "HandstandPushups": (2, 2, 2),
    "YoYo": (1, 2, 2),
}


def _ucf_file(name: str, group: int, clip: int) -> str:
    """UCF-101 spells one class differently in its file names than in its folder and classInd.txt."""
    stem = "HandStandPushups" if name == "HandstandPushups" else name
    return f"v_{stem}_g{group:02d}_c{clip:02d}.avi"


def _ucf_lines(fold: int, test: bool) -> list[str]:
    lines = []
    for cid, name in enumerate(UCF_CLASSES, start=1):
        for group, clips in enumerate(UCF_CLIPS[name], start=1):
            if (group == fold) == test:
                label = "" if test else f" {cid}"
                lines += [f"{name}/{_ucf_file(name, group, c)}{label}" for c in range(1, clips + 1)]
    return lines


def ucf_files() -> dict[str, bytes]:
    """ucfTrainTestlist/ as published: CRLF line ends, 1-based ids, unlabelled test lists."""
    files = {"classInd.txt": "".join(f"{i} {name}\r\n" for i, name in enumerate(UCF_CLASSES, start=1)).encode()}
    for fold in (1, 2, 3):
        for kind, test in (("train", False), ("test", True)):
            files[f"{kind}list{fold:02d}.txt"] = "".join(f"{ln}\r\n" for ln in _ucf_lines(fold, test)).encode()
    return files


def _write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def written(tmp_path: Path) -> Writer:
    """Write annotations into a fresh folder and return the files of its annotation folder, by name."""
    calls = itertools.count()

    def write(fmt: str, classes: list[str], splits: dict[str, list[Video]], folder: str) -> dict[str, bytes]:
        root = tmp_path / f"written{next(calls)}"
        write_annotations(fmt, root, classes, splits)
        return {path.name: path.read_bytes() for path in sorted((root / folder).iterdir())}

    return write


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    _write_files(tmp_path / "ucf101" / "ucfTrainTestlist", ucf_files())
    return tmp_path / "ucf101"


def test_ucf_reader_counts_and_first_items(ucf: Path) -> None:
    ann = read_annotations("ucf101", ucf)
    assert ann.format == "ucf101" and ann.classes == UCF_CLASSES
    assert list(ann.splits) == ["train1", "val1", "train2", "val2", "train3", "val3"]
    assert [len(ann.splits[s]) for s in ann.splits] == [16, 6, 14, 8, 14, 8]
    assert ann.splits["train1"][:2] == [
        Video("v_ApplyEyeMakeup_g02_c01.avi", "ApplyEyeMakeup"),
        Video("v_ApplyEyeMakeup_g03_c01.avi", "ApplyEyeMakeup"),
    ]
    assert ann.splits["val1"][3] == Video("v_HandStandPushups_g01_c01.avi", "HandstandPushups")


def test_ucf_reader_takes_the_list_folder_itself_and_a_trailing_blank_line(ucf: Path) -> None:
    folder = ucf / "ucfTrainTestlist"
    (folder / "classInd.txt").write_bytes((folder / "classInd.txt").read_bytes() + b"\r\n")
    assert read_annotations("ucf101", folder) == read_annotations("ucf101", ucf)
    assert read_annotations("ucf101", folder).classes == UCF_CLASSES


def test_ucf_writer_gives_the_published_bytes(written: Writer) -> None:
    splits = {
        "train1": [
            Video("v_HandStandPushups_g08_c01.avi", "HandstandPushups"),
            Video("v_YoYo_g08_c01.avi", "YoYo"),
        ],
        "val1": [Video("v_YoYo_g01_c01.avi", "YoYo")],
    }
    files = written("ucf101", ["HandstandPushups", "YoYo"], splits, "ucfTrainTestlist")
    assert files == {
        "classInd.txt": b"1 HandstandPushups\r\n2 YoYo\r\n",
        "trainlist01.txt": b"HandstandPushups/v_HandStandPushups_g08_c01.avi 1\r\n"
        b"YoYo/v_YoYo_g08_c01.avi 2\r\n",
        "testlist01.txt": b"YoYo/v_YoYo_g01_c01.avi\r\n",
    }


def test_ucf_round_trip_is_byte_exact(ucf: Path, tmp_path: Path) -> None:
    ann = read_annotations("ucf101", ucf)
    write_annotations("ucf101", tmp_path / "copy", ann.classes, ann.splits)
    written = tmp_path / "copy" / "ucfTrainTestlist"
    assert {p.name: p.read_bytes() for p in written.iterdir()} == ucf_files()
    assert read_annotations("ucf101", tmp_path / "copy") == ann


# ------------------------------------------------------------------------------------------------ HMDB-51

# Per class: video names (sorted, as published) and the tags of splits 1..3 (1 train, 2 test, 0 unused).
HMDB = {
    "brush_hair": (
        [
            "April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
            "Brushing_hair_brush_hair_h_nm_np1_le_goo_1.avi",
            "My_Hair_brush_hair_u_nm_np1_fr_med_2.avi",
        ],
        ("120", "012", "201"),
    ),
    "kick": (["Kick_kick_f_cm_np1_ba_med_0.avi", "kick_kick_f_nm_np1_le_bad_1.avi"], ("12", "21", "12")),
    "kick_ball": (
        ["(Rad)Goal!_kick_ball_f_cm_np1_ba_med_0.avi", "Soccer_kick_ball_f_cm_np1_fr_goo_1.avi"],
        ("21", "12", "12"),
    ),
    "sword": (["Sword_sword_f_cm_np2_le_bad_0.avi", "Sword_sword_f_cm_np2_le_bad_1.avi"], ("12", "12", "21")),
    "sword_exercise": (
        ["Kata_sword_exercise_f_cm_np1_fr_med_0.avi", "Kata_sword_exercise_f_cm_np1_fr_med_1.avi"],
        ("10", "21", "12"),
    ),
}


def hmdb_files() -> dict[str, bytes]:
    """testTrainMulti_7030_splits/ as published: one file per class and split, `<video> <tag> ` lines."""
    return {
        f"{name}_test_split{split}.txt": "".join(
            f"{v} {t} \n" for v, t in zip(videos, tags[split - 1], strict=True)
        ).encode()
        for name, (videos, tags) in HMDB.items()
        for split in (1, 2, 3)
    }


@pytest.fixture
def hmdb(tmp_path: Path) -> Path:
    _write_files(tmp_path / "hmdb51" / "testTrainMulti_7030_splits", hmdb_files())
    return tmp_path / "hmdb51"


def test_hmdb_reader_counts_and_first_items(hmdb: Path) -> None:
    ann = read_annotations("hmdb51", hmdb)
    assert ann.classes == ["brush_hair", "kick", "kick_ball", "sword", "sword_exercise"]
    assert [len(ann.splits[s]) for s in ann.splits] == [5, 4, 5, 5, 5, 5]
    assert ann.splits["train1"][:3] == [
        Video("April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "brush_hair"),
        Video("Kick_kick_f_cm_np1_ba_med_0.avi", "kick"),
        Video("Soccer_kick_ball_f_cm_np1_fr_goo_1.avi", "kick_ball"),
    ]
    assert ann.splits["val1"][:2] == [
        Video("Brushing_hair_brush_hair_h_nm_np1_le_goo_1.avi", "brush_hair"),
        Video("kick_kick_f_nm_np1_le_bad_1.avi", "kick"),
    ]
    unused = Video("Kata_sword_exercise_f_cm_np1_fr_med_1.avi", "sword_exercise")  # tag 0 in split 1
    assert unused not in ann.splits["train1"] + ann.splits["val1"] and unused in ann.splits["val3"]


def test_hmdb_reader_takes_crlf_and_lines_without_the_trailing_space(hmdb: Path) -> None:
    folder = hmdb / "testTrainMulti_7030_splits"
    path = folder / "kick_test_split1.txt"
    path.write_bytes(path.read_bytes().replace(b" \n", b"\r\n"))
    assert read_annotations("hmdb51", folder).splits["val1"][1] == Video(
        "kick_kick_f_nm_np1_le_bad_1.avi", "kick"
    )


def test_hmdb_writer_gives_the_published_bytes(written: Writer) -> None:
    a, b, c = (Video(f"clip{i}_kick_ball_u_nm_np1_fr_goo_0.avi", "kick_ball") for i in range(3))
    files = written("hmdb51", ["kick_ball"], {"train1": [a], "val1": [c]}, "testTrainMulti_7030_splits")
    assert files == {
        "kick_ball_test_split1.txt": b"clip0_kick_ball_u_nm_np1_fr_goo_0.avi 1 \n"
        b"clip2_kick_ball_u_nm_np1_fr_goo_0.avi 2 \n"
    }
    files = written(
        "hmdb51",
        ["kick_ball"],
        {"train1": [c, a], "val1": [b], "train2": [b], "val2": [a]},
        "testTrainMulti_7030_splits",
    )
    assert files == {
        "kick_ball_test_split1.txt": f"{a.path} 1 \n{b.path} 2 \n{c.path} 1 \n".encode(),
        "kick_ball_test_split2.txt": f"{a.path} 2 \n{b.path} 1 \n{c.path} 0 \n".encode(),
    }


def test_hmdb_round_trip_is_byte_exact(hmdb: Path, tmp_path: Path) -> None:
    ann = read_annotations("hmdb51", hmdb)
    write_annotations("hmdb51", tmp_path / "copy", ann.classes, ann.splits)
    written = tmp_path / "copy" / "testTrainMulti_7030_splits"
    assert {p.name: p.read_bytes() for p in written.iterdir()} == hmdb_files()
    assert read_annotations("hmdb51", tmp_path / "copy") == ann


# ------------------------------------------------------------------------------------------------ Kinetics

K400_TRAIN = (
    "label,youtube_id,time_start,time_end,split,is_cc\n"
    "abseiling,-0aBcD_12x9,3,13,train,0\n"
    "zumba,00000000123,120,130,train,0\n"
    '"passing American football (in game)",1e100_0-abc,45,55,train,1\n'
    "air drumming,nan,0,10,train,0\n"
)
K400_VALIDATE = (
    "label,youtube_id,time_start,time_end,split\n"
    "zumba,-vAL1dAtE-0,7,17,validate\n"
    "abseiling,0123456789a,0,10,validate\n"
    "passing American football (in game),valClip0002,300,310,validate\n"
)
K400_TEST = "youtube_id,time_start,time_end,split\ntestClip001,0,10,test\n"


@pytest.fixture
def k400(tmp_path: Path) -> Path:
    files = {"train.csv": K400_TRAIN, "validate.csv": K400_VALIDATE, "test.csv": K400_TEST}
    return _write_files(tmp_path / "k400" / "annotations", {k: v.encode() for k, v in files.items()}).parent


def test_kinetics_reader_keeps_ids_as_text_and_skips_an_unlabelled_test_file(k400: Path) -> None:
    ann = read_annotations("kinetics", k400)
    assert ann.classes == ["abseiling", "air drumming", "passing American football (in game)", "zumba"]
    assert list(ann.splits) == ["train1", "val1"]
    assert ann.splits["train1"] == [
        Video("train/-0aBcD_12x9_000003_000013.mp4", "abseiling"),
        Video("train/00000000123_000120_000130.mp4", "zumba"),
        Video("train/1e100_0-abc_000045_000055.mp4", "passing American football (in game)"),
        Video("train/nan_000000_000010.mp4", "air drumming"),
    ]
    assert ann.splits["val1"][0] == Video("val/-vAL1dAtE-0_000007_000017.mp4", "zumba")


def test_kinetics_round_trip_quotes_only_where_needed(k400: Path, tmp_path: Path, written: Writer) -> None:
    ann = read_annotations("kinetics", k400)
    write_annotations("kinetics", tmp_path / "copy", ann.classes, ann.splits)
    assert read_annotations("kinetics", tmp_path / "copy") == ann
    text = (tmp_path / "copy" / "annotations" / "val.csv").read_bytes()
    assert text == (
        b"label,youtube_id,time_start,time_end,split\n"
        b"zumba,-vAL1dAtE-0,7,17,val\n"
        b"abseiling,0123456789a,0,10,val\n"
        b"passing American football (in game),valClip0002,300,310,val\n"
    )
    comma = {"train1": [Video("train/a_000001_000011.mp4", "cooking, on campfire")], "val1": []}
    files = written("kinetics", ["cooking, on campfire"], comma, "annotations")
    assert files["train.csv"].splitlines()[1] == b'"cooking, on campfire",a,1,11,train'


def test_kinetics_600_zero_shot_classes_pool_every_split(tmp_path: Path) -> None:
    """K600 ships train.txt/val.txt CSVs and a labelled test.csv; its zero-shot classes are those new to K400,
    where K600's lower-case `american` still names a K400 class."""
    header = "label,youtube_id,time_start,time_end,split\n"
    files = {
        "train.txt": header + "abseiling,a1,0,10,train\nacting in play,a2,0,10,train\n",
        "val.txt": header + "arguing,b1,5,15,val\npassing american football (not in game),b2,0,10,val\n",
        "test.csv": header + "acting in play,c1,0,10,test\nabseiling,c2,0,10,test\n",
    }
    root = _write_files(tmp_path / "k600" / "annotations", {k: v.encode() for k, v in files.items()}).parent
    ann = read_annotations("kinetics", root)
    assert list(ann.splits) == ["train1", "val1", "test1"]
    new = exclude_classes(ann, paper_labels("kinetics_400"))
    assert ann.classes == ["abseiling", "acting in play", "arguing", "passing american football (not in game)"]
    assert new.classes == ["acting in play", "arguing"]
    assert all_videos(new) == [
        Video("train/a2_000000_000010.mp4", "acting in play"),
        Video("val/b1_000005_000015.mp4", "arguing"),
        Video("test/c1_000000_000010.mp4", "acting in play"),
    ]
    items = to_items(all_videos(new), paper_labels("kinetics_600"), root)
    assert [it.label for it in items] == [1, 10, 1]


# ------------------------------------------------------------------------------------------------ SSv2

SSV2_LABELS = {  # name -> id, written out of id order: classes follow the ids
    "Putting something that can't roll onto a slanted surface, so it stays where it is": "2",
    "Approaching something with your camera": "0",
    "Putting number of something onto something": "1",
    "Something falling like a feather or paper": "3",
}
SSV2_TRAIN = [
    {
        "id": "78687",
        "label": "approaching cup with your camera",
        "template": "Approaching [something] with your camera",
        "placeholders": ["cup"],
    },
    {
        "id": "42326",
        "label": "putting 3 coins onto table",
        "template": "Putting [number of] [something] onto [something]",
        "placeholders": ["3", "coins", "table"],
    },
    {
        "id": "145274",
        "label": "putting ball that can't roll onto a slanted surface, so it stays where it is",
        "template": "Putting [something] that can't roll onto a slanted surface, so it stays where it is",
        "placeholders": ["ball"],
    },
]
SSV2_VALIDATION = [
    {
        "id": "74225",
        "label": "plastic falling like a feather or paper",
        "template": "[Something] falling like a feather or paper",
        "placeholders": ["plastic"],
    },
    {
        "id": "116154",
        "label": "approaching box with your camera",
        "template": "Approaching [something] with your camera",
        "placeholders": ["box"],
    },
]


def _ssv2_json(entries: object) -> bytes:
    if isinstance(entries, dict):
        return (
            "{\n" + ",\n".join(f" {json.dumps(k)}:{json.dumps(v)}" for k, v in entries.items()) + "\n}"
        ).encode()
    return ("[\n" + ",\n".join(json.dumps(e, separators=(",", ":")) for e in entries) + "\n]").encode()


@pytest.fixture
def ssv2(tmp_path: Path) -> Path:
    files = {
        "labels.json": _ssv2_json(SSV2_LABELS),
        "train.json": _ssv2_json(SSV2_TRAIN),
        "validation.json": _ssv2_json(SSV2_VALIDATION),
        "test.json": _ssv2_json([{"id": "1420"}]),
    }
    return _write_files(tmp_path / "ssv2" / "labels", files).parent


def test_ssv2_reader_orders_classes_by_id_and_strips_template_brackets(ssv2: Path) -> None:
    ann = read_annotations("ssv2", ssv2)
    assert ann.classes == [
        "Approaching something with your camera",
        "Putting number of something onto something",
        "Putting something that can't roll onto a slanted surface, so it stays where it is",
        "Something falling like a feather or paper",
    ]
    assert [len(v) for v in ann.splits.values()] == [3, 2]
    assert ann.splits["train1"][1] == Video("42326.webm", "Putting number of something onto something")
    assert ann.splits["val1"][0] == Video("74225.webm", "Something falling like a feather or paper")


def test_ssv2_reader_takes_the_older_file_names(ssv2: Path) -> None:
    folder = ssv2 / "labels"
    for name in ("labels", "train", "validation", "test"):
        (folder / f"{name}.json").rename(folder / f"something-something-v2-{name}.json")
    assert read_annotations("ssv2", folder).splits["val1"][1] == Video(
        "116154.webm", "Approaching something with your camera"
    )


def test_ssv2_round_trip_and_published_layout(ssv2: Path, tmp_path: Path) -> None:
    ann = read_annotations("ssv2", ssv2)
    write_annotations("ssv2", tmp_path / "copy", ann.classes, ann.splits)
    assert read_annotations("ssv2", tmp_path / "copy") == ann
    folder = tmp_path / "copy" / "labels"
    assert (folder / "labels.json").read_text().splitlines()[:3] == [
        "{",
        ' "Approaching something with your camera":"0",',
        ' "Putting number of something onto something":"1",',
    ]
    assert (folder / "train.json").read_text().splitlines()[2] == (
        '{"id":"42326","label":"Putting number of something onto something",'
        '"template":"Putting number of [something] onto [something]","placeholders":["something","something"]},'
    )


# ------------------------------------------------------------------------------------------------ all formats


def test_write_then_read_gives_the_same_annotations_for_every_format(tmp_path: Path) -> None:
    """Classes in each format's own order (HMDB and Kinetics sort), lists grouped as the readers return them."""
    cases = {
        "ucf101": (["YoYo", "ApplyEyeMakeup"], "v_{c}_g01_c{i}.avi", 2),
        "hmdb51": (["kick", "kick_ball"], "{c}_video_{i}.avi", 3),
        "kinetics": (["abseiling", "zumba"], "{s}/-{c}{i}_000001_000011.mp4", 1),
        "ssv2": (["Approaching something", "Pushing something"], "{i}{n}.webm", 1),
    }
    assert set(cases) == set(FORMATS)
    for fmt, (classes, pattern, folds) in cases.items():
        splits = {
            f"{kind}{f}": [
                Video(pattern.format(c=c, i=f"{kind}{f}x{j}", s=kind, n=n * 10 + j), c)
                for n, c in enumerate(classes)
                for j in range(2)
            ]
            for f in range(1, folds + 1)
            for kind in ("train", "val")
        }
        write_annotations(fmt, tmp_path / fmt, classes, splits)
        assert read_annotations(fmt, tmp_path / fmt) == Annotations(fmt, classes, splits), fmt


# ------------------------------------------------------------------------------------------- the paper's lists


def test_ucf_lists_have_the_released_conventions(ucf: Path) -> None:
    """valN.txt = testlist0N's bare names with classInd id - 1; base = the more frequent half of trainlist01."""
    ann = read_annotations("ucf101", ucf)
    val1 = to_items(ann.splits["val1"], ann.classes, ucf)
    assert val1 == [
        Item("v_ApplyEyeMakeup_g01_c01.avi", 0),
        Item("v_ApplyEyeMakeup_g01_c02.avi", 0),
        Item("v_BandMarching_g01_c01.avi", 1),
        Item("v_HandStandPushups_g01_c01.avi", 2),
        Item("v_HandStandPushups_g01_c02.avi", 2),
        Item("v_YoYo_g01_c01.avi", 3),
    ]
    paper_ids = [it.label for it in to_items(ann.splits["val1"], paper_labels("ucf_101"), ucf)]
    assert paper_ids == [0, 0, 5, 36, 36, 100]
    train = to_items(ann.splits["train1"], ann.classes, ucf)
    assert order_by_frequency(train, 4) == [0, 2, 3, 1]  # counts 3, 4, 4, 5: the tie by id
    base, novel = split_classes(train, 4)
    assert (base, novel) == ([3, 1], [0, 2])
    assert relabel(train, base) == [
        Item(f"v_BandMarching_g{g:02d}_c{c:02d}.avi", 1) for g, c in ((2, 1), (2, 2), (2, 3), (3, 1), (3, 2))
    ] + [Item(f"v_YoYo_g{g:02d}_c{c:02d}.avi", 0) for g, c in ((2, 1), (2, 2), (3, 1), (3, 2))]
    assert relabel(val1, base) == [Item("v_BandMarching_g01_c01.avi", 1), Item("v_YoYo_g01_c01.avi", 0)]
    assert relabel(val1, novel) == [Item(it.path, it.label // 2) for it in val1 if it.label in (0, 2)]


def test_hmdb_val_lists_hold_the_tag_2_videos_in_the_papers_order(hmdb: Path) -> None:
    ann = read_annotations("hmdb51", hmdb)
    for split in (1, 2, 3):
        tagged = {
            v
            for name, (videos, tags) in HMDB.items()
            for v, t in zip(videos, tags[split - 1], strict=True)
            if t == "2"
        }
        assert {v.path for v in ann.splits[f"val{split}"]} == tagged
    val1 = sorted(to_items(ann.splits["val1"], paper_labels("hmdb_51"), hmdb), key=lambda it: it.label)
    assert val1 == [
        Item("Brushing_hair_brush_hair_h_nm_np1_le_goo_1.avi", 0),
        Item("(Rad)Goal!_kick_ball_f_cm_np1_ba_med_0.avi", 20),
        Item("kick_kick_f_nm_np1_le_bad_1.avi", 21),
        Item("Sword_sword_f_cm_np2_le_bad_1.avi", 45),
    ]


def test_ssv2_validation_list_keeps_file_order_with_labels_json_ids(ssv2: Path) -> None:
    ann = read_annotations("ssv2", ssv2)
    assert to_items(ann.splits["val1"], ann.classes, ssv2) == [Item("74225.webm", 3), Item("116154.webm", 0)]
    assert [it.label for it in to_items(ann.splits["val1"], paper_labels("ssv2"), ssv2)] == [134, 0]


def test_k400_val_labels_are_the_papers_label_ids(k400: Path) -> None:
    ann = read_annotations("kinetics", k400)
    assert to_items(ann.splits["val1"], paper_labels("kinetics_400"), k400) == [
        Item("val/-vAL1dAtE-0_000007_000017.mp4", 399),
        Item("val/0123456789a_000000_000010.mp4", 0),
        Item("val/valClip0002_000300_000310.mp4", 208),
    ]


# ------------------------------------------------------------------------------------------------ names


def test_match_key_joins_spellings_but_keeps_distinct_classes_apart() -> None:
    assert match_key("ApplyEyeMakeup") == match_key("apply eye makeup") == "applyeyemakeup"
    assert match_key("kick_ball") == match_key("kick ball") != match_key("kick")
    assert match_key("Putting [something] on X") == match_key("Putting something on X")


def test_to_items_refuses_unknown_and_ambiguous_names() -> None:
    videos = [Video("a.avi", "kick_ball"), Video("b.avi", "juggle"), Video("c.avi", "juggle")]
    with pytest.raises(
        AnnotationError,
        match=r"^src\.txt: 1 class name\(s\) not in the label list of 2 names: "
        r"'juggle' \(2 video\(s\)\)$",
    ):
        to_items(videos, ["kick", "kick ball"], "src.txt")
    with pytest.raises(
        AnnotationError,
        match=r"^src\.txt: 1 ambiguous class name\(s\): 'kick_ball' \(1 video\(s\)\) "
        r"matches 'kick ball' and 'Kick Ball'$",
    ):
        to_items(videos[:1], ["kick ball", "Kick Ball"], "src.txt")
    exact_first = to_items(videos[:1], ["kick ball", "kick_ball"], "src.txt")
    assert exact_first == [Item("a.avi", 1)]


# ------------------------------------------------------------------------------------------------ refusals


def test_class_ind_given_as_a_label_csv_is_refused(ucf: Path, tmp_path: Path) -> None:
    path = ucf / "ucfTrainTestlist" / "classInd.txt"
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(path))}:1: expected the header 'id,name', found "
        r"'1 ApplyEyeMakeup': this looks like UCF-101's classInd\.txt .*read_annotations\('ucf101'",
    ):
        read_labels(path)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("id,name\n1,ApplyEyeMakeup\n2,YoYo\n")
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(csv_path))}:2: the ids look 1-based"):
        read_labels(csv_path)


def test_one_based_train_list_is_refused_before_its_last_class(ucf: Path, tmp_path: Path) -> None:
    path = ucf / "ucfTrainTestlist" / "trainlist01.txt"
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(path))}: labels run 1\.\.4 for 4 classes: the ids "
        r"look 1-based, as in UCF-101's trainlistNN\.txt.*read_annotations\('ucf101'",
    ):
        read_list(path, 4)
    with pytest.raises(AnnotationError, match=r"labels run 1\.\.4: the ids look 1-based"):
        read_list(path)
    renamed = tmp_path / "train.txt"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(AnnotationError, match=r"labels run 1\.\.4 for 4 classes"):
        read_list(renamed, 4)
    assert len(read_list(renamed, 5)) == 16  # a 5-class list that lacks class 0 is still a list


def test_test_list_given_as_a_split_list_is_refused(ucf: Path) -> None:
    path = ucf / "ucfTrainTestlist" / "testlist01.txt"
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(path))}:1: found 'ApplyEyeMakeup/"
        r"v_ApplyEyeMakeup_g01_c01\.avi' with no label: this looks like a UCF-101 test list",
    ):
        read_list(path, 101)


def test_7030_split_file_given_as_a_split_list_is_refused(hmdb: Path, tmp_path: Path) -> None:
    path = hmdb / "testTrainMulti_7030_splits" / "kick_test_split1.txt"
    message = r"this is an HMDB-51 7030 split file .*read_annotations\('hmdb51'"
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(path))}: {message}"):
        read_list(path, 51)
    renamed = tmp_path / "val1.txt"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(AnnotationError, match=message):
        read_list(renamed, 51)
    renamed.write_text("a.avi 1\nb.avi 2\n")
    assert read_list(renamed, 51) == [Item("a.avi", 1), Item("b.avi", 2)]


def test_files_in_the_wrong_format_name_file_line_and_expectation(
    ucf: Path, hmdb: Path, k400: Path, ssv2: Path
) -> None:
    folder = ucf / "ucfTrainTestlist"
    (folder / "classInd.txt").write_text("id,name\n0,ApplyEyeMakeup\n")
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(folder))}/classInd\.txt:1: expected '<id> "
        r"<ClassName>' \(UCF-101 classInd\.txt\), found 'id,name'$",
    ):
        read_annotations("ucf101", ucf)
    (folder / "classInd.txt").write_bytes(ucf_files()["classInd.txt"])
    (folder / "testlist02.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi\nYoYo/v_YoYo_g02_c01.avi 4\n"
    )
    with pytest.raises(
        AnnotationError,
        match=r"testlist02\.txt:2: expected '<Class>/<video>\.avi' with no label "
        r"\(UCF-101 testlist: the folder is the class\), found 'YoYo/v_YoYo_g02_c01\.avi 4'$",
    ):
        read_annotations("ucf101", ucf)
    split = hmdb / "testTrainMulti_7030_splits" / "sword_test_split2.txt"
    split.write_text("Sword_sword_f_cm_np2_le_bad_0.avi 1 \nSword_sword_f_cm_np2_le_bad_1.avi 3 \n")
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(split))}:2: expected '<video>\.avi <tag> ' with "
        r"tag 1 \(train\), 2 \(test\) or 0 \(unused\) \(HMDB-51 7030 split file\), found ",
    ):
        read_annotations("hmdb51", hmdb)
    csv_path = k400 / "annotations" / "validate.csv"
    csv_path.write_text("video,label\nval/a.mp4,0\n")
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(csv_path))}:1: expected a Kinetics annotation CSV "
        r"with the header label,youtube_id,time_start,time_end,split\[,is_cc\], found 'video,label'$",
    ):
        read_annotations("kinetics", k400)
    labels = ssv2 / "labels" / "labels.json"
    labels.write_text(json.dumps(SSV2_TRAIN))
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(labels))}: expected a JSON object .* \(SSv2 "
        r"labels\.json\), found a list$",
    ):
        read_annotations("ssv2", ssv2)
    labels.write_bytes(_ssv2_json({"Approaching something with your camera": "0"}))
    with pytest.raises(
        AnnotationError,
        match=r"train\.json: entry 1 \(id 42326\): template 'Putting \[number of\] "
        r"\[something\] onto \[something\]' is class 'Putting number of something onto something', "
        r"which is not in labels\.json$",
    ):
        read_annotations("ssv2", ssv2)


def test_missing_files_name_the_folder_and_the_files_expected(
    ucf: Path, hmdb: Path, ssv2: Path, tmp_path: Path
) -> None:
    (ucf / "ucfTrainTestlist" / "testlist02.txt").unlink()
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(ucf))}/ucfTrainTestlist: missing testlist02\.txt; "
        r"expected classInd\.txt, trainlist01\.txt\.\.trainlist03\.txt and testlist01",
    ):
        read_annotations("ucf101", ucf)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        AnnotationError,
        match=rf"^{re.escape(str(empty))}: no ucfTrainTestlist/ folder and no "
        r"classInd\.txt, trainlist01\.txt, testlist01\.txt; expected",
    ):
        read_annotations("ucf101", empty)
    with pytest.raises(
        AnnotationError,
        match=r"no annotations/ folder and no train\.csv or train\.txt, val\.csv or "
        r"validate\.csv or val\.txt or validate\.txt; expected a training and a validation",
    ):
        read_annotations("kinetics", empty)
    (hmdb / "testTrainMulti_7030_splits" / "kick_test_split3.txt").unlink()
    with pytest.raises(
        AnnotationError,
        match=r"testTrainMulti_7030_splits: missing kick_test_split3\.txt; "
        r"expected every class to have every split file$",
    ):
        read_annotations("hmdb51", hmdb)
    (ssv2 / "labels" / "validation.json").unlink()
    with pytest.raises(
        AnnotationError,
        match=r"labels: missing validation\.json or something-something-v2-"
        r"validation\.json; expected labels\.json, train\.json and validation\.json$",
    ):
        read_annotations("ssv2", ssv2)
    with pytest.raises(AnnotationError, match=r"no such folder \(expected the ssv2 dataset root\)$"):
        read_annotations("ssv2", tmp_path / "absent")
    with pytest.raises(ValueError, match=r"unknown annotation format 'ucf'; expected one of ucf101, hmdb51"):
        read_annotations("ucf", ucf)


def test_writers_refuse_what_their_format_cannot_hold(written: Writer) -> None:
    yoyo = Video("v_YoYo_g01_c01.avi", "YoYo")
    with pytest.raises(ValueError, match=r"^split train1: class\(es\) \['YoYo'\] are not in the class list$"):
        written("ucf101", ["ApplyEyeMakeup"], {"train1": [yoyo], "val1": []}, "ucfTrainTestlist")
    with pytest.raises(ValueError, match=r"every fold 1\.\.N needs train and val \(missing \['val2'\]\)$"):
        written("ucf101", ["YoYo"], {"train1": [yoyo], "val1": [], "train2": []}, "ucfTrainTestlist")
    with pytest.raises(ValueError, match=r"^'UCF-101/YoYo/v_YoYo_g01_c01\.avi': expected a bare file name"):
        written("ucf101", ["YoYo"], {"train1": [Video(f"UCF-101/YoYo/{yoyo.path}", "YoYo")], "val1": []}, "")
    with pytest.raises(ValueError, match=r"^fold 1: 1 video\(s\) in both train1 and val1"):
        written("hmdb51", ["YoYo"], {"train1": [yoyo], "val1": [yoyo]}, "")
    with pytest.raises(
        ValueError, match=r"^'a\.mp4': expected '<split>/<youtube id>_<start:06d>_<end:06d>\.mp4'$"
    ):
        written("kinetics", ["YoYo"], {"train1": [Video("a.mp4", "YoYo")], "val1": []}, "")
    with pytest.raises(
        ValueError, match=r"^splits \['train1', 'train2'\]: SSv2 takes exactly train1 and val1$"
    ):
        written("ssv2", ["YoYo"], {"train1": [], "train2": []}, "")
