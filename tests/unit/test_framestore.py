"""Frame shards: extraction round trip, atomic writes, quarantine, random access, and the clip dataset."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vifi.data import framestore
from vifi.data.annotations import Item
from vifi.data.dataset import ClipDataset, MissingVideosError
from vifi.data.framestore import (
    FrameStore,
    QuarantineWarning,
    decode_video,
    extract_shard,
    list_videos,
    resize_short_side,
    shard_keys,
)
from vifi.data.sampling import test_indices as centre_indices
from vifi.data.sampling import train_indices
from vifi.data.transforms import EvalTransform, TrainTransform

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


def test_list_videos_filters_and_sorts(video_root: Path) -> None:
    assert list_videos(video_root) == ["a/v0.mp4", "a/v1.MP4", "b/v2.mp4"]


def test_decode_video_matches_pyav(video_root: Path) -> None:
    frames = decode_video(video_root / "a" / "v0.mp4")
    assert frames.dtype == np.uint8 and frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(frames, pyav_decode(video_root / "a" / "v0.mp4"))


def test_decode_video_falls_back_to_pyav(video_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path) -> Iterator[np.ndarray]:
        yield np.zeros((1, HEIGHT, WIDTH, 3), np.uint8)
        raise RuntimeError("decord is broken")

    monkeypatch.setattr(framestore, "_decord_chunks", broken)
    monkeypatch.setattr(framestore, "DECODE_CHUNK", 5)
    frames = decode_video(video_root / "a" / "v0.mp4")
    np.testing.assert_array_equal(frames, pyav_decode(video_root / "a" / "v0.mp4"))


def test_chunked_decode_matches_whole_decode(video_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = decode_video(video_root / "a" / "v0.mp4", short_side=36)
    assert whole.shape == (FRAMES, 36, 48, 3)
    monkeypatch.setattr(framestore, "DECODE_CHUNK", 5)
    np.testing.assert_array_equal(decode_video(video_root / "a" / "v0.mp4", short_side=36), whole)
    np.testing.assert_array_equal(
        decode_video(video_root / "a" / "v0.mp4"), pyav_decode(video_root / "a/v0.mp4")
    )


def test_decode_error_names_file_and_both_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(framestore.VideoDecodeError, match=r"bad\.mp4.*decord.*PyAV"):
        decode_video(bad)


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


def test_jpeg_round_trip_psnr_and_resize(video_root: Path, tmp_path: Path) -> None:
    keys = ["a/v0.mp4"]
    extract_shard(video_root, keys, tmp_path / "q.vff", short_side=HEIGHT, quality=90, progress=False)
    store = FrameStore([tmp_path / "q.vff"])
    assert psnr(store.read("a/v0.mp4", range(FRAMES)), pyav_decode(video_root / "a/v0.mp4")) > 30

    summary = extract_shard(video_root, keys, tmp_path / "s.vff", short_side=36, progress=False)
    assert summary["videos"] == 1 and summary["frames"] == FRAMES
    assert FrameStore([tmp_path / "s.vff"]).read("a/v0.mp4", [0]).shape == (1, 36, 48, 3)


def test_failed_encoding_leaves_no_file(
    video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(frames: np.ndarray, codec: str, quality: int) -> list[bytes]:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return [f.tobytes() for f in frames]

    monkeypatch.setattr(framestore, "_encode_frames", failing)
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
    with pytest.raises(framestore.ShardFormatError, match=r"x\.vff"):
        FrameStore([tmp_path / "x.vff"])


def test_store_pickles_and_reads_after_unpickling(raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    before = store.read("a/v0.mp4", [2, 9])
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.read("a/v0.mp4", [2, 9]), before)


def test_cli_extracts_one_shard(video_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.vff"
    argv = ["--videos", str(video_root), "--shard", "1", "--num-shards", "2", "--short-side", "24"]
    assert framestore.main([*argv, "--codec", "raw", "--out", str(out)]) == 0
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


def test_dataset_names_missing_videos(raw_shard: Path) -> None:
    store = FrameStore([raw_shard])
    items = [Item("a/v0.mp4", 0)] + [Item(f"gone/{i}.mp4", 1) for i in range(12)]
    with pytest.raises(MissingVideosError, match=r"12 video\(s\) listed in val1\.txt") as info:
        ClipDataset(store, items, 8, EvalTransform(32), train=False, source="val1.txt")
    message = str(info.value)
    assert "gone/0.mp4" in message and "gone/9.mp4" in message and "gone/10.mp4" not in message
    assert "2 more" in message
