"""Official list paths resolve onto the keys of real raw layouts; unavailable lines are reported, never lost."""

import csv
import json
import re

import pytest

from tests.conftest import ROOT
from vifi.data.lists.annotations import Item, read_labels, read_list
from vifi.data.lists.resolve import AmbiguousVideoError, ListResolver, MissingVideosLimitError, VideoIndex
from vifi.stages.splits import main as splits_main

OFFICIAL = ROOT.parent / "shared" / "reference" / "official"
B2N = OFFICIAL / "datasets_splits" / "base2novel_splits"
needs_official = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason="the official ViFi-CLIP split files are not beside the checkout"
)


def test_a_bare_file_name_finds_its_class_folder():
    index = VideoIndex(["pour/Cocktail_Pouring_pour_u_nm_np1_ri_med_0.avi", "kick_ball/b.avi"])
    assert index.match("Cocktail_Pouring_pour_u_nm_np1_ri_med_0.avi") == (
        "pour/Cocktail_Pouring_pour_u_nm_np1_ri_med_0.avi",
        "name",
    )
    assert index.match("kick/b.avi") == ("kick_ball/b.avi", "name")
    assert index.match("c.avi") == (None, "missing")


def test_the_exact_path_wins_and_an_ambiguous_name_names_both_candidates():
    index = VideoIndex(["train/x.mp4", "val/x.mp4"])
    assert index.match("val/x.mp4") == ("val/x.mp4", "exact")
    with pytest.raises(AmbiguousVideoError, match=r"'train/x\.mp4' and 'val/x\.mp4'"):
        index.match("test/x.mp4")


def test_a_reencoded_clip_is_found_by_its_stem_unless_two_containers_hold_it():
    clip = "abc_000001_000011"
    assert VideoIndex([f"train/abseiling/{clip}.mkv"]).match(f"train/{clip}.mp4") == (
        f"train/abseiling/{clip}.mkv",
        "stem",
    )
    with pytest.raises(AmbiguousVideoError, match=r"by file stem, e\.g\. 'a/x\.mkv' and 'b/x\.webm'"):
        VideoIndex(["a/x.mkv", "b/x.webm"]).match("x.mp4")


def test_missing_and_quarantined_lines_are_dropped_into_the_report(tmp_path):
    keys = ["c0/a.avi", "c0/b.avi", "c1/c.avi", "c1/d.avi"]
    resolver = ListResolver("raw", keys, {"c1/d.avi": "truncated"}, max_missing_fraction=0.5)
    items = [Item("a.avi", 0), Item("b.avi", 0), Item("gone.avi", 1), Item("d.avi", 1)]
    kept = resolver.resolve("val.txt", "lists/val.txt", items)
    assert kept == [Item("c0/a.avi", 0), Item("c0/b.avi", 0)]
    resolver.finish(tmp_path / "missing.json")
    summary = json.loads((tmp_path / "missing.json").read_text())["lists"]["val.txt"]
    assert (summary["lines"], summary["kept"], summary["missing"], summary["quarantined"]) == (4, 2, 1, 1)
    assert [e["path"] for e in summary["examples"]] == ["gone.avi", "d.avi"]
    with open(tmp_path / "missing.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["list"], r["path"], r["status"]) for r in rows] == [
        ("val.txt", "gone.avi", "missing"),
        ("val.txt", "d.avi", "quarantined"),
    ]
    assert "truncated" in rows[1]["reason"]


def test_more_missing_than_allowed_fails_naming_the_list_and_count(tmp_path):
    resolver = ListResolver("raw", ["a.avi"], max_missing_fraction=0.0)
    resolver.resolve("train.txt", "lists/train.txt", [Item("a.avi", 0)])
    resolver.resolve("val.txt", "lists/val.txt", [Item("a.avi", 0), Item("b.avi", 0)])
    with pytest.raises(MissingVideosLimitError, match=r"val\.txt \(lists/val\.txt\): 1 of 2 lines") as err:
        resolver.finish(tmp_path / "missing.json")
    assert "train.txt" not in str(err.value)
    assert (tmp_path / "missing.csv").read_text().count("b.avi") == 1  # written before failing


@needs_official
def test_every_official_path_style_resolves_onto_real_layouts():
    """HMDB/UCF bare names in class folders, Kinetics clips in split/class folders or flat, re-encoded."""
    hmdb = read_list(B2N / "hmdb_splits" / "base_val.txt")[:50]
    ucf = read_list(B2N / "ucf_splits" / "novel_val.txt")[:50]
    k400 = read_list(B2N / "k400_splits" / "fs_base_s1_train.txt")[:50]
    ssv2 = read_list(B2N / "ssv2_splits" / "base_val.txt")[:50]
    hmdb_names = read_labels(OFFICIAL / "labels" / "hmdb_51_base_labels.csv")
    expected = {it.path: f"{hmdb_names[it.label].replace(' ', '_')}/{it.path}" for it in hmdb}
    expected |= {it.path: f"UCF-101/{it.path.split('_')[1]}/{it.path}" for it in ucf}
    expected |= {it.path: f"train/class{it.label}/{it.path[6:]}" for it in k400[:25]}
    expected |= {it.path: it.path[6:].replace(".mp4", ".mkv") for it in k400[25:]}
    expected |= {it.path: it.path for it in ssv2}
    index = VideoIndex(expected.values())
    assert {path: index.match(path)[0] for path in expected} == expected


def _hmdb_raw_copy(root, drop=()):
    """Empty placeholders for every video of the official HMDB base-to-novel lists, in `<class>/<file>`."""
    keys = set()
    for part, lists in (
        ("base", ("base_val", "fs_base_s1_train", "fs_base_s2_train")),
        ("novel", ("novel_val",)),
    ):
        names = read_labels(OFFICIAL / "labels" / f"hmdb_51_{part}_labels.csv")
        for name in lists:
            keys |= {
                f"{names[it.label].replace(' ', '_')}/{it.path}"
                for it in read_list(B2N / "hmdb_splits" / f"{name}.txt")
            }
    for key in sorted(keys - set(drop)):
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).touch()
    return keys


@needs_official
def test_the_splits_stage_writes_official_lists_with_frame_store_keys(tmp_path):
    novel = read_list(B2N / "hmdb_splits" / "novel_val.txt")
    novel_names = read_labels(OFFICIAL / "labels" / "hmdb_51_novel_labels.csv")
    gone = [f"{novel_names[it.label].replace(' ', '_')}/{it.path}" for it in novel[:2]]
    keys = _hmdb_raw_copy(tmp_path / "videos", drop=gone)
    base_key = f"pour/{read_list(B2N / 'hmdb_splits' / 'base_val.txt')[0].path}"
    (tmp_path / "q.csv").write_text(f"video,reason\n{base_key},no frames decoded\n")
    args = [
        "--official",
        str(OFFICIAL),
        "--dataset",
        "hmdb51",
        "--seeds",
        "1",
        "2",
        "--videos",
        str(tmp_path / "videos"),
    ]
    args += ["--quarantine", str(tmp_path / "q.csv")]
    with pytest.raises(MissingVideosLimitError, match=r"novel_val\.txt \(.*\): 2 of 750 lines"):
        splits_main([*args, "--out-dir", str(tmp_path / "strict")])
    assert not (tmp_path / "strict" / "novel_val.txt").exists()
    assert not (tmp_path / "strict" / "base_labels.csv").exists()

    splits_main([*args, "--out-dir", str(tmp_path / "b2n"), "--max-missing-fraction", "0.01"])
    out = tmp_path / "b2n"
    novel_kept = read_list(out / "novel_val.txt", 25)
    assert len(novel_kept) == 748 and not {it.path for it in novel_kept} & set(gone)
    base_kept = read_list(out / "base_val.txt", 26)
    assert len(base_kept) == 779 and base_key not in {it.path for it in base_kept}
    assert {it.path for it in novel_kept + base_kept} <= keys
    report = json.loads((out / "missing_videos.json").read_text())["lists"]
    assert (report["novel_val.txt"]["missing"], report["base_val.txt"]["quarantined"]) == (2, 1)
    assert report["fs_base_s1_train.txt"]["matched_by"] == {"name": 416}


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--quarantine", "q.csv"], "--quarantine and --max-missing-fraction need --videos"),
        (
            ["--videos", "v", "--max-missing-fraction", "5"],
            r"--max-missing-fraction must be in \[0, 1\], got 5",
        ),
    ],
)
def test_resolution_options_are_checked_before_any_work(capsys, extra, error):
    with pytest.raises(SystemExit):
        splits_main(["--official", "x", "--dataset", "hmdb51", "--seeds", "1", "--out-dir", "o", *extra])
    assert re.search(error, capsys.readouterr().err)
