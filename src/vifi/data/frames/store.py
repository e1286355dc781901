"""Random-access reads from a dataset's frame shards: where training, evaluation and embedding get their frames.

`FrameStore` opens only the shards' indexes (or the manifest that names them, `vifi.data.frames.shards`) and
reads any subset of frames of any video with one `pread` per frame, decoding only those frames. A store
extracted with `--frames-per-video` (`vifi.data.frames.extract`) still answers in source frame numbers:
`num_frames` is the source count and `read` returns, for each requested frame, the nearest kept one
(`nearest_kept`), so the samplers (`vifi.data.frames.sampling`) need not know.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import simplejpeg

from vifi.data.frames.shards import ShardFormatError, read_tables, shard_paths


class MissingVideoError(KeyError):
    """A video is not in the store; the message says whether it was quarantined or never extracted."""

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and escapes included.
        return str(self.args[0])


def nearest_kept(kept: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Positions in the increasing `kept` of the kept frame nearest to each of `indices` (ties: the earlier).

    This is how a subsampled video answers a request for any source frame without changing the samplers.
    """
    right = np.minimum(np.searchsorted(kept, indices), len(kept) - 1)
    left = np.maximum(right - 1, 0)
    return np.where(indices - kept[left] <= kept[right] - indices, left, right)


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
        frames = self._decode(blobs, entry, key, kept[unique])
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

    def _decode(self, blobs: list[bytearray], entry: _Entry, key: str, numbers: np.ndarray) -> np.ndarray:
        """Decode each frame straight into its slot of one `(T, H, W, 3)` array.

        simplejpeg decodes with libjpeg-turbo's exact integer IDCT and smooth chroma upsampling, as
        torchvision's `decode_jpeg` does, so the pixels are the same (tested), but faster and with no tensor per
        frame to stack: the read is what bounds the training loader (`benchmarks/loader.py`).
        """
        frames = np.empty((len(blobs), entry.height, entry.width, 3), dtype=np.uint8)
        if self._codecs[entry.shard] == "raw":
            for frame, blob in zip(frames, blobs, strict=True):
                frame.reshape(-1)[:] = np.frombuffer(blob, dtype=np.uint8)
            return frames
        for number, frame, blob in zip(numbers, frames, blobs, strict=True):
            try:
                shape = simplejpeg.decode_jpeg(blob, "RGB", buffer=frame).shape
            except ValueError as error:
                raise ShardFormatError(f"{key}: frame {number} does not decode: {error}") from error
            if shape != frame.shape:
                indexed = frame.shape[:2]
                raise ShardFormatError(f"{key}: frame {number} is {shape[:2]}, the index says {indexed}")
        return frames
