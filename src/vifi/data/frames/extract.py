"""Decode every video once into a compact shard file that the data loader reads with random access.

The official code decodes each video again in every epoch. Here `extract_shard` (the `vifi extract` stage)
decodes a list of videos once (`vifi.data.frames.decode`), resizes them to a fixed short side, encodes each
frame on its own and writes one shard file, in the layout `vifi.data.frames.shards` describes. `FrameStore`
(`vifi.data.frames.store`) then reads any subset of frames of any video with one `pread` per frame and decodes
only those frames.

`--frames-per-video M` keeps only M frames of each video, the centres of M equal segments
(`kept_frame_numbers`), because all frames do not fit a storage budget: a 10 s 30 fps clip at short side 256 is
about 7 MB as JPEG q90 (24 KB a frame), so Kinetics-400 (240k videos) would take about 1.7 TB, and M = 16 about
90 GB (`benchmarks/extract_storage.py`). The store still answers in source frame numbers: `num_frames` is the
source count and `read` returns, for each requested frame, the nearest kept one. The samplers
(`vifi.data.frames.sampling`) and their METHODS.md semantics are therefore unchanged; they only see fewer
distinct frames.

A video that cannot be decoded completely is quarantined, never dropped silently: its shard records the reason,
and `vifi quarantine` (`vifi.data.frames.quarantine`) merges a dataset's shards into `quarantine.csv` and stops
a run whose quarantined fraction exceeds a threshold.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torchvision.io

from vifi.data.frames.decode import DECODE_CHUNK, VideoDecodeError, iter_frames
from vifi.data.frames.shards import CODECS, HEADER, MAGIC, encode_tables
from vifi.data.frames.transforms import to_clip_tensor
from vifi.io import atomic_path
from vifi.progress import progress_bar

FORMAT = 3


class QuarantineWarning(UserWarning):
    """A video could not be decoded at extraction and was recorded under `failed` instead."""


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
