"""Decode every video once into a compact shard file that the data loader reads with random access.

The official code decodes each video again in every epoch. Here `extract_shard` decodes a list of videos once,
resizes them to a fixed short side, encodes each frame on its own and writes one shard file. `FrameStore` then
reads any subset of frames of any video with one `pread` per frame and decodes only those frames.

`--frames-per-video M` keeps only M frames of each video, the centres of M equal segments
(`kept_frame_numbers`), because all frames do not fit a storage budget: a 10 s 30 fps clip at short side 256
is about 7 MB as JPEG q90 (24 KB a frame), so Kinetics-400 (240k videos) would take about 1.7 TB, and M = 16
about 90 GB (`benchmarks/extract_storage.py`). The store still answers in source frame numbers: `num_frames`
is the source count and `read` returns, for each requested frame, the nearest kept one. The samplers
(`vifi.data.sampling`) and their METHODS.md semantics are therefore unchanged; they only see fewer distinct
frames.

Decoding is PyAV's sequential decode for every container and codec (`iter_frames` says why). A video that
cannot be decoded completely (unreadable, empty, truncated, no video stream, no frames) is quarantined, never
dropped silently: its shard records the reason, and `write_quarantine` merges a dataset's shards into
`quarantine.csv`, while `check_quarantine` stops a run whose quarantined fraction exceeds a threshold.

Shard file layout (one file, so that `atomic_path` can publish it in one rename):

    b"VIFIFRM1"                      8 bytes, magic and layout version
    index length L                   8 bytes, unsigned little-endian
    index                            L bytes, UTF-8 JSON (below)
    tables                           binary, little-endian (below)
    payload                          encoded frames, concatenated

Index fields:

    format        3 (formats 1 and 2, which hold every video's numbers in the JSON, are still read)
    codec         "jpeg" (torchvision `encode_jpeg`) or "raw" (H*W*3 RGB bytes, row-major)
    quality       JPEG quality (recorded for raw shards too, where it is unused)
    short_side    the short side every video was resized to
    frames_per_video   M, or null where every frame was kept
    videos        the keys, in table order
    frames        stored frames in the shard (the frame tables' length F)
    failed        {key: reason} for quarantined videos; reasons do not contain the path

Tables (`vifi.data.shards.Tables`): an int64 row per video (payload offset, source frame count, height, width,
stored frames), then F uint32 frame sizes in bytes, then F uint32 source frame numbers of the stored frames,
each video's frames after the previous video's, increasing. `offset` counts from the start of the payload
(byte 16 + L + the tables); stored frame j of a video starts at offset + the sizes of its frames before j. A
Kinetics-400 index (240k videos of 300 frames, 0.6 GB) thus opens without parsing a number per frame, and its
frame tables are memory-mapped rather than held by each loader worker (`benchmarks/store_scale.py`).

Keys are video paths relative to the video root, in POSIX form; they are the paths of the split lists.

The index, the manifest and the quarantine bookkeeping, which need no decoder, are in `vifi.data.shards`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import av
import numpy as np
import torch
import torchvision.io

from vifi.argtypes import int_at_least
from vifi.data.shards import (
    CODECS,
    HEADER,
    MAGIC,
    ShardFormatError,
    encode_tables,
    list_videos,
    read_tables,
    shard_paths,
)
from vifi.data.transforms import rescaled_shape, resize_clip, to_clip_tensor
from vifi.io import atomic_path
from vifi.progress import progress_bar

FORMAT = 3
DECODE_CHUNK = 32
# Extraction runs one process per shard, so one decoder thread per process uses the cores the scheduler gave it;
# FFmpeg's automatic threading oversubscribes them: H.264 and VP9 decoding were up to 4x slower on shared cores.
DECODE_THREADS = 1
TRUNCATION_TOLERANCE = 0.05


class VideoDecodeError(RuntimeError):
    """A video cannot be decoded into a complete frame sequence; `reason` says why without naming the file."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"cannot decode {path}: {reason}")
        self.reason = reason


class QuarantineWarning(UserWarning):
    """A video could not be decoded at extraction and was recorded under `failed` instead."""


class MissingVideoError(KeyError):
    """A video is not in the store; the message says whether it was quarantined or never extracted."""

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and escapes included.
        return str(self.args[0])


def iter_frames(path: str | os.PathLike[str], short_side: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video in display order as uint8 `(n, H, W, 3)` RGB chunks of at most `DECODE_CHUNK` frames.

    PyAV's sequential decode is the one decoder for every family the datasets use (XviD/DivX AVI, H.264
    MP4/MKV, VP9 WebM): decord's random access returns wrong frames on AVIs with B-frames, its threaded VP9
    decoding is reported to fail, and for a full sequential decode it is no faster than single-threaded PyAV.
    Frames come in the decoder's output order, which is the display order. They are not re-sorted by pts,
    because packed B-frame AVIs (DivX) carry pts in packet order (1, 3, 2, 5, 4, ...) and sorting would swap
    their frames.

    Chunks bound memory for long full-resolution videos. A file that cannot yield a complete frame sequence
    raises `VideoDecodeError`, possibly after some chunks were yielded (a file can turn out truncated only at
    its end), so a consumer that writes chunks as they arrive must discard them on that error.
    """
    path = Path(path)
    with _open_video(path) as container:
        stream = _video_stream(container, path)
        stream.codec_context.thread_count = DECODE_THREADS
        declared = _declared_frames(container, stream)
        decoded = 0
        for chunk in _rgb_chunks(container, stream, path):
            decoded += len(chunk)
            yield chunk if short_side is None else resize_short_side(chunk, short_side)
    _check_complete(path, decoded, declared)


def decode_video(path: str | os.PathLike[str], short_side: int | None = None) -> np.ndarray:
    """All frames of a video as one uint8 `(N, H, W, 3)` RGB array, optionally resized to `short_side`."""
    return np.concatenate(list(iter_frames(path, short_side)))


def _open_video(path: Path) -> av.container.InputContainer:
    """Open a video for reading, turning every way a file can be unreadable into a `VideoDecodeError`.

    The absolute path keeps FFmpeg from taking a `name:` prefix (`clip:1.mp4` under root `.`) for a protocol.
    Metadata is decoded leniently because PyAV decodes it eagerly at open, and old Windows tools wrote AVI
    tags in Latin-1, which strict UTF-8 decoding turns into a crash.
    """
    try:
        if path.stat().st_size == 0:
            raise VideoDecodeError(path, "empty file (0 bytes)")
        return av.open(str(path.absolute()), metadata_errors="replace")
    except (OSError, av.error.FFmpegError) as err:
        raise VideoDecodeError(path, f"unreadable: {_describe(err)}") from err


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(stream.type for stream in container.streams) or "none"
        raise VideoDecodeError(path, f"no video stream (streams: {kinds})")
    return container.streams.video[0]


def _declared_frames(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """The frame count the file's headers promise, or None where they promise nothing.

    An AVI header keeps its exact frame count when the file is cut short (the index at the end is lost with the
    tail). MP4 frame counts include samples an edit list hides (stream-copied trims, common in Kinetics), so MP4
    and Matroska/WebM use the edit-aware stream duration, or the container duration, times the frame rate.
    """
    if container.format.name == "avi":
        return stream.frames or None
    if stream.duration is not None:
        seconds = stream.duration * stream.time_base
    elif container.duration is not None:
        seconds = Fraction(container.duration, av.time_base)
    else:
        return None
    rate = stream.average_rate or stream.guessed_rate
    return round(seconds * rate) if rate else None


def _rgb_chunks(
    container: av.container.InputContainer, stream: av.VideoStream, path: Path
) -> Iterator[np.ndarray]:
    """Demux and decode sequentially into RGB chunks; corrupt packets and decoder errors raise.

    Every frame is converted at the first frame's size, so a stream that changes resolution midway (allowed in
    VP9 and H.264) still gives one array shape per video.
    """
    chunk: list[np.ndarray] = []
    done, size = 0, None
    try:
        for packet in container.demux(stream):
            if packet.is_corrupt:  # FFmpeg marks a packet cut off by the end of the file
                raise VideoDecodeError(path, f"truncated: incomplete packet after {done + len(chunk)} frames")
            for frame in packet.decode():
                size = size or (frame.width, frame.height)
                chunk.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                if len(chunk) == DECODE_CHUNK:
                    done += len(chunk)
                    yield np.stack(chunk)
                    chunk = []
    except av.error.FFmpegError as err:
        reason = f"decode error after {done + len(chunk)} frames: {_describe(err)}"
        raise VideoDecodeError(path, reason) from err
    if chunk:
        yield np.stack(chunk)


def _check_complete(path: Path, decoded: int, declared: int | None) -> None:
    """Reject a decode that produced no frames, or clearly fewer than the headers declare.

    A shortfall is how truncated AVI and WebM files show (their demuxers stop quietly at the cut), and how WebM
    files with a corrupt block show (the demuxer skips to the next cluster).

    Duration-based counts are estimates (rounding, a last frame without a duration, variable frame rates), so
    only a shortfall beyond `TRUNCATION_TOLERANCE` of the declared count, and at least 2 frames, counts.
    """
    if decoded == 0:
        raise VideoDecodeError(path, "no frames decoded")
    if declared is not None and declared - decoded > max(2, TRUNCATION_TOLERANCE * declared):
        shortfall = f"decoded {decoded} of the {declared} frames its header declares"
        raise VideoDecodeError(path, f"incomplete: {shortfall} (truncated or corrupt)")


def _describe(err: BaseException) -> str:
    """Error type and message without the file name, so quarantine reasons do not depend on where data lives."""
    message = err.strerror if isinstance(err, av.error.FFmpegError | OSError) and err.strerror else str(err)
    return f"{type(err).__name__}: {message.strip()}"


def resize_short_side(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Resize uint8 `(N, H, W, 3)` frames so the short side is `short_side` (bilinear, antialiased).

    Antialiasing matters here because extraction usually shrinks full-resolution videos by a large factor.
    """
    height, width = rescaled_shape(frames.shape[1], frames.shape[2], short_side)
    if (height, width) == frames.shape[1:3]:
        return frames
    clip = resize_clip(to_clip_tensor(frames), height, width, antialias=True)
    return np.ascontiguousarray(clip.permute(0, 2, 3, 1).numpy())


def kept_frame_numbers(frames: int, frames_per_video: int | None) -> list[int]:
    """Source frame numbers a video of `frames` frames keeps: the centre of each of `frames_per_video` segments.

    Centres of equal segments spread the kept frames evenly, so any sampler's pick is at most half a segment
    from a kept frame, and they are exactly the test sampler's picks for T = `frames_per_video`
    (`sampling.test_indices`, here in integer arithmetic). A video with at most `frames_per_video` frames, or
    no `frames_per_video`, keeps every frame.
    """
    if frames_per_video is None or frames <= frames_per_video:
        return list(range(frames))
    return [(2 * i + 1) * frames // (2 * frames_per_video) for i in range(frames_per_video)]


def nearest_kept(kept: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Positions in the increasing `kept` of the kept frame nearest to each of `indices` (ties: the earlier).

    This is how a subsampled video answers a request for any source frame without changing the samplers.
    """
    right = np.minimum(np.searchsorted(kept, indices), len(kept) - 1)
    left = np.maximum(right - 1, 0)
    return np.where(indices - kept[left] <= kept[right] - indices, left, right)


def _encode_frames(frames: np.ndarray, codec: str, quality: int) -> list[bytes]:
    """Encode each frame on its own, so that any one frame can be read back without its neighbours."""
    if codec == "raw":
        return [frame.tobytes() for frame in frames]
    tensors = list(to_clip_tensor(frames).contiguous())
    return [t.numpy().tobytes() for t in torchvision.io.encode_jpeg(tensors, quality=quality)]


def shard_keys(keys: Sequence[str], shard: int, num_shards: int) -> list[str]:
    """Every `num_shards`-th key from `shard` on: striding balances long and short videos across shards."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"need 0 <= shard < num_shards, got shard={shard}, num_shards={num_shards}")
    return list(keys[shard::num_shards])


def _check_options(codec: str, quality: int, frames_per_video: int | None) -> None:
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if frames_per_video is not None and frames_per_video < 1:
        raise ValueError(f"frames_per_video must be >= 1 or None, got {frames_per_video}")


def _extract_into(
    spool: BinaryIO,
    video_root: Path,
    keys: Sequence[str],
    short_side: int,
    codec: str,
    quality: int,
    frames_per_video: int | None,
    progress: bool,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Decode, resize and encode `keys` into `spool`; return the per-video index entries and the failures.

    A video that fails part-way has its frames cut off the spool again, so the payload holds only the videos
    in the index.
    """
    videos: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for key in progress_bar(keys, desc="extract", unit="video", disable=not progress):
        offset = spool.tell()
        try:
            videos[key] = {
                "offset": offset,
                **_extract_video(spool, video_root / key, short_side, codec, quality, frames_per_video),
            }
        except VideoDecodeError as err:
            spool.seek(offset)
            spool.truncate()
            failed[key] = err.reason
            warnings.warn(f"quarantined {key}: {err.reason}", QuarantineWarning, stacklevel=3)
    return videos, failed


def _extract_video(
    spool: BinaryIO, path: Path, short_side: int, codec: str, quality: int, frames_per_video: int | None
) -> dict[str, Any]:
    """Write one video's encoded frames to `spool`; return its index entry less the offset."""
    if frames_per_video is None:
        return _extract_all(spool, path, short_side, codec, quality)
    return _extract_kept(spool, path, short_side, codec, quality, frames_per_video)


def _extract_all(spool: BinaryIO, path: Path, short_side: int, codec: str, quality: int) -> dict[str, Any]:
    """Encode and write every frame chunk by chunk, so memory stays bounded whatever the video's length."""
    sizes: list[int] = []
    height = width = 0
    for frames in iter_frames(path, short_side):
        encoded = _encode_frames(frames, codec, quality)
        spool.writelines(encoded)
        sizes += [len(blob) for blob in encoded]
        height, width = frames.shape[1:3]
    return {
        "sizes": sizes,
        "height": height,
        "width": width,
        "frames": len(sizes),
        "kept": list(range(len(sizes))),
    }


def _extract_kept(
    spool: BinaryIO, path: Path, short_side: int, codec: str, quality: int, frames_per_video: int
) -> dict[str, Any]:
    """Spool the resized frames raw, then encode only the kept ones in place of them.

    Which frames are kept depends on the frame count, which is known only after the last frame (headers give
    estimates). Spooling raw frames to disk keeps memory bounded by `frames_per_video` frames, and encoding only
    the kept ones saves most of the encoding time, which for all frames is about that of decoding and resizing.
    """
    start = spool.tell()
    count, shape = 0, (0, 0, 3)
    for frames in iter_frames(path, short_side):
        spool.write(frames.tobytes())
        count, shape = count + len(frames), frames.shape[1:]
    kept = kept_frame_numbers(count, frames_per_video)
    frame_bytes = int(np.prod(shape))
    encoded: list[bytes] = []
    for first in range(0, len(kept), DECODE_CHUNK):
        frames = np.stack(
            [_spooled_frame(spool, start + i * frame_bytes, shape) for i in kept[first : first + DECODE_CHUNK]]
        )
        encoded += _encode_frames(frames, codec, quality)
    spool.seek(start)
    spool.truncate()
    spool.writelines(encoded)
    sizes = [len(blob) for blob in encoded]
    return {"sizes": sizes, "height": shape[0], "width": shape[1], "frames": count, "kept": kept}


def _spooled_frame(spool: BinaryIO, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    spool.seek(offset)
    return np.frombuffer(spool.read(int(np.prod(shape))), dtype=np.uint8).reshape(shape)


def extract_shard(
    video_root: str | os.PathLike[str],
    keys: Sequence[str],
    out: str | os.PathLike[str],
    *,
    short_side: int,
    codec: str = "jpeg",
    quality: int = 90,
    frames_per_video: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode each video of `keys` once and write them as one shard file at `out`, atomically.

    `frames_per_video` keeps that many frames per video (`kept_frame_numbers`) to fit a storage budget; None
    keeps every frame.

    Videos that cannot be decoded completely are quarantined: recorded under `failed` with the reason (see
    `iter_frames`) and announced with a `QuarantineWarning`, while the rest of the shard is written; the
    summary's `failures` lists them too, and `write_quarantine` merges them into a dataset's CSV. Any other
    error leaves no file at `out`.
    Encoded frames are spooled to a temporary file next to `out` first, because the index (which precedes the
    payload) is only known at the end and a shard can be larger than memory.
    """
    _check_options(codec, quality, frames_per_video)
    if len(set(keys)) != len(keys):
        raise ValueError("extract_shard got duplicate keys")
    video_root, out = Path(video_root), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".spool") as spool:
        videos, failed = _extract_into(
            spool, video_root, keys, short_side, codec, quality, frames_per_video, progress
        )
        keys, stored, tables = encode_tables(videos)
        index = {
            "format": FORMAT,
            "codec": codec,
            "quality": quality,
            "short_side": short_side,
            "frames_per_video": frames_per_video,
            "videos": keys,
            "frames": stored,
            "failed": failed,
        }
        index_bytes = json.dumps(index, separators=(",", ":")).encode("utf-8")
        spool.seek(0)
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            fh.write(HEADER.pack(MAGIC, len(index_bytes)))
            fh.write(index_bytes)
            fh.write(tables)
            shutil.copyfileobj(spool, fh, length=1 << 22)
    return _summary(out, {**index, "videos": videos}, time.perf_counter() - start)


def _summary(out: Path, index: dict[str, Any], seconds: float) -> dict[str, Any]:
    videos = index["videos"]
    payload = sum(sum(v["sizes"]) for v in videos.values())
    return {
        "out": str(out),
        "codec": index["codec"],
        "short_side": index["short_side"],
        "videos": len(videos),
        "failed": len(index["failed"]),
        "failures": dict(index["failed"]),
        "frames": sum(v["frames"] for v in videos.values()),
        "kept_frames": sum(len(v["kept"]) for v in videos.values()),
        "payload_bytes": payload,
        "file_bytes": out.stat().st_size,
        "bytes_per_video": payload / len(videos) if videos else 0.0,
        "seconds": round(seconds, 3),
        "videos_per_second": (len(videos) + len(index["failed"])) / seconds if seconds > 0 else 0.0,
    }


class _Entry(NamedTuple):
    """Where one video lives: its shard, payload start in that file, its source frame count, the slice of the
    frame-size and kept-frame tables holding its stored frames, and their shape."""

    shard: int
    offset: int
    frames: int
    first: int
    stored: int
    height: int
    width: int


def _rows_of(shard: int, videos: np.ndarray, payload: int) -> np.ndarray:
    """A shard's `Tables.videos` as `_Entry` rows: absolute payload offsets, each video's first frame row."""
    offset, frames, height, width, stored = videos.T
    first = np.cumsum(stored) - stored
    return np.column_stack(
        [np.full(len(videos), shard), offset + payload, frames, first, stored, height, width]
    )


class FrameStore:
    """Random-access reader over one or more shards; opening reads only the indexes.

    File descriptors and format 3's memory-mapped frame tables are opened lazily and per process, so a store
    pickles into `DataLoader` workers (spawn or fork) without its tables and each worker maps its own (the pages
    are the OS's, shared). `os.pread` keeps reads independent of any file position. Per video the store holds
    one dict entry (key to row) and one row of `_videos`, so a Kinetics-size store opens in about a second.
    """

    def __init__(self, shards: Sequence[str | os.PathLike[str]]) -> None:
        self.shards = shard_paths(shards)
        self._codecs: list[str] = []
        self._rows: dict[str, int] = {}
        self._failed: dict[str, str] = {}
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._failed_in: dict[str, int] = {}
        self._first_rows: list[int] = []
        blocks = []
        for shard_id, path in enumerate(self.shards):
            index, tables, payload = read_tables(path)
            self._check_new([*tables.keys, *index["failed"]], path)
            self._codecs.append(index["codec"])
            self._tables[shard_id] = (tables.sizes, tables.kept)
            first_row = len(self._rows)
            self._first_rows.append(first_row)
            self._rows.update(zip(tables.keys, range(first_row, first_row + len(tables.keys)), strict=True))
            self._failed.update(index["failed"])
            self._failed_in.update(dict.fromkeys(index["failed"], shard_id))
            blocks.append(_rows_of(shard_id, tables.videos, payload))
        self._videos = np.concatenate(blocks) if blocks else np.empty((0, len(_Entry._fields)), np.int64)
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    def _check_new(self, keys: list[str], path: Path) -> None:
        """Raise if a key of the shard at `path` is already in an earlier shard (extracted or quarantined)."""
        for key in keys:
            if key in self._rows or key in self._failed_in:
                owner = self._failed_in.get(key)
                if owner is None:
                    owner = bisect.bisect_right(self._first_rows, self._rows[key]) - 1
                raise ValueError(f"video {key!r} is in two shards: {self.shards[owner]} and {path}")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fds"] = {}
        state["_tables"] = {s: t for s, t in self._tables.items() if not isinstance(t[0], np.memmap)}
        return state

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __del__(self) -> None:
        self.close()

    def keys(self) -> list[str]:
        """Extracted video keys, sorted."""
        return sorted(self._rows)

    @property
    def failed(self) -> dict[str, str]:
        """Videos quarantined at extraction, with the reason."""
        return dict(self._failed)

    def num_frames(self, key: str) -> int:
        """The source video's frame count, whether or not every frame was kept, so samplers see the video."""
        return self._entry(key).frames

    def _frame_tables(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        """The shard's frame sizes and kept-frame numbers, mapped again in a process that received a pickle."""
        if shard not in self._tables:
            _, tables, _ = read_tables(self.shards[shard])
            self._tables[shard] = (tables.sizes, tables.kept)
        return self._tables[shard]

    def kept_frames(self, key: str) -> np.ndarray:
        """Source frame numbers of the frames stored for `key`, increasing; all of them unless subsampled."""
        entry = self._entry(key)
        return self._frame_tables(entry.shard)[1][entry.first : entry.first + entry.stored].astype(np.int64)

    def close(self) -> None:
        """Close the descriptors; reads after this reopen them."""
        for fd in getattr(self, "_fds", {}).values():
            os.close(fd)
        self._fds = {}

    def read(self, key: str, indices: Sequence[int]) -> np.ndarray:
        """Source frames `indices` of `key` as uint8 `(len(indices), H, W, 3)`; each stored frame decoded once.

        In a subsampled store each index gets the nearest kept frame (`nearest_kept`), so callers sample source
        frame numbers in `0..num_frames(key) - 1` as if every frame were there.
        """
        entry = self._entry(key)
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        if wanted.size and (wanted.min() < 0 or wanted.max() >= entry.frames):
            raise IndexError(f"{key}: frame indices must be in 0..{entry.frames - 1}, got {indices}")
        stored = slice(entry.first, entry.first + entry.stored)
        all_sizes, all_kept = self._frame_tables(entry.shard)
        kept = all_kept[stored].astype(np.int64)
        unique, inverse = np.unique(nearest_kept(kept, wanted), return_inverse=True)
        sizes = all_sizes[stored].astype(np.int64)
        starts = entry.offset + np.concatenate(([0], np.cumsum(sizes)))
        fd = self._fd(entry.shard)
        blobs = [self._pread(fd, int(sizes[i]), int(starts[i]), key) for i in unique]
        frames = self._decode(blobs, entry)
        if np.array_equal(inverse, np.arange(len(wanted))):  # increasing, each once (training clips): no copy
            return frames
        return frames[inverse]

    def _entry(self, key: str) -> _Entry:
        row = self._rows.get(key)
        if row is not None:
            return _Entry(*self._videos[row].tolist())
        if key in self._failed:
            raise MissingVideoError(f"video {key!r} was quarantined at extraction: {self._failed[key]}")
        raise MissingVideoError(f"video {key!r} was never extracted (not in {len(self.shards)} shard(s))")

    def _fd(self, shard: int) -> int:
        if self._pid != os.getpid():  # forked worker: drop the inherited copies, open our own
            self.close()
            self._pid = os.getpid()
        if shard not in self._fds:
            self._fds[shard] = os.open(self.shards[shard], os.O_RDONLY)
        return self._fds[shard]

    def _pread(self, fd: int, size: int, offset: int, key: str) -> bytearray:
        buf = bytearray(size)
        if os.preadv(fd, [buf], offset) != size:
            raise ShardFormatError(f"{key}: short read at byte {offset}; is the shard truncated?")
        return buf

    def _decode(self, blobs: list[bytearray], entry: _Entry) -> np.ndarray:
        shape = (entry.height, entry.width, 3)
        if not blobs:
            return np.empty((0, *shape), dtype=np.uint8)
        if self._codecs[entry.shard] == "raw":
            return np.stack([np.frombuffer(b, dtype=np.uint8).reshape(shape) for b in blobs])
        tensors = [torch.frombuffer(b, dtype=torch.uint8) for b in blobs]
        decoded = torchvision.io.decode_jpeg(tensors, mode=torchvision.io.ImageReadMode.RGB)
        # Each decoded frame is a (3, H, W) view of (H, W, 3) memory: stacking the (H, W, 3) views is a plain
        # copy, where stacking the views themselves would transpose every pixel (and `read`'s caller back).
        return torch.stack([frame.permute(1, 2, 0) for frame in decoded]).numpy()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vifi extract", description="Decode one shard of a video folder into a frame shard."
    )
    parser.add_argument("--videos", type=Path, required=True, help="video root; keys are relative to it")
    parser.add_argument("--shard", type=int, required=True, help="index of this shard, 0-based")
    parser.add_argument("--num-shards", type=int, required=True, help="total number of shards")
    parser.add_argument("--short-side", type=int, required=True, help="resize every video to this short side")
    parser.add_argument("--codec", choices=CODECS, default="jpeg")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (1-100)")
    parser.add_argument(
        "--frames-per-video",
        type=int_at_least(1),
        default=None,
        help="keep this many frames per video, the centres of equal segments (default: every frame)",
    )
    parser.add_argument("--out", type=Path, required=True, help="shard file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Extract one shard of the videos under `--videos` and print a JSON summary."""
    args = build_parser().parse_args(argv)
    keys = shard_keys(list_videos(args.videos), args.shard, args.num_shards)
    summary = extract_shard(
        args.videos,
        keys,
        args.out,
        short_side=args.short_side,
        codec=args.codec,
        quality=args.quality,
        frames_per_video=args.frames_per_video,
    )
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
