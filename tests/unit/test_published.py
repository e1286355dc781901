"""`tests.published`: the RAR writer checked by the project's RAR reader, and each dataset packaged as its
publisher serves it, then installed by `vifi download --manual-dir` (no network) back into the same tree.

The dataset folders are tiny copies of the real layouts with videos in the real codecs and hand-written
annotation files in the publishers' formats, including the odd files real data has: Kinetics' zero-byte and
truncated downloads, a portrait clip and YouTube ids that begin with `-`, SSv2's 427x240 (odd width) and a
width of 85, a truncated HMDB-51 video, names with brackets and spaces.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests import published
from tests.published import package, rar_bytes, write_rar
from vifi.data.acquire.archives import extract
from vifi.data.acquire.registry import parse_registry
from vifi.data.synthetic.encode import write_video
from vifi.stages import download as download_stage

BASE = "https://127.0.0.1:8443/published"  # never contacted: every file is found in the manual directory


def clip(seed: int, height: int = 32, width: int = 48, frames: int = 6) -> np.ndarray:
    """A few frames of a drifting gradient with noise; different per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 4 % 256, yy * 6 % 256, np.full_like(xx, 40 * seed % 256)], -1)
    return np.stack([(base + 7 * i + rng.integers(0, 20, base.shape)) % 256 for i in range(frames)]).astype(
        np.uint8
    )


def video(path: Path, seed: int, **size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, clip(seed, **size), 12)


def truncated(path: Path, seed: int) -> None:
    video(path, seed)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode())


def ucf101(root: Path) -> None:
    videos = root / "videos" / "UCF-101"
    for c, name in enumerate(["ApplyEyeMakeup", "YoYo"]):
        for g in (1, 8):
            video(videos / name / f"v_{name}_g{g:02d}_c01.avi", 10 * c + g)
    lists = root / "ucfTrainTestlist"
    text(lists / "classInd.txt", "1 ApplyEyeMakeup\r\n2 YoYo\r\n")
    train = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1", "YoYo/v_YoYo_g08_c01.avi 2"]
    text(lists / "trainlist01.txt", "".join(f"{line}\r\n" for line in train))
    text(lists / "testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nYoYo/v_YoYo_g01_c01.avi\r\n")


def hmdb51(root: Path) -> None:
    names = {
        "brush_hair": [
            "April_09_brush_hair_u_nm_np1_ba_goo_0",
            "Trailer_(Ostrich!)_[HD]_brush_hair_f_cm_np1_le_1",
        ],
        "kick_ball": ["Goal_kick_ball_f_cm_np1_ri_med_0", "Goal 2_kick_ball_f_cm_np1_ri_med_1"],
    }
    for c, (name, stems) in enumerate(names.items()):
        video(root / "videos" / name / f"{stems[0]}.avi", c, height=40, width=54 + 8 * c)
        truncated(root / "videos" / name / f"{stems[1]}.avi", c + 5)
        text(
            root / "testTrainMulti_7030_splits" / f"{name}_test_split1.txt",
            f"{stems[0]}.avi 1 \n{stems[1]}.avi 2 \n",
        )


def kinetics(root: Path, files: dict[str, str], splits: tuple[str, ...]) -> None:
    """Clips `<youtube id>_<start>_<end>.mp4`, some ids beginning with `-`; a portrait, an empty, a cut one."""
    ids = {"train": ["-abcdEFGH_1", "zz9_Yx8-W7v", "--startdash"], "val": ["val0_ABCDEF", "-val1_abcde"]}
    ids["test"] = ["test0_ABCDE"]
    ids["replacement"] = ["replacedAAA"]
    for s, split in enumerate(splits):
        for i, yt in enumerate(ids[split]):
            path = root / "videos" / split / f"{yt}_{10 * i:06d}_{10 * i + 10:06d}.mp4"
            video(path, 10 * s + i, **({"height": 48, "width": 32} if (split, i) == ("train", 1) else {}))
    truncated(root / "videos" / "train" / f"--startdash_{20:06d}_{30:06d}.mp4", 99)
    if "val" in splits:
        (root / "videos" / "val" / f"-val1_abcde_{10:06d}_{20:06d}.mp4").write_bytes(b"")  # a failed download
    for name, content in files.items():
        text(root / "annotations" / name, content)


K400_FILES = {
    "train.csv": "label,youtube_id,time_start,time_end,split,is_cc\nabseiling,-abcdEFGH_1,0,10,train,0\n",
    "val.csv": "label,youtube_id,time_start,time_end,split,is_cc\nabseiling,val0_ABCDEF,0,10,val,0\n",
    "test.csv": "youtube_id,time_start,time_end,split\ntest0_ABCDE,0,10,test\n",
}
K600_FILES = {
    "train.txt": "label,youtube_id,time_start,time_end,split\nabseiling,-abcdEFGH_1,0,10,train\n",
    "val.txt": "label,youtube_id,time_start,time_end,split\nabseiling,val0_ABCDEF,0,10,val\n",
    "test.csv": "youtube_id,time_start,time_end,split\ntest0_ABCDE,0,10,test\n",
}


def ssv2(root: Path) -> None:
    videos = root / "videos" / "20bn-something-something-v2"
    video(videos / "1.webm", 1, height=240, width=427)
    video(videos / "22.webm", 2, height=48, width=85)
    truncated(videos / "333.webm", 3)
    labels = {"Holding something": "0", "Putting something, something and something on the table": "1"}
    entry = {"id": "1", "label": "holding a pen", "template": "Holding [something]", "placeholders": ["a pen"]}
    for name, content in [("labels", labels), ("train", [entry]), ("validation", []), ("test", [{"id": "22"}])]:
        text(root / "labels" / f"{name}.json", json.dumps(content, indent=1))


BUILDERS = {
    "ucf101": ucf101,
    "hmdb51": hmdb51,
    "kinetics400": lambda root: kinetics(root, K400_FILES, ("train", "val", "replacement")),
    "kinetics600": lambda root: kinetics(root, K600_FILES, ("train", "val", "test")),
    "ssv2": ssv2,
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    for key, build in BUILDERS.items():
        build(root / key)
    return root


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def install(key: str, served_root: Path, served: dict[str, Path], parts: int, work: Path) -> Path:
    """`vifi download --dataset KEY --manual-dir` with the test registry: checks, extracts, publishes."""
    registry = work / "registry.yaml"
    registry.write_text(yaml.safe_dump(published.test_registry(BASE, served, parts)))
    argv = ["--dataset", key, "--registry", str(registry), "--manual-dir", str(served_root / key)]
    assert download_stage.main([*argv, "--out", str(work / "raw" / key), "--cache", str(work / "cache")]) == 0
    assert not (work / "cache").exists() or not any((work / "cache").rglob("*"))  # nothing was downloaded
    return work / "raw" / key


SERVED = {
    "ucf101": ["UCF101.rar", "UCF101TrainTestSplits-RecognitionTask.zip"],
    "hmdb51": ["hmdb51_org.rar", "test_train_splits.rar"],
    "kinetics400": [
        *("train/k400_train_path.txt", "train/part_0.tar.gz", "train/part_1.tar.gz"),
        *("val/k400_val_path.txt", "val/part_0.tar.gz", "val/part_1.tar.gz"),
        *(
            "replacement_for_corrupted_k400.tgz",
            "annotations/train.csv",
            "annotations/val.csv",
            "annotations/test.csv",
        ),
    ],
    "kinetics600": [
        *("train/k600_train_path.txt", "train/part_0.tar.gz", "train/part_1.tar.gz"),
        *("val/k600_val_path.txt", "val/part_0.tar.gz", "val/part_1.tar.gz"),
        *("test/k600_test_path.txt", "test/part_0.tar.gz"),
        *("annotations/train.txt", "annotations/val.txt", "annotations/test.csv"),
    ],
    "ssv2": [
        "20bn-something-something-download-package-labels.zip",
        *(f"20bn-something-something-v2-{i:02d}" for i in range(2)),
    ],
}


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_a_packaged_dataset_installs_back_into_the_same_tree(datasets: Path, tmp_path: Path, key: str) -> None:
    served = package(key, datasets / key, tmp_path / "served", BASE, parts=2)
    assert served == {f"{key}/{name}": tmp_path / "served" / key / name for name in SERVED[key]}
    out = install(key, tmp_path / "served", served, 2, tmp_path)
    assert files(out) == files(datasets / key)


def test_ssv2_parts_wrapped_in_zips_as_qualcomm_ships_them(datasets: Path, tmp_path: Path) -> None:
    served = package("ssv2", datasets / "ssv2", tmp_path / "served", BASE, parts=4, zip_parts=True)
    assert sorted(served)[1:] == [f"ssv2/20bn-something-something-v2-{i:02d}.zip" for i in range(4)]
    assert files(install("ssv2", tmp_path / "served", served, 4, tmp_path)) == files(datasets / "ssv2")


def test_ssv2_parts_are_cut_to_one_size_like_split(datasets: Path, tmp_path: Path) -> None:
    served = package("ssv2", datasets / "ssv2", tmp_path / "served", BASE, parts=5)
    sizes = [served[f"ssv2/20bn-something-something-v2-{i:02d}"].stat().st_size for i in range(5)]
    assert len(set(sizes[:4])) == 1 and 0 < sizes[4] <= sizes[0]


def test_kinetics_url_lists_name_their_parts_under_the_base_url(datasets: Path, tmp_path: Path) -> None:
    served = package("kinetics400", datasets / "kinetics400", tmp_path, BASE + "/", parts=5)
    listing = served["kinetics400/train/k400_train_path.txt"].read_text()
    assert listing == "".join(f"{BASE}/kinetics400/train/part_{i}.tar.gz\n" for i in range(3))  # 3 clips
    held = [
        sorted(
            p.name for p in extract(served[f"kinetics400/train/part_{i}.tar.gz"], tmp_path / str(i)).iterdir()
        )
        for i in range(3)
    ]
    assert held == [
        ["--startdash_000020_000030.mp4"],
        ["-abcdEFGH_1_000000_000010.mp4"],
        ["zz9_Yx8-W7v_000010_000020.mp4"],
    ]


def test_hmdb51_is_a_rar_of_per_class_rars(datasets: Path, tmp_path: Path) -> None:
    served = package("hmdb51", datasets / "hmdb51", tmp_path / "served", BASE)
    outer = extract(served["hmdb51/hmdb51_org.rar"], tmp_path / "outer")
    assert sorted(p.name for p in outer.iterdir()) == ["brush_hair.rar", "kick_ball.rar"]
    inner = extract(outer / "kick_ball.rar", tmp_path / "inner")
    assert sorted(p.relative_to(inner).as_posix() for p in inner.rglob("*")) == [
        "kick_ball",
        "kick_ball/Goal 2_kick_ball_f_cm_np1_ri_med_1.avi",
        "kick_ball/Goal_kick_ball_f_cm_np1_ri_med_0.avi",
    ]


def test_packaging_is_deterministic(datasets: Path, tmp_path: Path) -> None:
    first = package("kinetics600", datasets / "kinetics600", tmp_path / "a", BASE)
    second = package("kinetics600", datasets / "kinetics600", tmp_path / "b", BASE)
    assert [p.read_bytes() for p in first.values()] == [p.read_bytes() for p in second.values()]


def test_a_file_no_published_archive_holds_is_refused(datasets: Path, tmp_path: Path) -> None:
    root = tmp_path / "ucf101"
    ucf101(root)
    (root / "labels.csv").write_text("id,name\n")
    with pytest.raises(
        ValueError, match=r"ucf101/labels\.csv: no file the publisher of ucf101 serves holds it"
    ):
        package("ucf101", root, tmp_path / "served", BASE)


def test_a_missing_annotation_file_is_named(tmp_path: Path) -> None:
    kinetics(tmp_path / "k", {"train.csv": K400_FILES["train.csv"]}, ("train",))
    with pytest.raises(
        ValueError, match=r"k/annotations/val\.csv: missing; the registry's kinetics400 serves it"
    ):
        package("kinetics400", tmp_path / "k", tmp_path / "served", BASE)


def test_the_registry_changes_only_urls_checksums_and_the_part_count(datasets: Path, tmp_path: Path) -> None:
    served = {
        **package("ucf101", datasets / "ucf101", tmp_path, BASE),
        **package("hmdb51", datasets / "hmdb51", tmp_path, BASE),
    }
    raw = published.test_registry(BASE, served, 3)
    packaged = yaml.safe_load(resources.files("vifi.data.acquire").joinpath("registry.yaml").read_text())

    def digest(kind: str, name: str) -> str:
        return hashlib.new(kind, served[name].read_bytes()).hexdigest()

    ucf, hmdb, ssv2_files = (raw["datasets"][k]["files"] for k in ("ucf101", "hmdb51", "ssv2"))
    assert ucf[0]["url"] == f"{BASE}/ucf101/UCF101.rar" and ucf[0]["sha256"] == digest(
        "sha256", "ucf101/UCF101.rar"
    )
    assert hmdb[1]["md5"] == digest("md5", "hmdb51/test_train_splits.rar")
    k400 = raw["datasets"]["kinetics400"]["files"]
    assert k400[0]["url"] == f"{BASE}/kinetics400/train/k400_train_path.txt" and k400[0].get("sha256") is None
    assert ssv2_files[1]["parts"] == 3 and ssv2_files[1]["url"] is None
    assert raw["weights"]["ViT-B-16"]["url"] == f"{BASE}/weights/ViT-B-16.pt"
    assert raw["weights"]["ViT-B-16"]["sha256"] == packaged["weights"]["ViT-B-16"]["sha256"]  # not served
    assert strip(raw) == strip(packaged)
    assert parse_registry(raw).dataset("ssv2").access == "manual"


def strip(node: Any) -> Any:
    """The document without the keys `test_registry` may change."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in ("url", "sha256", "md5", "parts")}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def test_registry_is_not_collected_as_a_test() -> None:
    assert published.test_registry.__test__ is False


# --- the RAR writer -----------------------------------------------------------------------------------------


def test_rar_blocks_match_the_bytes_winrar_writes() -> None:
    """The archive header and end block of every RAR 4.x archive are fixed bytes, CRCs included."""
    data = rar_bytes([])
    assert data == bytes.fromhex("526172211a0700" + "cf907300000d00000000000000" + "c43d7b00400700")


def test_rar_file_header_fields() -> None:
    data = rar_bytes([("a/b", b"123456789")])
    head = data[20:]
    crc, kind, flags, size = struct.unpack("<HBHH", head[:7])
    packed, unpacked, host, file_crc, _, version, method, name_size, attr = struct.unpack(
        "<IIBIIBBHI", head[7:32]
    )
    assert (kind, flags, size, name_size, head[32:35]) == (0x74, 0x8000, 35, 3, b"a\\b")
    assert crc == zlib.crc32(head[2:35]) & 0xFFFF
    assert (packed, unpacked, host, version, method, attr) == (9, 9, 2, 20, 0x30, 0x20)
    assert file_crc == 0xCBF43926  # the CRC-32 check value of b"123456789"
    assert head[35:44] == b"123456789"


def test_rar_extracts_with_the_projects_reader(tmp_path: Path) -> None:
    members = [
        ("UCF-101", None),
        ("UCF-101/YoYo", None),
        ("UCF-101/YoYo/v_YoYo_g01_c01.avi", bytes(range(256)) * 300),
        ("UCF-101/YoYo/empty (0 bytes).avi", b""),
        ("notes [v2]!.txt", b"x"),
    ]
    out = extract(write_rar(tmp_path / "a.rar", members), tmp_path / "out")
    assert {p.relative_to(out).as_posix(): p.is_dir() or p.read_bytes() for p in out.rglob("*")} == {
        "UCF-101": True,
        "UCF-101/YoYo": True,
        "UCF-101/YoYo/v_YoYo_g01_c01.avi": bytes(range(256)) * 300,
        "UCF-101/YoYo/empty (0 bytes).avi": b"",
        "notes [v2]!.txt": b"x",
    }


def test_rar_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="only ASCII member names"):
        rar_bytes([("café.avi", b"")])
