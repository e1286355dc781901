"""A frame shard's layout and index, and the manifest over a dataset's shards, without decoding a frame.

Shards are written by `vifi extract` (`vifi.data.frames.extract`) and read by `vifi.data.frames.store`.
Everything here reads only the header and index: listing the videos a shard set should hold, the index's
tables, and the manifest. It imports neither torch nor a codec, so the quarantine and split-list jobs
(`vifi.data.frames.quarantine`, `vifi.data.lists.resolve`), which the pipeline runs once per dataset and
protocol before any training can start, do not pay the seconds torch's import takes.

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

Tables (`Tables`): an int64 row per video (payload offset, source frame count, height, width, stored frames),
then F uint32 frame sizes in bytes, then F uint32 source frame numbers of the stored frames, each video's frames
after the previous video's, increasing. `offset` counts from the start of the payload (byte 16 + L + the
tables); stored frame j of a video starts at offset + the sizes of its frames before j. A Kinetics-400 index
(240k videos of 300 frames, 0.6 GB) thus opens without parsing a number per frame, and its frame tables are
memory-mapped rather than held by each loader worker (`benchmarks/store_scale.py`).

Keys are video paths relative to the video root, in POSIX form; they are the paths of the split lists.

A dataset's store is named by its manifest (`write_manifest`, written by `vifi quarantine` once the quarantine
check passes): a JSON list of its shard files with their sizes and the SHA-256 of their indexes. Training and
evaluation jobs depend on that one small file rather than on every shard, so a DAG over 64-shard datasets stays
small, and its content changes exactly when a shard's content does (the index records every stored frame's
size and the extraction options), which is what Snakemake's rerun decision looks at. `FrameStore` accepts
manifests wherever it accepts shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vifi.io import write_json

MAGIC = b"VIFIFRM1"
MANIFEST_FORMAT = 1
READABLE_FORMATS = (1, 2, 3)
# From format 3 on, the per-video and per-frame numbers follow the JSON as binary tables (`Tables`).
TABLES_FORMAT = 3
VIDEO_COLUMNS = ("offset", "frames", "height", "width", "stored")
VIDEO_DTYPE, FRAME_DTYPE = np.dtype("<i8"), np.dtype("<u4")
CODECS = ("jpeg", "raw")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".webm", ".mkv"})
HEADER = struct.Struct("<8sQ")


class ShardFormatError(ValueError):
    """A file is not a readable frame shard; the message names the file."""


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


def _raw_index(path: Path) -> bytes:
    """A shard's index bytes, after checking the magic and that the index is complete."""
    with open(path, "rb") as fh:
        header = fh.read(HEADER.size)
        if len(header) != HEADER.size:
            raise ShardFormatError(f"{path}: too short to be a frame shard ({len(header)} bytes)")
        magic, length = HEADER.unpack(header)
        if magic != MAGIC:
            raise ShardFormatError(f"{path}: not a frame shard (magic {magic!r}, expected {MAGIC!r})")
        raw = fh.read(length)
    if len(raw) != length:
        raise ShardFormatError(f"{path}: truncated index ({len(raw)} of {length} bytes)")
    return raw


class Tables(NamedTuple):
    """A shard's videos as arrays: `keys[i]` has the row `videos[i]` (`VIDEO_COLUMNS`: payload offset, source
    frame count, height, width, stored frames); its stored frames are the next `stored` entries of `sizes`
    (bytes) and `kept` (source frame numbers), after those of the videos before it."""

    keys: list[str]
    videos: np.ndarray
    sizes: np.ndarray
    kept: np.ndarray


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON part of a shard's index, checked, and the file offset where it ends."""
    raw = _raw_index(path)
    index = json.loads(raw.decode("utf-8"))
    if index.get("format") not in READABLE_FORMATS or index.get("codec") not in CODECS:
        found = f"format {index.get('format')!r}, codec {index.get('codec')!r}"
        raise ShardFormatError(f"{path}: unsupported shard ({found})")
    return index, HEADER.size + len(raw)


def _tables_bytes(index: dict[str, Any]) -> int:
    """Bytes of the binary tables after the JSON: none before format 3."""
    if index["format"] < TABLES_FORMAT:
        return 0
    return (
        len(index["videos"]) * len(VIDEO_COLUMNS) * VIDEO_DTYPE.itemsize
        + 2 * index["frames"] * FRAME_DTYPE.itemsize
    )


def read_tables(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Tables, int]:
    """A shard's index as `Tables`, its JSON header and the payload's file offset, without touching the payload.

    Format 3's frame tables are memory-mapped, not read: opening a Kinetics-size store costs a few arrays, and
    their pages are shared between the loader workers. Older formats' JSON lists are converted.
    """
    path = Path(path)
    index, end = read_header(path)
    if index["format"] < TABLES_FORMAT:
        return index, _tables_from_json(index["videos"]), end
    payload = end + _tables_bytes(index)
    if path.stat().st_size < payload:
        raise ShardFormatError(
            f"{path}: truncated index tables ({path.stat().st_size} bytes, {payload} expected)"
        )
    videos = np.fromfile(path, dtype=VIDEO_DTYPE, count=len(index["videos"]) * len(VIDEO_COLUMNS), offset=end)
    frames = index["frames"]
    if frames:
        sizes, kept = np.memmap(path, FRAME_DTYPE, mode="r", offset=end + videos.nbytes, shape=(2, frames))
    else:  # mmap cannot map zero bytes
        sizes = kept = np.empty(0, FRAME_DTYPE)
    return index, Tables(index["videos"], videos.reshape(-1, len(VIDEO_COLUMNS)), sizes, kept), payload


def _tables_from_json(videos: dict[str, Any]) -> Tables:
    """Formats 1 and 2: per-video JSON entries as `Tables` (format 1 has no `kept`: it kept every frame)."""
    rows = [[v["offset"], v["frames"], v["height"], v["width"], len(v["sizes"])] for v in videos.values()]
    sizes = [size for v in videos.values() for size in v["sizes"]]
    kept = [k for v in videos.values() for k in v.get("kept", range(v["frames"]))]
    return Tables(
        list(videos),
        np.asarray(rows, dtype=VIDEO_DTYPE).reshape(-1, len(VIDEO_COLUMNS)),
        np.asarray(sizes, dtype=FRAME_DTYPE),
        np.asarray(kept, dtype=FRAME_DTYPE),
    )


def encode_tables(videos: dict[str, Any]) -> tuple[list[str], int, bytes]:
    """Per-video index entries (`offset`, `frames`, `height`, `width`, `sizes`, `kept`) as format 3 stores
    them: the keys, the stored frame count and the tables' bytes."""
    tables = _tables_from_json(videos)
    return (
        tables.keys,
        len(tables.sizes),
        tables.videos.tobytes() + tables.sizes.tobytes() + tables.kept.tobytes(),
    )


def read_index(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int]:
    """A shard's index with every video's entry as a dict (`offset`, `frames`, `height`, `width`, `sizes`,
    `kept`), whatever its format, and the payload's file offset. For tools and tests: `FrameStore` reads
    `read_tables`, which builds no per-frame objects."""
    index, tables, payload = read_tables(path)
    starts = np.concatenate(([0], np.cumsum(tables.videos[:, -1])))
    videos = {}
    for i, key in enumerate(tables.keys):
        offset, frames, height, width, _ = map(int, tables.videos[i])
        part = slice(int(starts[i]), int(starts[i + 1]))
        videos[key] = {
            "offset": offset, "sizes": tables.sizes[part].tolist(), "height": height, "width": width,
            "frames": frames, "kept": tables.kept[part].tolist(),
        }  # fmt: skip
    return {**index, "videos": videos}, payload


def write_manifest(shards: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the manifest naming a dataset's shards (paths relative to the manifest) atomically; return it."""
    out = Path(out)
    entries = [
        {
            "file": Path(os.path.relpath(path, out.parent)).as_posix(),
            "bytes": path.stat().st_size,
            "index_sha256": _index_digest(path),
        }
        for path in map(Path, shards)
    ]
    manifest = {"format": MANIFEST_FORMAT, "shards": entries}
    write_json(out, manifest)
    return manifest


def _index_digest(path: Path) -> str:
    """SHA-256 of a shard's whole index: the JSON and, from format 3 on, the binary tables after it."""
    raw = _raw_index(path)
    size = _tables_bytes(json.loads(raw.decode("utf-8")))
    with open(path, "rb") as fh:
        fh.seek(HEADER.size + len(raw))
        tables = fh.read(size)
    return hashlib.sha256(raw + tables).hexdigest()


def shard_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Shard files, with each manifest (`.json`) replaced by the shards it names.

    A shard whose size differs from its manifest's record was rewritten after the manifest; reading it would
    mix two extractions, so it is an error naming both files.
    """
    shards: list[Path] = []
    for path in map(Path, paths):
        if path.suffix != ".json":
            shards.append(path)
            continue
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            entries = manifest["shards"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ShardFormatError(f"{path}: not a frame-store manifest ({err})") from err
        for entry in entries:
            shard = path.parent / entry["file"]
            size = shard.stat().st_size if shard.exists() else None
            if size != entry["bytes"]:
                found = "is missing" if size is None else f"has {size} bytes"
                raise ShardFormatError(
                    f"{shard} {found}, but its manifest {path} records {entry['bytes']} bytes: the shard "
                    "changed after the manifest was written; rerun `vifi quarantine` (rule quarantine)"
                )
            shards.append(shard)
    return shards
