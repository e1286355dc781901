"""Map split-list paths onto the video keys of a raw dataset, and account for every line that cannot be kept.

Frame stores key each video by its path relative to the dataset's video root, but official lists name videos
in their own layout: HMDB-51 and UCF-101 lists hold bare file names while the archives extract to
`<class>/<file>.avi`, and Kinetics lists hold `train/<id>_<start>_<end>.mp4` while copies are often
`<split>/<class>/...` or flat, sometimes re-encoded to another container. So each list path is matched to a key:
the exact path first, else the one key with the same file name, else the one key with the same file stem.
Two candidates at the first level that matches is an error, never a guess.

A line whose video is absent or quarantined (`quarantine.csv` of the extract stage) is dropped from the written
list, and every dropped line is written to a report; above a missing fraction the stage fails, because results
computed on what is left would quietly differ from the paper's (YouTube ids die, so Kinetics needs a margin).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from vifi.data.frames.shards import list_videos
from vifi.data.lists.annotations import AnnotationError, Item
from vifi.io import write_json, write_text

log = logging.getLogger(__name__)

MAX_EXAMPLES = 10


class AmbiguousVideoError(ValueError):
    """A list path matches two videos by file name or stem; the message names both."""


class MissingVideosLimitError(RuntimeError):
    """Too many lines of a list name missing or quarantined videos; the message names the list and count."""


def _name(path: str) -> str:
    return path[path.rfind("/") + 1 :]


def _stem(path: str) -> str:
    name = _name(path)
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


class _Table:
    """Keys by one probe (file name or stem); a probe that several keys share is kept apart as a clash."""

    def __init__(self, keys: Iterable[str], probe: Callable[[str], str], what: str) -> None:
        self.probe, self.what = probe, what
        self.unique: dict[str, str] = {}
        self.clashes: dict[str, list[str]] = {}
        for key in keys:
            value = probe(key)
            first = self.unique.setdefault(value, key)
            if first != key:
                self.clashes.setdefault(value, [first]).append(key)

    def get(self, path: str) -> str | None:
        value = self.probe(path)
        if value in self.clashes:
            found = self.clashes[value]
            raise AmbiguousVideoError(
                f"{path!r} matches {len(found)} videos by file {self.what}, e.g. {found[0]!r} and {found[1]!r}"
            )
        return self.unique.get(value)


class VideoIndex:
    """Video keys by full path, by file name and by file stem, so that each list line resolves in O(1)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = frozenset(keys)
        ordered = sorted(self.keys)  # clashes list their keys in a stable order
        self._tables = (_Table(ordered, _name, "name"), _Table(ordered, _stem, "stem"))

    def match(self, path: str) -> tuple[str | None, str]:
        """`(key, how)` for a list path; how is `exact`, `name` or `stem`, or `(None, "missing")`."""
        if path in self.keys:
            return path, "exact"
        for table in self._tables:
            key = table.get(path)
            if key is not None:
                return key, table.what
        return None, "missing"


def read_quarantine(path: str | Path) -> dict[str, str]:
    """`{video key: reason}` from a quarantine CSV (`video,reason`, as `write_quarantine` writes it)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["video", "reason"]:
            raise AnnotationError(f"{path}: expected the header 'video,reason', found {reader.fieldnames}")
        return {row["video"]: row["reason"] for row in reader}


class Dropped(NamedTuple):
    """A list line left out of the written list: `status` is `missing` or `quarantined`."""

    item: Item
    status: str
    reason: str


@dataclass
class ListReport:
    """What happened to the lines of one list: how each was matched, and which were dropped and why."""

    name: str
    source: str
    lines: int = 0
    matched: Counter[str] = field(default_factory=Counter)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return len(self.dropped) / self.lines if self.lines else 0.0

    def summary(self) -> dict[str, object]:
        statuses = Counter(d.status for d in self.dropped)
        return {
            "source": self.source,
            "lines": self.lines,
            "kept": self.lines - len(self.dropped),
            "dropped": len(self.dropped),
            "missing": statuses["missing"],
            "quarantined": statuses["quarantined"],
            "fraction": self.fraction,
            "matched_by": dict(sorted(self.matched.items())),
            "examples": [
                {"path": d.item.path, "label": d.item.label, "status": d.status, "reason": d.reason}
                for d in self.dropped[:MAX_EXAMPLES]
            ],
        }


class ListResolver:
    """Resolves the lists of one run against one video root and collects one report over all of them."""

    def __init__(
        self,
        video_root: str | Path,
        keys: Iterable[str],
        quarantine: dict[str, str] | None = None,
        max_missing_fraction: float = 0.0,
    ) -> None:
        if not 0.0 <= max_missing_fraction <= 1.0:
            raise ValueError(f"the maximum missing fraction must be in [0, 1], got {max_missing_fraction}")
        self.video_root = str(video_root)
        self.index = VideoIndex(keys)
        self.quarantine = quarantine or {}
        self.max_missing_fraction = max_missing_fraction
        self.reports: dict[str, ListReport] = {}

    @classmethod
    def scan(
        cls, video_root: str | Path, quarantine: str | Path | None = None, max_missing_fraction: float = 0.0
    ) -> ListResolver:
        """List the videos under `video_root` exactly as the extract stage keys them.

        The listing is the frame store's own, so that the keys cannot drift from the store's.
        """
        if not Path(video_root).is_dir():
            raise FileNotFoundError(f"video root {video_root} is not a directory")
        failed = read_quarantine(quarantine) if quarantine is not None else {}
        return cls(video_root, list_videos(video_root), failed, max_missing_fraction)

    def resolve(self, name: str, source: str | Path, items: Sequence[Item]) -> list[Item]:
        """The items of list `name` (read from `source`) with paths replaced by keys; dropped lines are kept
        in the report under `name`."""
        if name in self.reports:
            raise ValueError(f"list {name!r} resolved twice")
        report = self.reports[name] = ListReport(name, str(source), lines=len(items))
        kept: list[Item] = []
        for item in items:
            try:
                key, how = self.index.match(item.path)
            except AmbiguousVideoError as err:
                raise AmbiguousVideoError(f"{source}: {err} under {self.video_root}") from None
            if key is None:
                report.dropped.append(Dropped(item, "missing", f"not found under {self.video_root}"))
            elif key in self.quarantine:
                report.dropped.append(Dropped(item, "quarantined", f"{key}: {self.quarantine[key]}"))
            else:
                report.matched[how] += 1
                kept.append(item if how == "exact" else Item(key, item.label))
        return kept

    def finish(self, report: str | Path) -> None:
        """Write the report (`report`: JSON summary per list; same name with `.csv`: every dropped line), log
        it, then fail if any list lost more than the allowed fraction of its lines.

        The report is written before the check so that a failed run leaves the list of what is missing.
        """
        report = Path(report)
        summaries = {name: report.summary() for name, report in self.reports.items()}
        write_json(
            report,
            {
                "video_root": self.video_root,
                "max_missing_fraction": self.max_missing_fraction,
                "lists": summaries,
            },
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["list", "path", "label", "status", "reason"])
        for name, listed in self.reports.items():
            writer.writerows((name, d.item.path, d.item.label, d.status, d.reason) for d in listed.dropped)
        write_text(report.with_suffix(".csv"), buffer.getvalue())
        for name, s in summaries.items():
            log.info(
                "%s: kept %d of %d lines (%d missing, %d quarantined; matched by %s)",
                name, s["kept"], s["lines"], s["missing"], s["quarantined"], s["matched_by"],
            )  # fmt: skip
        self._check(report)

    def _check(self, report: Path) -> None:
        over = [r for r in self.reports.values() if r.fraction > self.max_missing_fraction]
        if not over:
            return
        parts = []
        for r in over:
            shown = "; ".join(f"{d.item.path} ({d.status})" for d in r.dropped[:3])
            parts.append(
                f"{r.name} ({r.source}): {len(r.dropped)} of {r.lines} lines name missing or quarantined "
                f"videos (fraction {r.fraction:.4f}), e.g. {shown}"
            )
        raise MissingVideosLimitError(
            f"more than --max-missing-fraction {self.max_missing_fraction:.4f} of a list is unavailable under "
            f"{self.video_root}: "
            + " | ".join(parts)
            + f"; every dropped line is in {report.with_suffix('.csv')}"
        )
