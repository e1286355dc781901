"""Frame shards: extraction round trip, frame subsampling, atomic writes, quarantine CSV and limit, awkward file
names, random access, and the clip dataset. Decoding correctness per codec family is in test_codecs.py."""

from __future__ import annotations

import csv
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torchvision.io

from vifi.data.frames import decode, extract
from vifi.data.frames.dataset import ClipDataset, MissingVideosError
from vifi.data.frames.decode import decode_video, resize_short_side
from vifi.data.frames.extract import QuarantineWarning, extract_shard, kept_frame_numbers, shard_keys
from vifi.data.frames.quarantine import Quarantine, QuarantineLimitError, check_quarantine, write_quarantine
from vifi.data.frames.sampling import test_indices as centre_indices
from vifi.data.frames.sampling import train_indices
from vifi.data.frames.shards import HEADER, MAGIC, ShardFormatError, list_videos, read_index, write_manifest
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import EvalTransform, TrainTransform
from vifi.data.lists.annotations import Item
from vifi.stages import extract as extract_stage
from vifi.stages.quarantine import main as quarantine_main

HEIGHT, WIDTH, FRAMES = 48, 64, 16


def make_video(path: Path, frames: int = FRAMES, seed: int = 0) -> None:
    """Write a small H.264 video whose frames differ (moving square, shifting colours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(frames):
            img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            img[..., 0] = (xx * 4 + i * 10 + seed * 40) % 256
            img[..., 1] = (yy * 5 + seed * 20) % 256
            img[..., 2] = (i * 15) % 256
            x0 = (4 * i) % (WIDTH - 12)
            img[8 + i : 20 + i, x0 : x0 + 12] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def pyav_decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "a" / "v0.mp4", seed=0)
    make_video(root / "a" / "v1.MP4", seed=1)
    make_video(root / "b" / "v2.mp4", frames=5, seed=2)
    (root / "b" / "notes.txt").write_text("not a video")
    (root / "b" / ".hidden.mp4").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def raw_shard(video_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("frames") / "raw.vff"
    extract_shard(video_root, list_videos(video_root), out, short_side=HEIGHT, codec="raw", progress=False)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def json_index_shard(shard: Path, out: Path, fmt: int, edit: Callable[[dict], None] | None = None) -> Path:
    """`shard`'s frames under a JSON index of format `fmt`, as shards before the binary tables (format 3) held
    it, after `edit` changed that index in place."""
    index, payload_start = read_index(shard)
    index = {**index, "format": fmt, "videos": {k: {**v} for k, v in index["videos"].items()}}
    del index["frames"]
    if edit:
        edit(index)
    raw = json.dumps(index).encode()
    out.write_bytes(HEADER.pack(MAGIC, len(raw)) + raw + shard.read_bytes()[payload_start:])
    return out


def test_list_videos_filters_and_sorts(video_root: Path) -> None:
    assert list_videos(video_root) == ["a/v0.mp4", "a/v1.MP4", "b/v2.mp4"]


def test_decode_video_matches_pyav(video_root: Path) -> None:
    frames = decode_video(video_root / "a" / "v0.mp4")
    assert frames.dtype == np.uint8 and frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(frames, pyav_decode(video_root / "a" / "v0.mp4"))


def test_chunked_decode_matches_whole_decode(video_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = decode_video(video_root / "a" / "v0.mp4", short_side=36)
    assert whole.shape == (FRAMES, 36, 48, 3)
    monkeypatch.setattr(decode, "DECODE_CHUNK", 5)
    np.testing.assert_array_equal(decode_video(video_root / "a" / "v0.mp4", short_side=36), whole)
    np.testing.assert_array_equal(
        decode_video(video_root / "a" / "v0.mp4"), pyav_decode(video_root / "a/v0.mp4")
    )


def test_decode_error_names_file_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(decode.VideoDecodeError, match=r"bad\.mp4: unreadable: InvalidDataError") as info:
        decode_video(bad)
    assert info.value.reason.startswith("unreadable: ") and "bad.mp4" not in info.value.reason


def test_resize_short_side_keeps_aspect_and_antialiases() -> None:
    frames = np.zeros((2, 45, 60, 3), np.uint8)
    frames[:, ::2, ::2] = frames[:, 1::2, 1::2] = 255  # one-pixel checkerboard
    assert resize_short_side(frames, 45) is frames
    small = resize_short_side(frames, 15)  # without antialiasing, 1/3 scale would pick single pixels
    assert small.shape == (2, 15, 20, 3) and small.dtype == np.uint8
    # averaged, not aliased: every output pixel is close to mid grey
    assert np.abs(small.astype(int) - 128).max() < 10


def test_raw_round_trip_is_bit_exact(video_root: Path, raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    assert sorted(store.keys()) == list_videos(video_root) and len(store) == 3
    for key in list_videos(video_root):
        expected = pyav_decode(video_root / key)
        assert store.num_frames(key) == len(expected)
        np.testing.assert_array_equal(store.read(key, range(len(expected))), expected)


def test_random_access_equals_rows_of_full_read(raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    full = store.read("a/v1.MP4", range(FRAMES))
    indices = [15, 3, 3, 0, 7]
    np.testing.assert_array_equal(store.read("a/v1.MP4", indices), full[indices])
    with pytest.raises(IndexError):
        store.read("a/v1.MP4", [FRAMES])


def test_jpeg_reads_in_the_order_asked_without_and_with_repeats(video_root: Path, tmp_path: Path) -> None:
    """A read of increasing indices returns the decoded frames without a reordering copy; any other order, with
    or without repeats, still comes back in the order asked."""
    extract_shard(video_root, ["a/v1.MP4"], tmp_path / "j.vff", short_side=HEIGHT, progress=False)
    store = FrameStore([tmp_path / "j.vff"])
    full = store.read("a/v1.MP4", range(FRAMES))
    assert full.flags.c_contiguous
    for indices in ([15, 3, 0, 7], [15, 3, 3, 0, 7], [0, 3, 7, 15]):
        np.testing.assert_array_equal(store.read("a/v1.MP4", indices), full[indices])


def test_jpeg_round_trip_psnr_and_resize(video_root: Path, tmp_path: Path) -> None:
    keys = ["a/v0.mp4"]
    extract_shard(video_root, keys, tmp_path / "q.vff", short_side=HEIGHT, quality=90, progress=False)
    store = FrameStore([tmp_path / "q.vff"])
    assert psnr(store.read("a/v0.mp4", range(FRAMES)), pyav_decode(video_root / "a/v0.mp4")) > 30

    summary = extract_shard(video_root, keys, tmp_path / "s.vff", short_side=36, progress=False)
    assert summary["videos"] == 1 and summary["frames"] == FRAMES
    assert FrameStore([tmp_path / "s.vff"]).read("a/v0.mp4", [0]).shape == (1, 36, 48, 3)


@pytest.mark.parametrize(("short_side", "quality"), [(HEIGHT, 90), (37, 90), (HEIGHT, 50), (37, 100)])
def test_jpeg_frames_read_as_torchvision_decodes_them(
    video_root: Path, tmp_path: Path, short_side: int, quality: int
) -> None:
    """The store decodes with simplejpeg for speed; its pixels must be those of torchvision's `decode_jpeg` on
    the same bytes, at even and odd frame sizes and at low, usual and full quality."""
    extract_shard(
        video_root, ["a/v0.mp4"], tmp_path / "j.vff", short_side=short_side, quality=quality, progress=False
    )
    frames = decode_video(video_root / "a/v0.mp4", short_side=short_side)
    encoded = torchvision.io.encode_jpeg(list(torch.from_numpy(frames).permute(0, 3, 1, 2)), quality=quality)
    expected = np.stack([torchvision.io.decode_jpeg(blob).permute(1, 2, 0).numpy() for blob in encoded])
    read = FrameStore([tmp_path / "j.vff"]).read("a/v0.mp4", range(FRAMES))
    assert read.shape == (FRAMES, short_side, frames.shape[2], 3)
    np.testing.assert_array_equal(read, expected)


def test_a_frame_that_does_not_decode_is_named(video_root: Path, tmp_path: Path) -> None:
    extract_shard(video_root, ["b/v2.mp4"], tmp_path / "j.vff", short_side=HEIGHT, progress=False)
    damaged = bytearray((tmp_path / "j.vff").read_bytes())
    damaged[-40:] = bytes(40)  # the last frame's entropy-coded data and its end marker
    (tmp_path / "j.vff").write_bytes(damaged)
    store = FrameStore([tmp_path / "j.vff"])
    assert store.read("b/v2.mp4", [0]).shape == (1, HEIGHT, WIDTH, 3)
    with pytest.raises(ShardFormatError, match=r"b/v2\.mp4: frame 4 does not decode"):
        store.read("b/v2.mp4", [0, 4])


def test_a_frame_of_another_size_than_its_index_says_is_named(video_root: Path, tmp_path: Path) -> None:
    """Decoded into a buffer of the indexed size, a smaller frame would fill it row-misaligned and unnoticed."""
    extract_shard(video_root, ["b/v2.mp4"], tmp_path / "j.vff", short_side=HEIGHT, progress=False)

    def taller(index: dict) -> None:
        index["videos"]["b/v2.mp4"]["height"] = HEIGHT + 8

    tall = json_index_shard(tmp_path / "j.vff", tmp_path / "tall.vff", 2, taller)
    with pytest.raises(ShardFormatError, match=rf"b/v2\.mp4: frame 0 is \({HEIGHT}, {WIDTH}\), the index says"):
        FrameStore([tall]).read("b/v2.mp4", [0])


def test_failed_encoding_leaves_no_file(
    video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(frames: np.ndarray, codec: str, quality: int) -> list[bytes]:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return [f.tobytes() for f in frames]

    monkeypatch.setattr(extract, "_encode_frames", failing)
    out = tmp_path / "shard.vff"
    with pytest.raises(OSError, match="disk full"):
        extract_shard(video_root, list_videos(video_root), out, short_side=HEIGHT, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_video_is_quarantined(video_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "videos"
    make_video(root / "good.mp4")
    (root / "empty.mp4").write_bytes(b"")
    (root / "garbage.avi").write_bytes(b"not a video" * 50)
    with pytest.warns(QuarantineWarning) as record:
        summary = extract_shard(root, list_videos(root), tmp_path / "s.vff", short_side=HEIGHT, progress=False)
    warned = " ".join(str(w.message) for w in record)
    assert "empty.mp4" in warned and "garbage.avi" in warned
    assert summary["videos"] == 1 and summary["failed"] == 2
    store = FrameStore([tmp_path / "s.vff"])
    assert store.keys() == ["good.mp4"] and set(store.failed) == {"empty.mp4", "garbage.avi"}
    with pytest.raises(KeyError, match=r"empty\.mp4.*quarantined"):
        store.read("empty.mp4", [0])
    with pytest.raises(KeyError, match=r"other\.mp4.*never extracted"):
        store.num_frames("other.mp4")


@pytest.fixture
def quarantined_shards(tmp_path: Path) -> list[Path]:
    """Two shards of six videos, two of them broken (one with a comma and quotes in its name)."""
    root = tmp_path / "videos"
    for i in range(4):
        make_video(root / f"ok{i}.mp4", frames=4, seed=i)
    (root / "zero.mp4").write_bytes(b"")
    (root / 'text, "quoted".mp4').write_text("not a video")
    keys = list_videos(root)
    shards = [tmp_path / f"shard-{i}.bin" for i in range(2)]
    with pytest.warns(QuarantineWarning):
        for i, shard in enumerate(shards):
            extract_shard(root, shard_keys(keys, i, 2), shard, short_side=HEIGHT, codec="raw", progress=False)
    return shards


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_write_quarantine_merges_shards_into_a_sorted_csv(
    quarantined_shards: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "frames" / "quarantine.csv"
    quarantine = write_quarantine(quarantined_shards, out)
    assert quarantine.total == 6 and quarantine.fraction == pytest.approx(2 / 6)
    rows = read_csv(out)
    assert rows[0] == ["video", "reason"]
    assert [row[0] for row in rows[1:]] == ['text, "quoted".mp4', "zero.mp4"]
    assert dict(rows[1:]) == quarantine.failed
    assert rows[1][1].startswith("unreadable: ") and rows[2][1] == "empty file (0 bytes)"
    assert [p.name for p in out.parent.iterdir()] == ["quarantine.csv"]  # no temporary file left behind


def test_write_quarantine_writes_a_header_when_nothing_failed(raw_shard: Path, tmp_path: Path) -> None:
    quarantine = write_quarantine([raw_shard], tmp_path / "q.csv")
    assert quarantine == Quarantine({}, 3) and read_csv(tmp_path / "q.csv") == [["video", "reason"]]


def test_write_quarantine_rejects_a_video_in_two_shards(quarantined_shards: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"in two shards: .*shard-0\.bin and .*shard-0\.bin"):
        write_quarantine([quarantined_shards[0], quarantined_shards[0]], tmp_path / "q.csv")


def test_check_quarantine_names_count_fraction_and_threshold() -> None:
    quarantine = Quarantine({"b.mp4": "no frames decoded", "a.mp4": "empty file (0 bytes)"}, total=40)
    check_quarantine(quarantine, 0.05)  # exactly at the threshold passes
    check_quarantine(Quarantine({}, 0), 0.0)
    message = (
        r"2 of 40 videos were quarantined \(fraction 0\.0500\), more than the threshold 0\.0400: a\.mp4: empty"
    )
    with pytest.raises(QuarantineLimitError, match=message):
        check_quarantine(quarantine, 0.04)
    many = Quarantine({f"{i:02d}.mp4": "no frames decoded" for i in range(12)}, total=12)
    with pytest.raises(QuarantineLimitError, match=r"09\.mp4: no frames decoded; and 2 more$"):
        check_quarantine(many, 0.5)
    with pytest.raises(ValueError, match="max_fraction"):
        check_quarantine(quarantine, 1.5)


def test_quarantine_cli_writes_csv_then_applies_the_limit(
    quarantined_shards: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "quarantine.csv"
    argv = ["--shards", *map(str, quarantined_shards), "--out", str(out)]
    assert quarantine_main([*argv, "--max-fraction", "0.4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["quarantined"] == 2 and summary["total"] == 6 and summary["max_fraction"] == 0.4
    out.unlink()
    with pytest.raises(QuarantineLimitError, match=r"2 of 6 videos"):
        quarantine_main([*argv, "--max-fraction", "0.3"])
    assert len(read_csv(out)) == 3  # written before the check, so the log and the CSV agree


def test_quarantine_cli_writes_the_manifest_only_when_the_check_passes(
    quarantined_shards: list[Path], tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    argv = [
        "--shards",
        *map(str, quarantined_shards),
        "--out",
        str(tmp_path / "q.csv"),
        "--manifest",
        str(manifest),
    ]
    with pytest.raises(QuarantineLimitError):
        quarantine_main([*argv, "--max-fraction", "0.3"])
    assert not manifest.exists()
    assert quarantine_main([*argv, "--max-fraction", "0.4"]) == 0
    assert FrameStore([manifest]).failed == FrameStore(quarantined_shards).failed


def test_manifest_opens_the_same_store_and_names_shards_relative_to_itself(
    video_root: Path, tmp_path: Path
) -> None:
    keys = list_videos(video_root)
    parts = [tmp_path / "frames" / f"shard-{i}.bin" for i in range(2)]
    for i, part in enumerate(parts):
        extract_shard(video_root, shard_keys(keys, i, 2), part, short_side=HEIGHT, progress=False)
    manifest = write_manifest(parts, tmp_path / "frames" / "manifest.json")
    assert [entry["file"] for entry in manifest["shards"]] == ["shard-0.bin", "shard-1.bin"]
    moved = tmp_path / "moved"
    (tmp_path / "frames").rename(moved)  # relative names: the store can move as a folder
    store = FrameStore([moved / "manifest.json"])
    assert store.keys() == keys
    assert np.array_equal(
        store.read("a/v0.mp4", [0, 3]), FrameStore(list(moved.glob("shard-*"))).read("a/v0.mp4", [0, 3])
    )


def test_manifest_changes_exactly_when_a_shard_does(video_root: Path, tmp_path: Path) -> None:
    """Snakemake reruns frame readers when the manifest's content changes, so it must track shard content."""
    shard, out = tmp_path / "s.bin", tmp_path / "m.json"
    extract_shard(video_root, ["a/v0.mp4"], shard, short_side=HEIGHT, progress=False)
    write_manifest([shard], out)
    first = out.read_bytes()
    extract_shard(video_root, ["a/v0.mp4"], shard, short_side=HEIGHT, progress=False)
    write_manifest([shard], out)
    assert out.read_bytes() == first  # the same extraction again: nothing downstream reruns
    extract_shard(video_root, ["a/v0.mp4"], shard, short_side=HEIGHT, quality=50, progress=False)
    write_manifest([shard], out)
    assert out.read_bytes() != first


def test_stale_or_missing_shard_in_a_manifest_is_named(video_root: Path, tmp_path: Path) -> None:
    shard = tmp_path / "s.bin"
    extract_shard(video_root, ["a/v0.mp4"], shard, short_side=HEIGHT, progress=False)
    write_manifest([shard], tmp_path / "m.json")
    extract_shard(video_root, ["a/v0.mp4", "a/v1.MP4"], shard, short_side=HEIGHT, progress=False)
    with pytest.raises(ShardFormatError, match=r"s\.bin has \d+ bytes.*m\.json records"):
        FrameStore([tmp_path / "m.json"])
    shard.unlink()
    with pytest.raises(ShardFormatError, match=r"s\.bin is missing"):
        FrameStore([tmp_path / "m.json"])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ShardFormatError, match=r"bad\.json: not a frame-store manifest"):
        FrameStore([tmp_path / "bad.json"])


AWKWARD_NAMES = [
    "with space.mp4",
    "paren (1).mp4",
    "plus+bang!.mkv",
    "ünïcödé 日本.mp4",
    "-leading dash.mp4",
    "colon:name.mp4",
    "-dir (x)/+a b!.mp4",
]


def test_awkward_file_names_work_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spaces, parentheses, +, !, non-ASCII, a leading - and a colon: listed, extracted, read and reported.

    The video root is `.`, so FFmpeg would see the bare name `colon:name.mp4` and take `colon:` for a protocol.
    """
    root = tmp_path / "raw (v) -x" / "vidéos"
    for i, name in enumerate(AWKWARD_NAMES):
        make_video(root / name, frames=4, seed=i)
    broken = '-broken, "it\'s" ü!.mp4'
    (root / broken).write_text("not a video")
    monkeypatch.chdir(root)
    assert list_videos(".") == sorted([*AWKWARD_NAMES, broken])
    shards = [tmp_path / f"shard {i}.bin" for i in range(2)]
    common = ["--videos", ".", "--num-shards", "2", "--short-side", str(HEIGHT), "--codec", "raw"]
    with pytest.warns(QuarantineWarning, match="broken"):
        for i, shard in enumerate(shards):
            assert extract_stage.main([*common, "--shard", str(i), "--out", str(shard)]) == 0
    store = FrameStore(shards)
    assert store.keys() == sorted(AWKWARD_NAMES) and list(store.failed) == [broken]
    for name in AWKWARD_NAMES:
        np.testing.assert_array_equal(store.read(name, range(4)), pyav_decode(root / name))
    out = tmp_path / "quarantine.csv"
    assert quarantine_main(["--shards", *map(str, shards), "--out", str(out), "--max-fraction", "0.2"]) == 0
    assert [row[0] for row in read_csv(out)[1:]] == [broken]


def test_shards_merge_and_duplicates_raise(video_root: Path, tmp_path: Path) -> None:
    keys = list_videos(video_root)
    parts = [tmp_path / f"{i}.vff" for i in range(2)]
    for i, part in enumerate(parts):
        extract_shard(video_root, shard_keys(keys, i, 2), part, short_side=HEIGHT, progress=False)
    assert FrameStore(parts).keys() == keys
    extract_shard(video_root, ["b/v2.mp4"], tmp_path / "dup.vff", short_side=HEIGHT, progress=False)
    with pytest.raises(ValueError, match=r"b/v2\.mp4.*0\.vff.*dup\.vff"):
        FrameStore([*parts, tmp_path / "dup.vff"])


def test_shard_keys_stride_and_validation() -> None:
    keys = [str(i) for i in range(7)]
    assert shard_keys(keys, 1, 3) == ["1", "4"]
    assert sorted(k for i in range(3) for k in shard_keys(keys, i, 3)) == sorted(keys)
    for shard, num in [(3, 3), (-1, 3), (0, 0)]:
        with pytest.raises(ValueError):
            shard_keys(keys, shard, num)


def test_not_a_shard_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.vff").write_bytes(b"NOTASHARD" * 4)
    with pytest.raises(ShardFormatError, match=r"x\.vff"):
        FrameStore([tmp_path / "x.vff"])


def test_shard_cut_inside_its_index_tables_is_rejected_by_name(raw_shard: Path, tmp_path: Path) -> None:
    _, payload_start = read_index(raw_shard)
    (tmp_path / "cut.vff").write_bytes(raw_shard.read_bytes()[: payload_start - 5])
    with pytest.raises(ShardFormatError, match=r"cut\.vff: truncated index tables"):
        FrameStore([tmp_path / "cut.vff"])


def test_store_pickles_and_reads_after_unpickling(raw_shard: Path) -> None:
    """A loader worker gets the store without its memory-mapped frame tables and maps them itself: the pickle
    stays small whatever the store's size (here 48 frames' tables, 384 bytes, must not be in it)."""
    store = FrameStore([raw_shard])
    before = store.read("a/v0.mp4", [2, 9])
    data = pickle.dumps(store)
    sizes = store._frame_tables(0)[0]
    assert isinstance(sizes, np.memmap) and sizes.tobytes() not in data
    clone = pickle.loads(data)
    np.testing.assert_array_equal(clone.read("a/v0.mp4", [2, 9]), before)
    assert clone.kept_frames("a/v0.mp4").tolist() == store.kept_frames("a/v0.mp4").tolist()


def test_cli_extracts_one_shard(video_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.vff"
    argv = ["--videos", str(video_root), "--shard", "1", "--num-shards", "2", "--short-side", "24"]
    assert extract_stage.main([*argv, "--codec", "raw", "--out", str(out)]) == 0
    assert '"videos": 1' in capsys.readouterr().out
    store = FrameStore([out])
    assert store.keys() == ["a/v1.MP4"]
    assert store.read("a/v1.MP4", [0]).shape == (1, 24, 32, 3)


def test_dataset_returns_clips_and_labels(raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    items = [Item("a/v0.mp4", 0), Item("a/v1.MP4", 1), Item("b/v2.mp4", 2)]
    for transform, train in [(TrainTransform(32), True), (EvalTransform(32), False)]:
        dataset = ClipDataset(store, items, num_frames=8, transform=transform, train=train)
        assert len(dataset) == 3
        for i, item in enumerate(items):
            clip, label = dataset[i]
            assert clip.shape == (8, 3, 32, 32) and clip.dtype == torch.float32
            assert label == item.label
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=1)
    clips, labels = next(iter(loader))
    assert clips.shape == (2, 8, 3, 32, 32) and labels.tolist() == [0, 1]


def test_dataset_samples_train_and_test_indices(raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    items = [Item("a/v0.mp4", 0)]
    identity = torch.from_numpy
    clip, _ = ClipDataset(store, items, 4, identity, train=False)[0]
    np.testing.assert_array_equal(clip.numpy(), store.read("a/v0.mp4", centre_indices(FRAMES, 4)))
    train = ClipDataset(store, items, 4, identity, train=True)
    torch.manual_seed(1)
    expected = store.read("a/v0.mp4", train_indices(FRAMES, 4))
    torch.manual_seed(1)
    np.testing.assert_array_equal(train[0][0].numpy(), expected)
    assert not all(torch.equal(train[0][0], train[0][0]) for _ in range(10))


def test_seeded_dataset_draws_touch_only_the_cpu_generator(
    raw_shard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seeded item must not reseed CUDA: `fork_rng(devices=[])` would not restore it (and queuing the seed
    on a CPU host costs a stack trace per video)."""
    store = FrameStore([raw_shard])
    dataset = ClipDataset(store, [Item("a/v0.mp4", 0)], 4, TrainTransform(32), train=True, seed=3)
    first = dataset[0][0]
    reseeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(seed))
    before = torch.get_rng_state()
    assert torch.equal(dataset[0][0], first)  # the same stream for the same (seed, epoch, item)
    assert torch.equal(torch.get_rng_state(), before)
    assert reseeded == []
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0][0], first)


def test_dataset_names_missing_videos(raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    items = [Item("a/v0.mp4", 0)] + [Item(f"gone/{i}.mp4", 1) for i in range(12)]
    with pytest.raises(MissingVideosError, match=r"12 video\(s\) listed in val1\.txt") as info:
        ClipDataset(store, items, 8, EvalTransform(32), train=False, source="val1.txt")
    message = str(info.value)
    assert "gone/0.mp4" in message and "gone/9.mp4" in message and "gone/10.mp4" not in message
    assert "2 more" in message


def test_kept_frames_are_the_segment_centres() -> None:
    assert kept_frame_numbers(16, 5) == [1, 4, 8, 11, 14]
    for n, m in [(300, 16), (300, 32), (301, 7), (17, 16), (1000, 3)]:
        assert kept_frame_numbers(n, m) == centre_indices(n, m)  # test-time picks for T = M are kept exactly
    assert (
        kept_frame_numbers(5, 5) == kept_frame_numbers(5, 8) == kept_frame_numbers(5, None) == [0, 1, 2, 3, 4]
    )


@pytest.fixture(scope="module")
def subsampled_raw(video_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("frames") / "raw-m5.vff"
    keys = list_videos(video_root)
    summary = extract_shard(
        video_root, keys, out, short_side=HEIGHT, codec="raw", frames_per_video=5, progress=False
    )
    return out, summary


def test_subsampled_read_returns_the_nearest_kept_source_frame(
    raw_shard: Path, subsampled_raw: tuple[Path, dict]
) -> None:
    full, sub = FrameStore([raw_shard]), FrameStore([subsampled_raw[0]])
    kept = [1, 4, 8, 11, 14]
    assert sub.num_frames("a/v0.mp4") == FRAMES and sub.kept_frames("a/v0.mp4").tolist() == kept
    nearest = [min(kept, key=lambda k: (abs(k - i), k)) for i in range(FRAMES)]
    assert nearest[6] == 4 and nearest[15] == 14  # a tie goes to the earlier frame; past the last, the last
    for key in ["a/v0.mp4", "a/v1.MP4"]:
        np.testing.assert_array_equal(sub.read(key, range(FRAMES)), full.read(key, nearest))
        np.testing.assert_array_equal(sub.read(key, [9, 0, 9]), full.read(key, [8, 1, 8]))
    with pytest.raises(IndexError, match=r"0\.\.15"):
        sub.read("a/v0.mp4", [FRAMES])


def test_videos_with_at_most_m_frames_keep_every_frame(
    raw_shard: Path, subsampled_raw: tuple[Path, dict]
) -> None:
    full, sub = FrameStore([raw_shard]), FrameStore([subsampled_raw[0]])
    assert sub.num_frames("b/v2.mp4") == 5 and sub.kept_frames("b/v2.mp4").tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(sub.read("b/v2.mp4", range(5)), full.read("b/v2.mp4", range(5)))


def test_subsampled_index_round_trip(subsampled_raw: tuple[Path, dict]) -> None:
    path, summary = subsampled_raw
    index, _ = read_index(path)
    assert index["format"] == 3 and index["frames_per_video"] == 5
    video = index["videos"]["a/v0.mp4"]
    assert video["frames"] == FRAMES and video["kept"] == [1, 4, 8, 11, 14]
    assert video["sizes"] == [HEIGHT * WIDTH * 3] * 5
    assert summary["frames"] == 2 * FRAMES + 5 and summary["kept_frames"] == 15
    assert summary["payload_bytes"] == 15 * HEIGHT * WIDTH * 3


def test_json_formats_1_and_2_are_read_and_unknown_formats_rejected(raw_shard: Path, tmp_path: Path) -> None:
    """Shards written before the binary tables (format 3) hold every video's numbers in the JSON index; format 1
    also lacks `kept` and `frames_per_video`. Both read as the same store."""

    def format_1(index: dict) -> None:
        del index["frames_per_video"]
        for video in index["videos"].values():
            del video["kept"]

    def rewrite(name: str, fmt: int) -> Path:
        return json_index_shard(raw_shard, tmp_path / name, fmt, format_1 if fmt == 1 else None)

    new = FrameStore([raw_shard])
    for fmt in (1, 2):
        old = FrameStore([rewrite(f"v{fmt}.vff", fmt)])
        assert old.keys() == new.keys()
        assert old.num_frames("a/v0.mp4") == FRAMES
        assert old.kept_frames("a/v0.mp4").tolist() == list(range(FRAMES))
        np.testing.assert_array_equal(old.read("a/v0.mp4", [3, 15]), new.read("a/v0.mp4", [3, 15]))
    with pytest.raises(ShardFormatError, match=r"v9\.vff: unsupported shard \(format 9"):
        FrameStore([rewrite("v9.vff", 9)])


def test_subsampled_jpeg_shard_is_smaller_with_the_same_frames(video_root: Path, tmp_path: Path) -> None:
    keys = ["a/v0.mp4", "a/v1.MP4"]
    every = extract_shard(video_root, keys, tmp_path / "all.vff", short_side=HEIGHT, progress=False)
    some = extract_shard(
        video_root, keys, tmp_path / "m4.vff", short_side=HEIGHT, frames_per_video=4, progress=False
    )
    assert some["file_bytes"] < 0.4 * every["file_bytes"]  # 4 of 16 frames, plus the headers
    full, sub = FrameStore([tmp_path / "all.vff"]), FrameStore([tmp_path / "m4.vff"])
    kept = sub.kept_frames("a/v1.MP4")
    assert kept.tolist() == [2, 6, 10, 14]
    np.testing.assert_array_equal(sub.read("a/v1.MP4", kept), full.read("a/v1.MP4", kept))  # same JPEG bytes


@pytest.mark.parametrize("bad", ["0", "-3", "two"])
def test_cli_rejects_invalid_frames_per_video(
    video_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    argv = ["--videos", str(video_root), "--shard", "0", "--num-shards", "1", "--short-side", "24"]
    with pytest.raises(SystemExit):
        extract_stage.main([*argv, "--frames-per-video", bad, "--out", str(tmp_path / "x.vff")])
    err = capsys.readouterr().err
    assert "argument --frames-per-video:" in err
    assert (
        ("is below the minimum 1" in err)
        if bad.lstrip("-").isdigit()
        else (f"'{bad}' is not an integer" in err)
    )
    assert not (tmp_path / "x.vff").exists()
    with pytest.raises(ValueError, match="frames_per_video must be >= 1"):
        extract_shard(video_root, ["b/v2.mp4"], tmp_path / "y.vff", short_side=24, frames_per_video=0)


def test_cli_subsamples(video_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.vff"
    argv = ["--videos", str(video_root), "--shard", "0", "--num-shards", "1", "--short-side", "24"]
    assert extract_stage.main([*argv, "--frames-per-video", "3", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["kept_frames"] == 9
    assert FrameStore([out]).kept_frames("a/v0.mp4").tolist() == [2, 8, 13]
