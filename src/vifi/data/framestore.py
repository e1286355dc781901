"""Decode every video once into a compact shard file that the data loader reads with random access.

The official code decodes each video again in every epoch. Here `extract_shard` decodes a list of videos once,
resizes them to a fixed short side, encodes each frame on its own and writes one shard file. `FrameStore` then
reads any subset of frames of any video with one `pread` per frame and decodes only those frames.

Shard file layout (one file, so that `atomic_path` can publish it in one rename):

    b"VIFIFRM1"                      8 bytes, magic and layout version
    index length L                   8 bytes, unsigned little-endian
    index                            L bytes, UTF-8 JSON (below)
    payload                          encoded frames, concatenated

Index fields:

    format        1
    codec         "jpeg" (torchvision `encode_jpeg`) or "raw" (H*W*3 RGB bytes, row-major)
    quality       JPEG quality (recorded for raw shards too, where it is unused)
    short_side    the short side every video was resized to
    videos        {key: {"offset": int, "sizes": [bytes per frame], "height": h, "width": w, "frames": n}}
                  `offset` counts from the start of the payload (byte 16 + L); frame j of a video starts at
                  offset + sum(sizes[:j])
    failed        {key: reason} for videos that could not be decoded (quarantined, not silently dropped)

Keys are video paths relative to the video root, in POSIX form; they are the paths of the split lists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import av
import decord
import numpy as np
import torch
import torchvision.io
from tqdm import tqdm

from vifi.data.transforms import rescaled_shape, resize_clip, to_clip_tensor
from vifi.io import atomic_path

MAGIC = b"VIFIFRM1"
FORMAT = 1
CODECS = ("jpeg", "raw")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".webm", ".mkv"})
_HEADER = struct.Struct("<8sQ")
DECODE_CHUNK = 32


class VideoDecodeError(RuntimeError):
    """Neither decord nor PyAV could decode a video; the message names the file and both errors."""


class ShardFormatError(ValueError):
    """A file is not a readable frame shard; the message names the file."""


class QuarantineWarning(UserWarning):
    """A video could not be decoded at extraction and was recorded under `failed` instead."""


class MissingVideoError(KeyError):
    """A video is not in the store; the message says whether it was quarantined or never extracted."""

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and escapes included.
        return str(self.args[0])


def list_videos(video_root: str | os.PathLike[str]) -> list[str]:
    """Sorted POSIX paths, relative to `video_root`, of the videos below it (hidden files/dirs skipped)."""
    root = Path(video_root)
    keys = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            keys.append(rel.as_posix())
    return sorted(keys)


def _decord_chunks(path: Path) -> Iterator[np.ndarray]:
    reader = decord.VideoReader(str(path), num_threads=1)
    n = len(reader)
    for start in range(0, n, DECODE_CHUNK):
        yield reader.get_batch(list(range(start, min(n, start + DECODE_CHUNK)))).asnumpy()


def _pyav_chunks(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        chunk = []
        for frame in container.decode(video=0):
            chunk.append(frame.to_ndarray(format="rgb24"))
            if len(chunk) == DECODE_CHUNK:
                yield np.stack(chunk)
                chunk = []
        if chunk:
            yield np.stack(chunk)


def _collect(chunks: Iterator[np.ndarray], short_side: int | None) -> np.ndarray:
    parts = [chunk if short_side is None else resize_short_side(chunk, short_side) for chunk in chunks]
    if not parts:
        raise VideoDecodeError("0 frames")
    return np.concatenate(parts)


def decode_video(path: str | os.PathLike[str], short_side: int | None = None) -> np.ndarray:
    """Decode all frames of a video to uint8 `(N, H, W, 3)` RGB, optionally resized to `short_side`.

    decord is the paper's decoder; PyAV's sequential decode is the fallback for files whose index decord
    cannot use (it sometimes reports 0 frames for streams PyAV reads fine). Frames are decoded and resized
    `DECODE_CHUNK` at a time, so a long full-resolution video never sits in memory at full size.
    """
    path = Path(path)
    try:
        return _collect(_decord_chunks(path), short_side)
    except Exception as err:  # decord raises bare RuntimeError/DECORDError; any failure means "try PyAV"
        decord_error = err
    try:
        return _collect(_pyav_chunks(path), short_side)
    except Exception as err:
        raise VideoDecodeError(
            f"cannot decode {path}: decord: {_describe(decord_error)}; PyAV: {_describe(err)}"
        ) from err


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).strip()}"


def resize_short_side(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Resize uint8 `(N, H, W, 3)` frames so the short side is `short_side` (bilinear, antialiased).

    Antialiasing matters here because extraction usually shrinks full-resolution videos by a large factor.
    """
    height, width = rescaled_shape(frames.shape[1], frames.shape[2], short_side)
    if (height, width) == frames.shape[1:3]:
        return frames
    clip = resize_clip(to_clip_tensor(frames), height, width, antialias=True)
    return np.ascontiguousarray(clip.permute(0, 2, 3, 1).numpy())


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


def _check_codec(codec: str, quality: int) -> None:
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")


def _extract_into(
    spool: BinaryIO,
    video_root: Path,
    keys: Sequence[str],
    short_side: int,
    codec: str,
    quality: int,
    progress: bool,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Decode, resize and encode `keys` into `spool`; return the per-video index entries and the failures."""
    videos: dict[str, Any] = {}
    failed: dict[str, str] = {}
    offset = 0
    for key in tqdm(keys, desc="extract", unit="video", disable=not progress):
        try:
            frames = decode_video(video_root / key, short_side)
        except VideoDecodeError as err:
            failed[key] = str(err)
            warnings.warn(f"quarantined {key}: {err}", QuarantineWarning, stacklevel=3)
            continue
        encoded = _encode_frames(frames, codec, quality)
        for blob in encoded:
            spool.write(blob)
        sizes = [len(blob) for blob in encoded]
        n, height, width = frames.shape[:3]
        videos[key] = {"offset": offset, "sizes": sizes, "height": height, "width": width, "frames": n}
        offset += sum(sizes)
    return videos, failed


def extract_shard(
    video_root: str | os.PathLike[str],
    keys: Sequence[str],
    out: str | os.PathLike[str],
    *,
    short_side: int,
    codec: str = "jpeg",
    quality: int = 90,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode each video of `keys` once and write them as one shard file at `out`, atomically.

    Undecodable videos are quarantined: recorded under `failed` with the reason and announced with a
    `QuarantineWarning`, while the rest of the shard is written. Any other error leaves no file at `out`.
    Encoded frames are spooled to a temporary file next to `out` first, because the index (which precedes the
    payload) is only known at the end and a shard can be larger than memory.
    """
    _check_codec(codec, quality)
    if len(set(keys)) != len(keys):
        raise ValueError("extract_shard got duplicate keys")
    video_root, out = Path(video_root), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".spool") as spool:
        videos, failed = _extract_into(spool, video_root, keys, short_side, codec, quality, progress)
        index = {
            "format": FORMAT,
            "codec": codec,
            "quality": quality,
            "short_side": short_side,
            "videos": videos,
            "failed": failed,
        }
        index_bytes = json.dumps(index, separators=(",", ":")).encode("utf-8")
        spool.seek(0)
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            fh.write(_HEADER.pack(MAGIC, len(index_bytes)))
            fh.write(index_bytes)
            shutil.copyfileobj(spool, fh, length=1 << 22)
    return _summary(out, index, time.perf_counter() - start)


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
        "payload_bytes": payload,
        "file_bytes": out.stat().st_size,
        "bytes_per_video": payload / len(videos) if videos else 0.0,
        "seconds": round(seconds, 3),
        "videos_per_second": (len(videos) + len(index["failed"])) / seconds if seconds > 0 else 0.0,
    }


def read_index(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int]:
    """Read a shard's JSON index without touching its payload; return it and the payload's file offset."""
    path = Path(path)
    with open(path, "rb") as fh:
        header = fh.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise ShardFormatError(f"{path}: too short to be a frame shard ({len(header)} bytes)")
        magic, length = _HEADER.unpack(header)
        if magic != MAGIC:
            raise ShardFormatError(f"{path}: not a frame shard (magic {magic!r}, expected {MAGIC!r})")
        raw = fh.read(length)
    if len(raw) != length:
        raise ShardFormatError(f"{path}: truncated index ({len(raw)} of {length} bytes)")
    index = json.loads(raw.decode("utf-8"))
    if index.get("format") != FORMAT or index.get("codec") not in CODECS:
        found = f"format {index.get('format')!r}, codec {index.get('codec')!r}"
        raise ShardFormatError(f"{path}: unsupported shard ({found})")
    return index, _HEADER.size + length


class _Entry(NamedTuple):
    """Where one video lives: its shard, payload start in that file, slice of the frame-size table, shape."""

    shard: int
    offset: int
    first: int
    frames: int
    height: int
    width: int


class FrameStore:
    """Random-access reader over one or more shards; opening reads only the indexes.

    File descriptors are opened lazily and per process, so a store pickles into `DataLoader` workers (spawn or
    fork) and each worker gets its own descriptors. `os.pread` keeps reads independent of any file position.
    """

    def __init__(self, shards: Sequence[str | os.PathLike[str]]) -> None:
        self.shards = [Path(s) for s in shards]
        self._codecs: list[str] = []
        self._entries: dict[str, _Entry] = {}
        self._failed: dict[str, str] = {}
        owner: dict[str, int] = {}
        sizes: list[int] = []
        for shard_id, path in enumerate(self.shards):
            index, payload = read_index(path)
            self._codecs.append(index["codec"])
            for key in [*index["videos"], *index["failed"]]:
                if key in owner:
                    raise ValueError(f"video {key!r} is in two shards: {self.shards[owner[key]]} and {path}")
                owner[key] = shard_id
            for key, v in index["videos"].items():
                self._entries[key] = _Entry(
                    shard_id, payload + v["offset"], len(sizes), v["frames"], v["height"], v["width"]
                )
                sizes.extend(v["sizes"])
            self._failed.update(index["failed"])
        self._sizes = np.asarray(sizes, dtype=np.int64)
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fds"] = {}
        return state

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __del__(self) -> None:
        self.close()

    def keys(self) -> list[str]:
        """Extracted video keys, sorted."""
        return sorted(self._entries)

    @property
    def failed(self) -> dict[str, str]:
        """Videos quarantined at extraction, with the reason."""
        return dict(self._failed)

    def num_frames(self, key: str) -> int:
        return self._entry(key).frames

    def close(self) -> None:
        """Close the descriptors; reads after this reopen them."""
        for fd in getattr(self, "_fds", {}).values():
            os.close(fd)
        self._fds = {}

    def read(self, key: str, indices: Sequence[int]) -> np.ndarray:
        """Frames `indices` of `key` as uint8 `(len(indices), H, W, 3)`; each distinct frame decoded once."""
        entry = self._entry(key)
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        if wanted.size and (wanted.min() < 0 or wanted.max() >= entry.frames):
            raise IndexError(f"{key}: frame indices must be in 0..{entry.frames - 1}, got {indices}")
        unique, inverse = np.unique(wanted, return_inverse=True)
        sizes = self._sizes[entry.first : entry.first + entry.frames]
        starts = entry.offset + np.concatenate(([0], np.cumsum(sizes)))
        fd = self._fd(entry.shard)
        blobs = [self._pread(fd, int(sizes[i]), int(starts[i]), key) for i in unique]
        frames = self._decode(blobs, entry)
        return frames[inverse]

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is not None:
            return entry
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
        return torch.stack(decoded).permute(0, 2, 3, 1).numpy()


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
    parser.add_argument("--out", type=Path, required=True, help="shard file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Extract one shard of the videos under `--videos` and print a JSON summary."""
    args = build_parser().parse_args(argv)
    keys = shard_keys(list_videos(args.videos), args.shard, args.num_shards)
    summary = extract_shard(
        args.videos, keys, args.out, short_side=args.short_side, codec=args.codec, quality=args.quality
    )
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
