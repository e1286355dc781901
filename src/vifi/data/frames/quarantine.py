"""Merge a dataset's undecodable videos into `quarantine.csv`, and stop the run if too many were quarantined.

It reads only the shards' indexes (`vifi.data.frames.shards`), so it imports neither torch nor a codec. Once the
check passes it writes the dataset's manifest, the one file training and evaluation jobs depend on.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from vifi.data.frames.shards import read_header
from vifi.io import write_text

MAX_LISTED = 10


class QuarantineLimitError(RuntimeError):
    """Too many videos were quarantined; the message names the count, the fraction and the threshold."""


class Quarantine(NamedTuple):
    """The quarantined videos of a dataset's shards, `{key: reason}`, out of `total` videos listed for them."""

    failed: dict[str, str]
    total: int

    @property
    def fraction(self) -> float:
        return len(self.failed) / self.total if self.total else 0.0


def collect_quarantine(shards: Sequence[str | os.PathLike[str]]) -> Quarantine:
    """Merge the `failed` entries of `shards` (reading only their indexes) and count the videos they cover."""
    failed: dict[str, str] = {}
    owner: dict[str, Path] = {}
    for path in map(Path, shards):
        index, _ = read_header(path)
        for key in [*index["videos"], *index["failed"]]:
            if key in owner:
                raise ValueError(f"video {key!r} is in two shards: {owner[key]} and {path}")
            owner[key] = path
        failed.update(index["failed"])
    return Quarantine(failed, len(owner))


def write_quarantine(shards: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Quarantine:
    """Write the shards' quarantined videos to the CSV `out` (`video,reason`, sorted by video), atomically.

    The CSV is written even when nothing was quarantined (header only), so that it is a dependable rule output
    and a reviewer can see at a glance which raw files a run left out and why.
    """
    quarantine = collect_quarantine(shards)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video", "reason"])
    writer.writerows(sorted(quarantine.failed.items()))
    write_text(out, buffer.getvalue())
    return quarantine


def check_quarantine(quarantine: Quarantine, max_fraction: float) -> None:
    """Fail when more than `max_fraction` of the videos were quarantined.

    A few broken files are normal in downloaded datasets; many mean a broken download or decoder, and results
    computed on what is left would quietly differ from the paper's, so the run stops and names the first few.
    """
    if not 0.0 <= max_fraction <= 1.0:
        raise ValueError(f"max_fraction must be in [0, 1], got {max_fraction}")
    if quarantine.fraction <= max_fraction:
        return
    listed = sorted(quarantine.failed.items())[:MAX_LISTED]
    examples = "; ".join(f"{key}: {reason}" for key, reason in listed)
    more = len(quarantine.failed) - len(listed)
    raise QuarantineLimitError(
        f"{len(quarantine.failed)} of {quarantine.total} videos were quarantined (fraction "
        f"{quarantine.fraction:.4f}), more than the threshold {max_fraction:.4f}: {examples}"
        + (f"; and {more} more" if more else "")
    )
