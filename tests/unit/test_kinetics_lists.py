"""Kinetics lists from annotation CSVs: clip names, the paper's label ids, local layouts, missing clips."""

import json

import pytest

from tests.conftest import ROOT
from vifi.__main__ import main as vifi_main
from vifi.data.lists.annotations import AnnotationError, Item, read_list
from vifi.data.lists.kinetics import read_annotations
from vifi.data.lists.resolve import MissingVideosLimitError

LABELS = ROOT / "src" / "vifi" / "data" / "lists" / "labels"

ANNOTATIONS = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,-0aBcD_12x,3,13,train,0
air drumming,nan,120,130,train,0
"passing American football (in game)",0123456789a,45,55,train,1
abseiling,gone-clip00,0,10,train,0
"""
VALIDATE = """label,youtube_id,time_start,time_end,split
air drumming,valClip0001,7,17,validate
"""


@pytest.fixture
def kinetics(tmp_path):
    """Annotation CSVs and a local copy: mostly `<split>/<class>/` folders, one clip re-encoded, one missing."""
    (tmp_path / "train.csv").write_text(ANNOTATIONS)
    (tmp_path / "validate.csv").write_text(VALIDATE)
    videos = tmp_path / "videos"
    for key in (
        "train/abseiling/-0aBcD_12x_000003_000013.mp4",
        "train/air_drumming/nan_000120_000130.mp4",
        "train/passing_American_football_(in_game)/0123456789a_000045_000055.mkv",
        "val/valClip0001_000007_000017.mp4",
    ):
        (videos / key).parent.mkdir(parents=True, exist_ok=True)
        (videos / key).touch()
    return tmp_path


def _args(root, *more):
    return [
        "kinetics",
        "--annotations",
        str(root / "train.csv"),
        str(root / "validate.csv"),
        "--labels",
        str(LABELS / "kinetics_400_labels.csv"),
        "--videos",
        str(root / "videos"),
        "--out",
        str(root / "lists" / "train.txt"),
        *more,
    ]


def test_clips_are_listed_under_their_local_keys_with_the_papers_ids(kinetics):
    assert vifi_main(_args(kinetics, "--max-missing-fraction", "0.2")) == 0
    assert read_list(kinetics / "lists" / "train.txt", 400) == [
        Item("train/abseiling/-0aBcD_12x_000003_000013.mp4", 0),
        Item("train/air_drumming/nan_000120_000130.mp4", 1),
        Item("train/passing_American_football_(in_game)/0123456789a_000045_000055.mkv", 208),
        Item("val/valClip0001_000007_000017.mp4", 1),
    ]
    report = json.loads((kinetics / "lists" / "train_missing.json").read_text())["lists"]["train.txt"]
    assert (report["lines"], report["missing"]) == (5, 1)
    assert report["examples"][0]["path"] == "train/gone-clip00_000000_000010.mp4"
    assert report["matched_by"] == {"exact": 1, "name": 2, "stem": 1}  # validate.csv clips are in val/


def test_a_missing_clip_fails_by_default_with_the_count(kinetics):
    with pytest.raises(MissingVideosLimitError, match=r"train\.txt \(.*train\.csv.*\): 1 of 5 lines"):
        vifi_main(_args(kinetics))
    assert not (kinetics / "lists" / "train.txt").exists()
    assert "gone-clip00" in (kinetics / "lists" / "train_missing.csv").read_text()


def test_a_label_missing_from_the_label_file_is_named(kinetics):
    (kinetics / "train.csv").write_text(ANNOTATIONS + "dyeing hair,someClip001,1,11,train,0\n")
    with pytest.raises(AnnotationError, match=r"1 label\(s\) not in .*kinetics_400_labels\.csv: 'dyeing hair'"):
        vifi_main(_args(kinetics, "--max-missing-fraction", "1"))


def test_kinetics_600_names_match_after_normalisation(kinetics):
    """The shipped K600 list writes 'passing american football (not in game)'; K400 capitalises American."""
    (kinetics / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        '"passing American football (not in game)",-0aBcD_12x,3,13,train\n'
    )
    args = _args(kinetics, "--max-missing-fraction", "1")
    args[args.index("--labels") + 1] = str(LABELS / "kinetics_600_labels.csv")
    vifi_main(args)
    assert read_list(kinetics / "lists" / "train.txt")[0].label == 309


@pytest.mark.parametrize(
    ("csv_text", "error"),
    [
        ("label,youtube_id,time_start,split\nabseiling,x,1,train\n", r"missing column\(s\) \['time_end'\]"),
        (
            "label,youtube_id,time_start,time_end,split\nabseiling,x,1,11.5,train\n",
            "data row 1: time_end '11.5'",
        ),
    ],
)
def test_malformed_annotations_name_the_file_and_row(tmp_path, csv_text, error):
    (tmp_path / "bad.csv").write_text(csv_text)
    with pytest.raises(AnnotationError, match=f"bad.csv: {error}"):
        read_annotations(tmp_path / "bad.csv")
