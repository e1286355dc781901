"""Bad inputs end to end: broken and odd videos through extraction, the store and the clip dataset, and
malformed or unusual split and label files.

Every bad video must be quarantined with a reason that names its problem, every good one must read back exactly
as PyAV decodes it (resized), and extraction itself must never raise on a video.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.unit.test_codecs import source_frames, write_video
from tests.unit.test_framestore import pyav_decode, read_csv
from vifi.data.frames.dataset import ClipDataset, MissingVideosError
from vifi.data.frames.decode import resize_short_side
from vifi.data.frames.extract import QuarantineWarning, extract_shard
from vifi.data.frames.quarantine import write_quarantine
from vifi.data.frames.shards import list_videos
from vifi.data.frames.store import FrameStore, MissingVideoError
from vifi.data.lists.annotations import AnnotationError, Item, read_labels, read_list, write_labels

HEIGHT, WIDTH, SHORT_SIDE, RATE = 32, 48, 32, 8

# Quarantined videos and the reason each must get.
BAD = {
    "zero bytes.mp4": r"empty file \(0 bytes\)",
    "text renamed.mp4": r"unreadable: InvalidDataError: Invalid data found when processing input",
    "audio only.mp4": r"no video stream \(streams: audio\)",
    # The moov atom is written last by default, so the first third has no index: FFmpeg refuses to open it.
    "truncated moov last.mp4": r"unreadable: InvalidDataError: Invalid data found when processing input",
    # With the index first, demuxing starts and stops at the packet cut off by the end of the file.
    "truncated faststart.mp4": r"truncated: incomplete packet after \d+ frames",
    "truncated.mkv": r"incomplete: decoded \d+ of the 48 frames its header declares \(truncated or corrupt\)",
}

# Readable videos: source frame count and the (height, width) after resizing to the short side.
GOOD = {
    "one frame.mp4": (1, (32, 48)),
    "three frames.mp4": (3, (32, 48)),
    "large 1080x1920.mp4": (3, (32, 57)),
    "variable rate.mp4": (6, (32, 48)),
    "ünïcödé 日本.mp4": (4, (32, 48)),
    "with space.mp4": (4, (32, 48)),
    "paren (1).mp4": (4, (32, 48)),
    "plus+bang!.mp4": (4, (32, 48)),
    "-leading dash.mp4": (4, (32, 48)),
}


def write_faststart(path: Path, frames: np.ndarray) -> None:
    """H.264 MP4 with its index (moov) before the media data, as streaming-friendly downloads are."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def write_audio_only(path: Path) -> None:
    """An MP4 holding one AAC stream and nothing else."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def keep_first_third(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 3])
    src.unlink()


def make_videos(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "zero bytes.mp4").write_bytes(b"")
    (root / "text renamed.mp4").write_text("id,name\n0,not a video\n" * 20)
    write_audio_only(root / "audio only.mp4")
    write_video(root / "full.mp4", "libx264", source_frames(48, HEIGHT, WIDTH), RATE)
    keep_first_third(root / "full.mp4", root / "truncated moov last.mp4")
    write_faststart(root / "full.mp4", source_frames(48, HEIGHT, WIDTH))
    keep_first_third(root / "full.mp4", root / "truncated faststart.mp4")
    write_video(root / "full.mkv", "libx264", source_frames(48, HEIGHT, WIDTH), RATE)
    keep_first_third(root / "full.mkv", root / "truncated.mkv")
    write_video(root / "one frame.mp4", "libx264", source_frames(1, HEIGHT, WIDTH), RATE)
    write_video(root / "three frames.mp4", "libx264", source_frames(3, HEIGHT, WIDTH), RATE)
    write_video(root / "large 1080x1920.mp4", "libx264", source_frames(3, 1080, 1920), RATE)
    pts_ms = [0, 40, 200, 230, 700, 720]  # gaps from 20 ms to 470 ms
    write_video(root / "variable rate.mp4", "libx264", source_frames(6, HEIGHT, WIDTH), 25, pts_ms=pts_ms)
    for seed, name in enumerate(list(GOOD)[4:]):
        write_video(root / name, "libx264", source_frames(4, HEIGHT, WIDTH, seed), RATE)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every video above in one raw shard (raw, so reads compare bit for bit), and its quarantine CSV."""
    tmp = tmp_path_factory.mktemp("bad inputs")
    root = tmp / "videos"
    make_videos(root)
    shard = tmp / "shard.bin"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = extract_shard(
            root, list_videos(root), shard, short_side=SHORT_SIDE, codec="raw", progress=False
        )
    quarantine = write_quarantine([shard], tmp / "quarantine.csv")
    return {
        "root": root,
        "summary": summary,
        "store": FrameStore([shard]),
        "warned": [str(w.message) for w in record if issubclass(w.category, QuarantineWarning)],
        "csv": dict(read_csv(tmp / "quarantine.csv")[1:]),
        "quarantine": quarantine,
    }


def test_extraction_keeps_the_good_and_quarantines_the_bad(extracted: dict) -> None:
    summary = extracted["summary"]
    assert set(summary["failures"]) == set(BAD)
    assert summary["videos"] == len(GOOD) and summary["frames"] == sum(n for n, _ in GOOD.values())
    assert sorted(extracted["store"].keys()) == sorted(GOOD)
    assert extracted["quarantine"].total == len(GOOD) + len(BAD)
    assert sorted(extracted["warned"]) == sorted(
        f"quarantined {name}: {summary['failures'][name]}" for name in BAD
    )


@pytest.mark.parametrize("name", list(BAD))
def test_bad_video_is_quarantined_with_its_reason(extracted: dict, name: str) -> None:
    store = extracted["store"]
    assert re.fullmatch(BAD[name], store.failed[name])
    assert extracted["csv"][name] == store.failed[name]
    assert name not in store
    with pytest.raises(MissingVideoError, match=rf"{re.escape(repr(name))} was quarantined at extraction: "):
        store.read(name, [0])


@pytest.mark.parametrize("name", list(GOOD))
def test_good_video_reads_back_every_frame(extracted: dict, name: str) -> None:
    store = extracted["store"]
    frames, (height, width) = GOOD[name]
    assert store.num_frames(name) == frames
    got = store.read(name, range(frames))
    assert got.shape == (frames, height, width, 3)
    np.testing.assert_array_equal(got, resize_short_side(pyav_decode(extracted["root"] / name), SHORT_SIDE))


@pytest.mark.parametrize(
    ("name", "train", "expected"),
    [
        ("one frame.mp4", True, [0] * 8),
        ("one frame.mp4", False, [0] * 8),
        # round(i * 3 / 8) mod 3, as mmaction's looping SampleFrames: the last index wraps to frame 0.
        ("three frames.mp4", True, [0, 0, 1, 1, 2, 2, 2, 0]),
        ("three frames.mp4", False, [0, 0, 0, 1, 1, 2, 2, 2]),
    ],
)
def test_short_video_gives_a_full_clip_of_repeated_frames(
    extracted: dict, name: str, train: bool, expected: list[int]
) -> None:
    store = extracted["store"]
    dataset = ClipDataset(store, [Item(name, 2)], 8, lambda f: torch.from_numpy(f.copy()), train=train, seed=0)
    clip, label = dataset[0]
    assert label == 2 and clip.shape == (8, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(clip.numpy(), store.read(name, range(store.num_frames(name)))[expected])


def test_split_line_naming_a_missing_video_fails_the_dataset(extracted: dict, tmp_path: Path) -> None:
    split = tmp_path / "val1.txt"
    split.write_text("with space.mp4 0\nnot there (2).mp4 1\naudio only.mp4 1\n")
    items = read_list(split, num_classes=3)
    message = (
        rf"2 video\(s\) listed in {re.escape(str(split))} are not in the frame store \(1 shard\(s\)\):\n"
        r"  not there \(2\)\.mp4\n  audio only\.mp4 \(quarantined: no video stream \(streams: audio\)\)$"
    )
    with pytest.raises(MissingVideosError, match=message):
        ClipDataset(extracted["store"], items, 8, torch.from_numpy, train=False, source=str(split))


def test_unknown_label_id_names_file_and_line(tmp_path: Path) -> None:
    split = tmp_path / "train1.txt"
    split.write_text("a.mp4 0\nb.mp4 2\nc d.mp4 3\n")
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(split))}:3: label 3 outside 0\.\.2$"):
        read_list(split, num_classes=3)
    split.write_text("a.mp4 0\nb.mp4 -1\n")
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(split))}:2: label -1 outside"):
        read_list(split)


def test_duplicate_split_lines_are_kept(tmp_path: Path) -> None:
    """read_list keeps repeated lines, even with conflicting labels: a repeated video is listed twice."""
    split = tmp_path / "train1.txt"
    split.write_text("a.mp4 0\nb.mp4 1\na.mp4 0\nb.mp4 2\n")
    assert read_list(split, num_classes=3) == [
        Item("a.mp4", 0),
        Item("b.mp4", 1),
        Item("a.mp4", 0),
        Item("b.mp4", 2),
    ]


def test_label_names_with_quoted_commas_round_trip(tmp_path: Path) -> None:
    names = [
        "Approaching something with your camera",
        "Putting something, something and something on the table",
        'Pretending to "open" something, without opening it',
        "Moving [something] and [something] away from each other",
    ]
    path = tmp_path / "labels.csv"
    write_labels(path, names)
    assert path.read_text().splitlines()[2] == '1,"Putting something, something and something on the table"'
    assert read_labels(path) == names
    path.write_text('id,name\n0,"Holding something, over something"\n1,"Pretending to ""open"" something"\n')
    assert read_labels(path) == ["Holding something, over something", 'Pretending to "open" something']


def test_crlf_label_and_split_files_parse_like_lf(tmp_path: Path) -> None:
    labels, split = tmp_path / "labels.csv", tmp_path / "test1.txt"
    labels.write_bytes(b'\xef\xbb\xbfid,name\r\n0,brush_hair\r\n1,"Putting something, on something"\r\n')
    split.write_bytes(b"brush_hair/a b.avi 0\r\n\r\nclass/x.avi 1\r\n")
    assert read_labels(labels) == ["brush_hair", "Putting something, on something"]
    assert read_list(split, num_classes=2) == [Item("brush_hair/a b.avi", 0), Item("class/x.avi", 1)]
