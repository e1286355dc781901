"""Check each list's label ids against the class its videos themselves name.

A split list pairs a video with a label id, and the label CSV turns the id into the class name that prompts and
zero-shot scoring use. Nothing in either file checks that the name is the video's class. The paper's released
HMDB-51 lists get it wrong: `kick_ball` videos carry the id the label CSV names `kick` and the other way round,
and likewise `sword_exercise` and `sword` (120 of the 1,530 test videos of each split). Accuracy under class
names then measures something other than what it claims, so every list is audited before it is used, and the
result (`vifi audit`: audit.json and audit.csv) is written where a table note can quote it.

The class a video names comes from its path where the dataset encodes it (UCF-101: the class folder and the
`v_<Class>_gXX_cYY` file name; HMDB-51: `<title>_<class>_<6 tags>` file names and class folders), and from the
dataset's annotations where it does not (Kinetics, SSv2: a `videos.csv` of `path,name` written next to the
lists). Names are compared by a key that keeps only letters and digits, casefolded, so that `kick_ball`,
`kick ball` and `v_HandStandPushups` match `HandstandPushups`.

What happens to a disagreement is the pipeline's policy (`as_released`: keep the released ids, as the paper did;
`by_name`: ids follow the names, `relabel_by_name`); the audit records it either way and exits 0.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vifi.data.lists.annotations import Item, paper_labels, read_labels, read_list
from vifi.data.lists.resolve import AmbiguousVideoError, VideoIndex
from vifi.io import write_json, write_text

log = logging.getLogger(__name__)

FORMATS = ("ucf101", "hmdb51", "kinetics", "ssv2")
POLICIES = ("as_released", "by_name")
# Formats whose paths name the class, with the shipped label list that holds all of the dataset's classes.
PATH_NAMED = {"ucf101": "ucf_101", "hmdb51": "hmdb_51"}
MAX_EXAMPLES = 5

NameOf = Callable[[str], str | None]

_UCF_FILE = re.compile(r"v_(?P<name>.+?)_g\d+_c\d+", re.IGNORECASE)
# HMDB-51's six trailing tags: visible body part, camera motion, people, viewpoint, quality, clip index.
_HMDB_TAGS = tuple(
    re.compile(pattern) for pattern in (r"[fhul]", r"cm|nm", r"np\d+", r"fr|ba|le|ri", r"bad|med|goo", r"\d+")
)


class AuditError(ValueError):
    """An input of the audit cannot be used; the message names the file, line or video."""


class NamingConflict(ValueError):
    """Two sources name different classes for one video (its folder and file name, or its path and the
    annotations); the message names the video and both classes."""


class OutsideLabelSpaceError(ValueError):
    """A video names a class that the list's label file lacks, so its id cannot follow its name."""


def class_key(name: str) -> str:
    """The key class names are compared by: casefolded letters and digits only."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def _known(classes: Iterable[str]) -> dict[str, str]:
    """`{key: spelling}`, the first spelling of a key winning, so that the caller's label files come first."""
    known: dict[str, str] = {}
    for name in classes:
        known.setdefault(class_key(name), name)
    return known


def _folder_and_stem(path: str) -> tuple[str | None, str]:
    folder, _, name = path.rpartition("/")
    dot = name.rfind(".")
    return folder.rpartition("/")[2] or None, name[:dot] if dot > 0 else name


def _ucf_file_class(stem: str) -> str | None:
    match = _UCF_FILE.fullmatch(stem)
    return match["name"] if match else None


def _hmdb_file_class(stem: str, known: Mapping[str, str]) -> str | None:
    """The longest known class that the name ends with once its six tags are stripped (`kick_ball`, not
    `ball`), at a word boundary, so that a title word never lends its letters to the class."""
    words = stem.split("_")
    if len(words) < 7 or not all(p.fullmatch(t) for p, t in zip(_HMDB_TAGS, words[-6:], strict=True)):
        return None
    rest = words[:-6]
    for start in range(len(rest)):
        key = class_key("".join(rest[start:]))
        if key in known:
            return known[key]
    return None


def _agree(video: str, named: Sequence[tuple[str, str | None]], known: Mapping[str, str]) -> str | None:
    """The class every source that names one agrees on, in its known spelling; NamingConflict if they differ."""
    found = [(source, name) for source, name in named if name is not None]
    if not found:
        return None
    first_source, first = found[0]
    for source, name in found[1:]:
        if class_key(name) != class_key(first):
            raise NamingConflict(f"{video}: {first_source} names {first!r} but {source} names {name!r}")
    return known.get(class_key(first), first)


def _path_class(fmt: str, path: str, known: Mapping[str, str]) -> str | None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt not in PATH_NAMED:
        return None
    folder, stem = _folder_and_stem(path)
    from_file = _ucf_file_class(stem) if fmt == "ucf101" else _hmdb_file_class(stem, known)
    # Only a folder that is a class names one: lists also live under `train/`, `videos/` and the like.
    from_folder = folder if folder is not None and class_key(folder) in known else None
    return _agree(path, [("its folder", from_folder), ("its file name", from_file)], known)


def named_class(fmt: str, path: str, classes: Iterable[str]) -> str | None:
    """The class a video's own path names, spelled as in `classes` where it is one of them; None where the
    path names none (always for Kinetics and SSv2). A folder and file name that disagree raise NamingConflict.
    """
    return _path_class(fmt, path, _known(classes))


class VideoNames:
    """Each video's class name from the dataset's annotations, found for a list path as the frame store finds
    videos: by exact path, else by file name, else by file stem (resolve.VideoIndex)."""

    def __init__(self, names: Mapping[str, str], source: str = "the annotations") -> None:
        self.names = dict(names)
        self.source = source
        self._index = VideoIndex(self.names)

    @classmethod
    def read(cls, path: str | Path) -> VideoNames:
        """Read a `path,name` CSV; a video listed twice under different names is an error."""
        path = Path(path)
        reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
        header = next(reader, None)
        if header is None or [c.strip() for c in header] != ["path", "name"]:
            raise AuditError(f"{path}: expected the header 'path,name', found {header}")
        names: dict[str, str] = {}
        for row in reader:
            if not row:
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise AuditError(f"{path}:{reader.line_num}: expected '<video path>,<class name>', found {row}")
            video, name = row[0].strip(), row[1].strip()
            if names.setdefault(video, name) != name:
                raise AuditError(
                    f"{path}:{reader.line_num}: {video} is named {name!r} here and {names[video]!r} above"
                )
        return cls(names, str(path))

    def get(self, path: str) -> str | None:
        """The annotated class of the list path `path`, or None if the annotations lack the video."""
        try:
            key, _ = self._index.match(path)
        except AmbiguousVideoError as err:
            raise AuditError(f"{self.source}: {err}") from None
        return None if key is None else self.names[key]


def video_namer(fmt: str, classes: Iterable[str], names: VideoNames | None = None) -> NameOf:
    """`name_of(path)` for audit_list and relabel_by_name: the class the path names, else the annotations'.

    For UCF-101 and HMDB-51 the paper's full class list joins `classes`, so that a base or novel list still
    recognises a video of the other half (and HMDB's longest-match parse never settles on `sword` for a
    `draw_sword` video because the list lacks `draw sword`). Where both the path and the annotations name a
    class and they differ, `name_of` raises NamingConflict.
    """
    vocabulary = list(classes)
    if fmt in PATH_NAMED:
        vocabulary += paper_labels(PATH_NAMED[fmt])
    known = _known(vocabulary)
    source = names.source if names is not None else ""

    def name_of(path: str) -> str | None:
        from_path = _path_class(fmt, path, known)
        from_names = names.get(path) if names is not None else None
        return _agree(path, [("its path", from_path), (source, from_names)], known)

    return name_of


def _ids_by_key(label_names: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for label, name in enumerate(label_names):
        first = ids.setdefault(class_key(name), label)
        if first != label:
            raise AuditError(
                f"label names {label_names[first]!r} (id {first}) and {name!r} (id {label}) compare equal"
            )
    return ids


def _label_name(item: Item, label_names: Sequence[str]) -> str:
    if not 0 <= item.label < len(label_names):
        raise AuditError(f"{item.path}: label {item.label} outside 0..{len(label_names) - 1}")
    return label_names[item.label]


@dataclass
class Pair:
    """Lines labelled `label_name` (id `label_id`) whose videos name another class, `named`; `named_id` is
    that class's id in the same label file, None where the file lacks it."""

    label_id: int
    label_name: str
    named: str
    named_id: int | None
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def order(self) -> tuple[int, int, bool, int, str]:
        """Most lines first, then by ids, so that the report reads the same on every run."""
        named_id = -1 if self.named_id is None else self.named_id
        return (-self.count, self.label_id, self.named_id is None, named_id, class_key(self.named))

    def to_json(self) -> dict[str, Any]:
        return {
            "label_id": self.label_id,
            "label_name": self.label_name,
            "named": self.named,
            "named_id": self.named_id,
            "count": self.count,
            "examples": list(self.examples),
        }


@dataclass
class ListAudit:
    """What the audit of one list found: lines checked, lines it could not check, and disagreeing pairs."""

    lines: int = 0
    checked: int = 0
    unnamed: int = 0
    conflicting: int = 0
    unnamed_examples: list[str] = field(default_factory=list)
    conflict_examples: list[str] = field(default_factory=list)
    by_pair: dict[tuple[int, str], Pair] = field(default_factory=dict)

    @property
    def disagreeing(self) -> int:
        return sum(pair.count for pair in self.by_pair.values())

    @property
    def pairs(self) -> list[Pair]:
        return sorted(self.by_pair.values(), key=Pair.order)

    def summary(self, what: str) -> str:
        return summarise(what, self.lines, self.pairs, self.unnamed, self.conflicting)

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "checked": self.checked,
            "unnamed": self.unnamed,
            "conflicting": self.conflicting,
            "disagreeing": self.disagreeing,
            "pairs": [pair.to_json() for pair in self.pairs],
            "unnamed_examples": list(self.unnamed_examples),
            "conflict_examples": list(self.conflict_examples),
        }


def audit_list(items: Sequence[Item], label_names: Sequence[str], name_of: NameOf) -> ListAudit:
    """Compare each line's label name with the class its video names; the counts and examples per pair."""
    ids = _ids_by_key(label_names)
    audit = ListAudit(lines=len(items))
    for item in items:
        label_name = _label_name(item, label_names)
        try:
            named = name_of(item.path)
        except NamingConflict as err:
            audit.conflicting += 1
            if len(audit.conflict_examples) < MAX_EXAMPLES:
                audit.conflict_examples.append(str(err))
            continue
        if named is None:
            audit.unnamed += 1
            if len(audit.unnamed_examples) < MAX_EXAMPLES:
                audit.unnamed_examples.append(item.path)
            continue
        audit.checked += 1
        if class_key(named) == class_key(label_name):
            continue
        pair_key = (item.label, class_key(named))
        if pair_key not in audit.by_pair:
            audit.by_pair[pair_key] = Pair(item.label, label_name, named, ids.get(class_key(named)))
        audit.by_pair[pair_key].add(item.path)
    return audit


def relabel_by_name(
    items: Sequence[Item], label_names: Sequence[str], name_of: NameOf
) -> tuple[list[Item], int]:
    """The `by_name` policy: each line's id becomes that of the class its video names; lines whose videos
    name no class keep their id. Returns the new items and how many changed.

    A named class outside `label_names` raises OutsideLabelSpaceError, and sources that disagree about a video
    raise NamingConflict: the list cannot follow names it cannot place.
    """
    ids = _ids_by_key(label_names)
    relabelled: list[Item] = []
    changed = 0
    for item in items:
        _label_name(item, label_names)
        named = name_of(item.path)
        label = item.label if named is None else ids.get(class_key(named))
        if label is None:
            raise OutsideLabelSpaceError(
                f"{item.path}: names the class {named!r}, which this list's {len(label_names)} labels lack"
            )
        changed += label != item.label
        relabelled.append(Item(item.path, label))
    return relabelled, changed


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word if count == 1 else word + 's'}"


def _ends(pair: Pair) -> list[tuple[tuple[bool, int], str]]:
    """The two classes of a pair in id order (a class outside the label file last)."""
    return sorted(
        ((named_id is None, named_id or 0), name)
        for named_id, name in ((pair.label_id, pair.label_name), (pair.named_id, pair.named))
    )


def _groups(pairs: Sequence[Pair]) -> list[str]:
    """Pairs as the classes they confuse: `a <-> b` where both directions occur, `a -> b` (labelled a, the
    video names b) where one does; the more lines first, then by ids."""
    groups: dict[frozenset[str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(frozenset({class_key(pair.label_name), class_key(pair.named)}), []).append(pair)
    ordered = sorted(groups.values(), key=lambda group: (-sum(p.count for p in group), _ends(group[0])[0][0]))
    shown = []
    for group in ordered:
        first = group[0]
        if len(group) == 1:
            shown.append(f"{first.label_name} -> {first.named}")
        else:
            (_, low), (_, high) = _ends(first)
            shown.append(f"{low} <-> {high}")
    return shown


def summarise(what: str, lines: int, pairs: Sequence[Pair], unnamed: int = 0, conflicting: int = 0) -> str:
    """One line a table note can quote, e.g. `4 class pairs disagree in 120 of 1,530 lines of val1.txt
    (kick ball <-> kick, sword exercise <-> sword)`."""
    disagreeing = sum(pair.count for pair in pairs)
    if pairs:
        verb = "disagrees" if len(pairs) == 1 else "disagree"
        text = (
            f"{_plural(len(pairs), 'class pair')} {verb} in {disagreeing:,} of {_plural(lines, 'line')} of "
            f"{what} ({', '.join(_groups(pairs))})"
        )
    else:
        text = f"no class pair disagrees in {_plural(lines, 'line')} of {what}"
    unchecked = [
        f"{_plural(count, 'line')} naming {what_named}"
        for count, what_named in ((unnamed, "no class"), (conflicting, "two classes"))
        if count
    ]
    return text + (f"; not checked: {', '.join(unchecked)}" if unchecked else "")


def _merge(pairs: Iterable[Pair]) -> list[Pair]:
    """Pairs of several lists summed by class names, since base and novel lists number the classes apart."""
    merged: dict[tuple[str, str], Pair] = {}
    for pair in pairs:
        key = (class_key(pair.label_name), class_key(pair.named))
        if key not in merged:
            merged[key] = Pair(pair.label_id, pair.label_name, pair.named, pair.named_id)
        merged[key].count += pair.count
    return sorted(merged.values(), key=Pair.order)


def _list_names(sources: Sequence[str]) -> str:
    names = [Path(source).name for source in sources]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _report(
    fmt: str, names: Path | None, policy: str, audits: Mapping[str, tuple[str, ListAudit]]
) -> dict[str, Any]:
    lists = {
        source: {"labels": labels, **audit.to_json(), "summary": audit.summary(Path(source).name)}
        for source, (labels, audit) in audits.items()
    }
    every = [audit for _, audit in audits.values()]
    totals = {
        key: sum(getattr(audit, key) for audit in every)
        for key in ("lines", "checked", "unnamed", "conflicting", "disagreeing")
    }
    merged = _merge(pair for audit in every for pair in audit.pairs)
    summary = summarise(
        _list_names(list(audits)), totals["lines"], merged, totals["unnamed"], totals["conflicting"]
    )
    return {
        "format": fmt,
        "names": None if names is None else str(names),
        "policy": policy,
        "lists": lists,
        "totals": {**totals, "lists": len(every), "pairs": len(merged)},
        "summary": summary,
    }


def _csv(audits: Mapping[str, tuple[str, ListAudit]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["list", "labels", "label_id", "label_name", "named", "named_id", "count", "examples"])
    for source, (labels, audit) in audits.items():
        writer.writerows(
            [source, labels, p.label_id, p.label_name, p.named, "" if p.named_id is None else p.named_id,
             p.count, ";".join(p.examples)]
            for p in audit.pairs
        )  # fmt: skip
    return buffer.getvalue()


def _log(audits: Mapping[str, tuple[str, ListAudit]], summary: str) -> None:
    for source, (_, audit) in audits.items():
        log.info("%s: %s", source, audit.summary(Path(source).name))
        for p in audit.pairs:
            log.warning(
                "  %s labelled %d %r name %r (e.g. %s)",
                _plural(p.count, "line"), p.label_id, p.label_name, p.named, p.examples[0],
            )  # fmt: skip
        for example in audit.unnamed_examples[:1]:
            log.warning("  e.g. %s names no class", example)
        for example in audit.conflict_examples[:1]:
            log.warning("  e.g. %s", example)
    log.info("audit: %s", summary)


def run_audit(
    fmt: str, lists: Sequence[tuple[Path, Path]], names: Path | None, policy: str, out: Path
) -> dict[str, Any]:
    """Audit each `(list, labels)`, write `out` (JSON) and the same name with `.csv`; return the report."""
    video_names = VideoNames.read(names) if names is not None else None
    label_lists = {labels: read_labels(labels) for _, labels in lists}
    for labels, label_names in label_lists.items():
        try:
            _ids_by_key(label_names)
        except AuditError as err:
            raise AuditError(f"{labels}: {err}") from None
    name_of = video_namer(fmt, [n for label_names in label_lists.values() for n in label_names], video_names)
    audits: dict[str, tuple[str, ListAudit]] = {}
    for path, labels in lists:
        label_names = label_lists[labels]
        items = read_list(path, num_classes=len(label_names))
        audits[str(path)] = (str(labels), audit_list(items, label_names, name_of))
    report = _report(fmt, names, policy, audits)
    write_json(out, report)
    write_text(out.with_suffix(".csv"), _csv(audits))
    _log(audits, report["summary"])
    return report
