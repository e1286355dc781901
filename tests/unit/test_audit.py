"""The release audit: list label ids checked against the class each video's path or annotations name."""

import csv
import json
import logging

import pytest

from vifi.data.lists.annotations import Item, write_labels, write_list
from vifi.data.lists.audit import (
    AuditError,
    NamingConflict,
    OutsideLabelSpaceError,
    VideoNames,
    audit_list,
    named_class,
    relabel_by_name,
    video_namer,
)
from vifi.stages.audit import main

# A few HMDB-51 classes in the paper's label order: `kick ball` before `kick`, `sword exercise` before `sword`.
HMDB = ["brush hair", "draw sword", "kick ball", "kick", "sword exercise", "sword", "wave"]
TAGS = "f_cm_np1_ba_med"
# Videos per class, all different so that the report's order by count is visible.
VIDEOS = dict(brush_hair=2, draw_sword=1, kick_ball=4, kick=3, sword_exercise=2, sword=1, wave=1)
# The released lists' swap: each of these classes' videos carries the other class's id.
SWAP = {"kick_ball": 3, "kick": 2, "sword_exercise": 5, "sword": 4}


def _hmdb(swapped: bool) -> list[Item]:
    """Each class's videos, under the paper's ids or, `swapped`, under the ids the released lists give them."""
    return [
        Item(f"Some_Title_{i}_{folder}_{TAGS}_{i}.avi", SWAP.get(folder, label) if swapped else label)
        for label, (folder, count) in enumerate(VIDEOS.items())
        for i in range(count)
    ]


def _audit(items, labels=HMDB, fmt="hmdb51", names=None):
    return audit_list(items, labels, video_namer(fmt, labels, names))


def _pairs(audit):
    return [(p.label_id, p.label_name, p.named, p.named_id, p.count) for p in audit.pairs]


def test_the_released_hmdb_swap_is_reported_as_exactly_its_four_pairs():
    audit = _audit(_hmdb(swapped=True))
    assert _pairs(audit) == [
        (3, "kick", "kick ball", 2, 4),
        (2, "kick ball", "kick", 3, 3),
        (5, "sword", "sword exercise", 4, 2),
        (4, "sword exercise", "sword", 5, 1),
    ]
    assert (audit.lines, audit.checked, audit.unnamed, audit.conflicting) == (14, 14, 0, 0)
    assert audit.disagreeing == 10
    assert audit.pairs[3].examples == [f"Some_Title_0_sword_{TAGS}_0.avi"]
    assert audit.summary("val1.txt") == (
        "4 class pairs disagree in 10 of 14 lines of val1.txt (kick ball <-> kick, sword exercise <-> sword)"
    )


def test_relabel_by_name_fixes_exactly_the_swapped_lines():
    relabelled, changed = relabel_by_name(_hmdb(swapped=True), HMDB, video_namer("hmdb51", HMDB))
    assert relabelled == _hmdb(swapped=False)
    assert changed == 10
    assert relabel_by_name(_hmdb(swapped=False), HMDB, video_namer("hmdb51", HMDB)) == (_hmdb(swapped=False), 0)


def test_relabel_by_name_refuses_a_class_outside_the_lists_labels():
    """A base list's label space lacks the novel classes: such a video cannot follow its name."""
    base = ["sword exercise", "sword"]
    video = f"Kendo_sword_{TAGS}_7.avi"
    items = [Item(video, 1), Item(f"Drill_kick_ball_{TAGS}_0.avi", 1)]
    with pytest.raises(OutsideLabelSpaceError) as err:
        relabel_by_name(items, base, video_namer("hmdb51", base))
    assert str(err.value) == (
        f"Drill_kick_ball_{TAGS}_0.avi: names the class 'kick ball', which this list's 2 labels lack"
    )
    assert _pairs(_audit(items, base)) == [(1, "sword", "kick ball", None, 1)]


def test_a_clean_list_passes_and_a_single_swapped_line_is_caught():
    clean = _hmdb(swapped=False)
    audit = _audit(clean)
    assert (audit.checked, audit.disagreeing, audit.pairs) == (14, 0, [])
    assert audit.summary("val1.txt") == "no class pair disagrees in 14 lines of val1.txt"
    one = [Item(it.path, 3) if it.path == f"Some_Title_1_kick_ball_{TAGS}_1.avi" else it for it in clean]
    audit = _audit(one)
    assert _pairs(audit) == [(3, "kick", "kick ball", 2, 1)]
    assert audit.summary("val1.txt") == (
        "1 class pair disagrees in 1 of 14 lines of val1.txt (kick -> kick ball)"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"Amazing_Soccer_kick_ball_{TAGS}_1.avi", "kick ball"),
        (f"Amazing_Soccer_kick_{TAGS}_1.avi", "kick"),
        (f"Highlander_Sword_School_sword_exercise_{TAGS}_8.avi", "sword exercise"),
        (f"Kendo_sword_{TAGS}_7.avi", "sword"),
        (f"Sword_Drill_draw_sword_{TAGS}_0.avi", "draw sword"),
        # Title words that are classes themselves never lend themselves to the class.
        (f"Kick_Ball_Fail_Compilation_kick_{TAGS}_0.avi", "kick"),
        ("Wave_Goodbye_Brushing_Hair_brush_hair_u_nm_np2_le_goo_3.avi", "brush hair"),
        (f"Draw_Sword_Demo_sword_exercise_{TAGS}_2.avi", "sword exercise"),
        ("kick_ball/Amazing_Soccer_kick_ball_h_cm_np10_ri_bad_104.avi", "kick ball"),
        # Too few tags, tags of another shape, or no known class before them: unnamed, not a crash.
        ("kick_ball_f_cm_np1_ba_med.avi", None),
        ("kick_ball_x_cm_np1_ba_med_0.avi", None),
        ("kick.avi", None),
        (f"_{TAGS}_0.avi", None),
        (f"Holiday_Video_{TAGS}_0.avi", None),
    ],
)
def test_hmdb_names_are_parsed_to_the_longest_known_class(path, expected):
    assert named_class("hmdb51", path, HMDB) == expected


UCF = ["ApplyEyeMakeup", "Archery", "HandstandPushups"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup"),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup"),
        # The real dataset's file names write `HandStand` inside the folder `HandstandPushups`.
        ("v_HandStandPushups_g01_c02.avi", "HandstandPushups"),
        ("UCF-101/HandstandPushups/v_HandStandPushups_g01_c02.avi", "HandstandPushups"),
        ("Archery/clip.avi", "Archery"),
        # A folder that is no class does not name one; a v_ name of an unknown class is kept as written.
        ("videos/v_Archery_g02_c03.avi", "Archery"),
        ("v_YoYo_g01_c01.avi", "YoYo"),
        ("videos/clip.avi", None),
    ],
)
def test_ucf_paths_name_their_class_by_folder_and_file_name(path, expected):
    assert named_class("ucf101", path, UCF) == expected


def test_a_folder_and_file_name_that_disagree_are_reported():
    with pytest.raises(NamingConflict) as err:
        named_class("ucf101", "Archery/v_ApplyEyeMakeup_g01_c01.avi", UCF)
    assert str(err.value) == (
        "Archery/v_ApplyEyeMakeup_g01_c01.avi: its folder names 'Archery' "
        "but its file name names 'ApplyEyeMakeup'"
    )
    items = [Item("Archery/v_ApplyEyeMakeup_g01_c01.avi", 0), Item("Archery/v_Archery_g01_c01.avi", 1)]
    audit = _audit(items, UCF, "ucf101")
    assert (audit.lines, audit.checked, audit.conflicting, audit.disagreeing) == (2, 1, 1, 0)
    assert audit.summary("x.txt") == (
        "no class pair disagrees in 2 lines of x.txt; not checked: 1 line naming two classes"
    )


def test_kinetics_and_ssv2_paths_name_no_class():
    assert named_class("kinetics", "val/abseiling/abc_000001_000011.mp4", ["abseiling"]) is None
    assert named_class("ssv2", "74225.webm", ["Approaching something with your camera"]) is None


LABELS = ["abseiling", "air drumming", "Approaching something with your camera"]
NAMES = {
    "val/abc_000001_000011.mp4": "abseiling",
    "train/air_drumming/xyz_000000_000010.mp4": "air drumming",
    "74225.webm": "Approaching something with your camera",
}


def test_annotated_names_are_found_by_exact_path_file_name_and_stem():
    items = [
        Item("val/abc_000001_000011.mp4", 0),  # exact, agrees
        Item("train/xyz_000000_000010.mp4", 0),  # by file name, labelled as another class
        Item("74225.mp4", 2),  # by stem (re-encoded), agrees
        Item("val/gone_000000_000010.mp4", 1),  # not annotated: unnamed
    ]
    audit = _audit(items, LABELS, "kinetics", VideoNames(NAMES))
    assert (audit.lines, audit.checked, audit.unnamed, audit.disagreeing) == (4, 3, 1, 1)
    assert audit.unnamed_examples == ["val/gone_000000_000010.mp4"]
    assert _pairs(audit) == [(0, "abseiling", "air drumming", 1, 1)]
    assert audit.pairs[0].examples == ["train/xyz_000000_000010.mp4"]
    assert audit.summary("val.txt") == (
        "1 class pair disagrees in 1 of 4 lines of val.txt (abseiling -> air drumming); "
        "not checked: 1 line naming no class"
    )


def test_a_path_and_annotations_that_disagree_are_reported():
    names = VideoNames({f"Amazing_Soccer_kick_{TAGS}_1.avi": "kick ball"}, "videos.csv")
    audit = _audit([Item(f"kick/Amazing_Soccer_kick_{TAGS}_1.avi", 3)], names=names)
    assert (audit.checked, audit.conflicting) == (0, 1)
    assert audit.conflict_examples == [
        f"kick/Amazing_Soccer_kick_{TAGS}_1.avi: its path names 'kick' but videos.csv names 'kick ball'"
    ]


def test_videos_csv_is_read_with_a_csv_parser_and_checked(tmp_path):
    path = tmp_path / "videos.csv"
    path.write_text('path,name\n1.webm,"Putting something, something and something on the table"\n2.webm,x\n')
    names = VideoNames.read(path)
    assert names.names == {"1.webm": "Putting something, something and something on the table", "2.webm": "x"}
    assert names.get("data/2.mp4") == "x"
    path.write_text("path,name\n1.webm,a\n1.webm,b\n")
    with pytest.raises(AuditError) as err:
        VideoNames.read(path)
    assert str(err.value) == f"{path}:3: 1.webm is named 'b' here and 'a' above"
    path.write_text("video,label\n")
    with pytest.raises(AuditError, match=r"expected the header 'path,name', found \['video', 'label'\]"):
        VideoNames.read(path)


def _write_hmdb(tmp_path):
    write_labels(tmp_path / "labels.csv", HMDB)
    write_list(tmp_path / "val1.txt", _hmdb(swapped=True))
    write_labels(tmp_path / "novel_labels.csv", HMDB[:4])
    write_list(tmp_path / "novel_val.txt", [it for it in _hmdb(swapped=False) if it.label < 4])


def test_the_cli_writes_audit_json_and_csv(tmp_path):
    _write_hmdb(tmp_path)
    out = tmp_path / "audit" / "audit.json"
    argv = ["--format", "hmdb51"]
    argv += ["--list", str(tmp_path / "val1.txt"), "--labels", str(tmp_path / "labels.csv")]
    argv += ["--list", str(tmp_path / "novel_val.txt"), "--labels", str(tmp_path / "novel_labels.csv")]
    assert main([*argv, "--policy", "as_released", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    val = report["lists"][str(tmp_path / "val1.txt")]
    assert val["labels"] == str(tmp_path / "labels.csv")
    assert {k: val[k] for k in ("lines", "checked", "unnamed", "conflicting", "disagreeing")} == {
        "lines": 14, "checked": 14, "unnamed": 0, "conflicting": 0, "disagreeing": 10,
    }  # fmt: skip
    assert [(p["label_id"], p["named"], p["named_id"], p["count"]) for p in val["pairs"]] == [
        (3, "kick ball", 2, 4),
        (2, "kick", 3, 3),
        (5, "sword exercise", 4, 2),
        (4, "sword", 5, 1),
    ]
    assert val["pairs"][0]["examples"] == [f"Some_Title_{i}_kick_ball_{TAGS}_{i}.avi" for i in range(4)]
    novel = report["lists"][str(tmp_path / "novel_val.txt")]
    assert (novel["lines"], novel["disagreeing"], novel["pairs"]) == (10, 0, [])
    assert novel["summary"] == "no class pair disagrees in 10 lines of novel_val.txt"
    assert report["totals"] == {
        "lists": 2, "lines": 24, "checked": 24, "unnamed": 0, "conflicting": 0, "disagreeing": 10, "pairs": 4,
    }  # fmt: skip
    assert (report["format"], report["names"], report["policy"]) == ("hmdb51", None, "as_released")
    assert report["summary"] == (
        "4 class pairs disagree in 10 of 24 lines of val1.txt and novel_val.txt "
        "(kick ball <-> kick, sword exercise <-> sword)"
    )
    rows = list(csv.reader(out.with_suffix(".csv").open()))
    assert rows[0] == ["list", "labels", "label_id", "label_name", "named", "named_id", "count", "examples"]
    assert [row[2:7] for row in rows[1:]] == [
        ["3", "kick", "kick ball", "2", "4"],
        ["2", "kick ball", "kick", "3", "3"],
        ["5", "sword", "sword exercise", "4", "2"],
        ["4", "sword exercise", "sword", "5", "1"],
    ]
    assert {row[0] for row in rows[1:]} == {str(tmp_path / "val1.txt")}
    assert rows[4][7] == f"Some_Title_0_sword_{TAGS}_0.avi"


def test_the_cli_reads_kinetics_names_from_videos_csv(tmp_path):
    write_labels(tmp_path / "labels.csv", LABELS)
    write_list(tmp_path / "val.txt", [Item("abc_000001_000011.mp4", 1), Item("74225.webm", 2)])
    with (tmp_path / "videos.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("path", "name"), *NAMES.items()])
    out = tmp_path / "audit.json"
    argv = ["--format", "kinetics", "--names", str(tmp_path / "videos.csv"), "--policy", "by_name"]
    argv += ["--list", str(tmp_path / "val.txt"), "--labels", str(tmp_path / "labels.csv")]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["summary"] == "1 class pair disagrees in 1 of 2 lines of val.txt (air drumming -> abseiling)"
    assert (report["names"], report["policy"]) == (str(tmp_path / "videos.csv"), "by_name")


def test_the_cli_reports_unreadable_input_without_a_traceback(tmp_path, caplog):
    _write_hmdb(tmp_path)
    (tmp_path / "bad.txt").write_text("Kendo_sword_f_nm_np1_fr_bad_7.avi nine\n")
    argv = ["--format", "hmdb51", "--labels", str(tmp_path / "labels.csv"), "--policy", "as_released"]
    with caplog.at_level(logging.ERROR):
        assert main([*argv, "--list", str(tmp_path / "bad.txt"), "--out", str(tmp_path / "a.json")]) == 1
    assert caplog.messages == [f"vifi audit: {tmp_path / 'bad.txt'}:1: label 'nine' is not an integer"]
    assert not (tmp_path / "a.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "ssv2", "--list", "a.txt", "--labels", "l.csv"], "--format ssv2 needs --names"),
        (["--format", "ucf101", "--list", "a.txt", "--list", "b.txt", "--labels", "l.csv"],
         "2 --list but 1 --labels"),
        (["--format", "ucf101", "--list", "a.txt", "--labels", "l.csv", "--list", "a.txt", "--labels", "l.csv"],
         "a --list is given twice"),
    ],
)  # fmt: skip
def test_the_cli_refuses_inconsistent_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--policy", "by_name", "--out", "audit.json"])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
