"""Tiny datasets in the packaging their publishers serve, for running paper mode's download stage offline.

`package` turns a dataset folder in the layout that `vifi download` produces (the comment at the top of
`vifi/data/acquire/registry.yaml`) back into the files the publisher serves, named as the registry names them:
UCF-101 as a RAR and a zip, HMDB-51 as a RAR of per-class RARs and a RAR of split files, Kinetics as URL lists
of tar.gz parts plus annotation files, Something-Something v2 as a tar.gz cut into numbered parts plus a labels
zip. `test_registry` is the packaged registry pointed at a server of those files. Together they let a test serve
a miniature of each dataset (from 127.0.0.1) and run the real download, verification and extraction.

Which folder of the layout each published file holds is the one piece of knowledge here that the registry
does not state (`_CONTENT`); everything else (names, formats, where each file is extracted, nesting) is read
from the registry, so the packaging follows it. Output is deterministic: fixed timestamps in every archive.

RAR archives are written by `write_rar`, from the RAR 1.5-4.x block layout (marker block, archive header, one
file header per member, end block), with stored members: no `rar` program is available, and libarchive, the
project's RAR reader, reads RAR but cannot write it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from vifi.data.acquire.registry import FileSpec, load_registry, parse_registry

# Registry file name -> the folder, relative to the file's `extract_to`, whose files it holds ("" = all).
_CONTENT = {
    "ucf101": {"UCF101.rar": "UCF-101", "UCF101TrainTestSplits-RecognitionTask.zip": "ucfTrainTestlist"},
    "hmdb51": {"hmdb51_org.rar": "", "test_train_splits.rar": "testTrainMulti_7030_splits"},
    "kinetics400": {
        "train/k400_train_path.txt": "",
        "val/k400_val_path.txt": "",
        "replacement_for_corrupted_k400.tgz": "",
    },
    "kinetics600": {
        "train/k600_train_path.txt": "",
        "val/k600_val_path.txt": "",
        "test/k600_test_path.txt": "",
    },
    "ssv2": {
        "20bn-something-something-download-package-labels.zip": "labels",
        "20bn-something-something-v2": "20bn-something-something-v2",
    },
}
# 2011-06-01 12:00:00, as (date << 16) | time in MS-DOS encoding: every archive member gets this timestamp.
_DOS_TIME = ((2011 - 1980) << 9 | 6 << 5 | 1) << 16 | 12 << 11
_ZIP_TIME = (2011, 6, 1, 12, 0, 0)

# RAR 1.5-4.x block types and flags (the technical note shipped with RAR, `technote.txt`).
_RAR_MARKER = b"Rar!\x1a\x07\x00"
_MAIN_HEAD, _FILE_HEAD, _END_HEAD = 0x73, 0x74, 0x7B
_LONG_BLOCK = 0x8000  # a file block: data of PACK_SIZE bytes follows the header
_DIRECTORY = 0xE0  # dictionary-size bits all set: the entry is a directory
_END_FLAGS = 0x4000  # as WinRAR writes the end block
_WIN32, _ATTR_FILE, _ATTR_DIR = 2, 0x20, 0x10  # host OS Windows: DOS attributes "archive" and "directory"
_STORE, _VERSION_20 = 0x30, 20


def _rar_block(kind: int, flags: int, fields: bytes, data: bytes = b"") -> bytes:
    """One block: HEAD_CRC, HEAD_TYPE, HEAD_FLAGS, HEAD_SIZE, the type's fields, then any data.

    HEAD_CRC is the low 16 bits of the CRC32 of the header from HEAD_TYPE to its end; HEAD_SIZE counts the
    whole header, the CRC included (7 bytes plus the fields), not the data.
    """
    header = struct.pack("<BHH", kind, flags, 7 + len(fields)) + fields
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header + data


def _rar_file(name: str, data: bytes | None) -> bytes:
    """A file header with stored `data`, or a directory header where `data` is None."""
    content = data or b""
    if len(content) >= 1 << 32:
        raise ValueError(f"{name}: {len(content)} bytes; members of 4 GiB or more need the large-file fields")
    try:
        encoded = name.replace("/", "\\").encode("ascii")  # WinRAR's separator; non-ASCII needs Unicode names
    except UnicodeEncodeError as err:
        raise ValueError(f"{name!r}: only ASCII member names are written") from err
    fields = struct.pack(
        "<IIBIIBBHI",
        len(content),  # PACK_SIZE
        len(content),  # UNP_SIZE: the same, as members are stored
        _WIN32,  # HOST_OS
        zlib.crc32(content),  # FILE_CRC of the unpacked data
        _DOS_TIME,  # FTIME
        _VERSION_20,  # UNP_VER: version needed to extract, 2.0
        _STORE,  # METHOD
        len(encoded),  # NAME_SIZE
        _ATTR_DIR if data is None else _ATTR_FILE,  # ATTR
    )
    flags = _LONG_BLOCK | (_DIRECTORY if data is None else 0)
    return _rar_block(_FILE_HEAD, flags, fields + encoded, content)


def rar_bytes(members: Sequence[tuple[str, bytes | None]]) -> bytes:
    """A RAR 4.x archive of `(name, data)` members, stored; data None makes a directory entry."""
    blocks = [_RAR_MARKER, _rar_block(_MAIN_HEAD, 0, bytes(6))]  # RESERVED1 (2 bytes), RESERVED2 (4)
    blocks += [_rar_file(name, data) for name, data in members]
    blocks.append(_rar_block(_END_HEAD, _END_FLAGS, b""))
    return b"".join(blocks)


def write_rar(path: str | Path, members: Sequence[tuple[str, bytes | None]]) -> Path:
    """Write `rar_bytes(members)` to `path`."""
    Path(path).write_bytes(rar_bytes(members))
    return Path(path)


# --- the other formats, deterministic -------------------------------------------------------------------------


def _tar_gz(members: Sequence[tuple[str, bytes | None]]) -> bytes:
    """A gzipped tar with mtime 0 throughout; data None makes a directory entry."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.size, info.mode = len(data), 0o644
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _zip(members: Sequence[tuple[str, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name + ("/" if data is None else ""), _ZIP_TIME), data or b"")
    return buffer.getvalue()


# --- packaging ------------------------------------------------------------------------------------------------


def _members(base: Path, folder: Path, *, dirs: bool) -> list[tuple[str, bytes | None]]:
    """Every file under `folder`, named relative to `base`, preceded by its directories if `dirs`."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    names = [p.relative_to(base).as_posix() for p in files]
    members: list[tuple[str, bytes | None]] = []
    if dirs:
        parents = {
            str(parent) for name in names for parent in PurePosixPath(name).parents if str(parent) != "."
        }
        members += [(d, None) for d in sorted(parents)]
    return members + [(name, p.read_bytes()) for name, p in zip(names, files, strict=True)]


def _chunks(items: Sequence[Any], n: int) -> list[Sequence[Any]]:
    """`items` in `n` contiguous, nearly equal runs (none empty unless `items` is)."""
    n = max(1, min(n, len(items)))
    return [items[i * len(items) // n : (i + 1) * len(items) // n] for i in range(n)]


def _cut(data: bytes, parts: int) -> list[bytes]:
    """Cut as `split -b` does: parts of one size but the last, which may be shorter (never empty)."""
    size = -(-len(data) // parts)
    if size * (parts - 1) >= len(data):
        raise ValueError(f"{len(data)} bytes are too few to cut into {parts} non-empty parts")
    return [data[i * size : (i + 1) * size] for i in range(parts)]


@dataclasses.dataclass(frozen=True)
class _Packer:
    """Writes the served files of one dataset under `out`, recording each one's path relative to `out`."""

    key: str
    out: Path
    base_url: str
    parts: int
    zip_parts: bool
    served: dict[str, Path] = dataclasses.field(default_factory=dict)

    def write(self, name: str, data: bytes) -> None:
        path = self.out / self.key / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.served[f"{self.key}/{name}"] = path

    def url(self, name: str) -> str:
        return f"{self.base_url}/{self.key}/{name}"

    def file(self, spec: FileSpec, base: Path, folder: Path) -> None:
        source = base / spec.name
        if not source.is_file():
            raise ValueError(f"{source}: missing; the registry's {self.key} serves it as {spec.name}")
        self.write(spec.name, source.read_bytes())

    def rar(self, spec: FileSpec, base: Path, folder: Path) -> None:
        if not spec.nested:
            self.write(spec.name, rar_bytes(_members(base, folder, dirs=True)))
            return
        inner = sorted(folder.iterdir()) if folder.is_dir() else []
        loose = [p for p in inner if not p.is_dir()]
        if loose:
            raise ValueError(f"{loose[0]}: {spec.name} holds one archive per class folder, not loose files")
        members = [(f"{d.name}{spec.nested[0]}", rar_bytes(_members(base, d, dirs=True))) for d in inner]
        self.write(spec.name, rar_bytes(members))

    def zip(self, spec: FileSpec, base: Path, folder: Path) -> None:
        self.write(spec.name, _zip(_members(base, folder, dirs=True)))

    def tar_gz(self, spec: FileSpec, base: Path, folder: Path) -> None:
        self.write(spec.name, _tar_gz(_members(base, folder, dirs=False)))

    def url_list(self, spec: FileSpec, base: Path, folder: Path) -> None:
        """Kinetics: tarballs of clips (no folders) next to the list, which gives their URLs."""
        where = PurePosixPath(spec.name).parent
        names = []
        for i, chunk in enumerate(_chunks(_members(base, folder, dirs=False), self.parts)):
            names.append(str(where / f"part_{i}.tar.gz"))
            self.write(names[-1], _tar_gz(chunk))
        self.write(spec.name, "".join(f"{self.url(name)}\n" for name in names).encode())

    def split(self, spec: FileSpec, base: Path, folder: Path) -> None:
        """SSv2: a tar.gz of the folder cut into parts, bare (TwentyBN) or each wrapped in a zip (Qualcomm)."""
        names = dataclasses.replace(spec, parts=self.parts).part_names()
        for name, data in zip(names, _cut(_tar_gz(_members(base, folder, dirs=True)), self.parts), strict=True):
            if self.zip_parts:
                self.write(f"{name}.zip", _zip([(name, data)]))
            else:
                self.write(name, data)


_WRITERS = {
    "file": _Packer.file,
    "rar": _Packer.rar,
    "zip": _Packer.zip,
    "tar.gz": _Packer.tar_gz,
    "url-list": _Packer.url_list,
    "split": _Packer.split,
}


def package(
    fmt: str, root: str | Path, out: str | Path, base_url: str, *, parts: int = 3, zip_parts: bool = False
) -> dict[str, Path]:
    """Write the files the publisher of dataset `fmt` (a registry key) serves for the folder `root`.

    `root` is in the layout `vifi download` extracts to. The files go under `out/<fmt>/`, named as the
    registry names them; the Kinetics URL lists point at `<base_url>/<fmt>/...`. `parts` is the number of
    SSv2 parts and the most tarballs per Kinetics split; `zip_parts` wraps each SSv2 part in a zip as
    Qualcomm ships them. Returns each served file's path relative to `out` (`<fmt>/<name>`, the path under
    `base_url` too) -> its path on disk.

    Raises ValueError for a file of `root` that no published file holds, as it would not come back.
    """
    root, out = Path(root), Path(out)
    packer = _Packer(fmt, out, base_url.rstrip("/"), parts, zip_parts)
    claimed: set[Path] = set()
    for spec in load_registry().dataset(fmt).files:
        base = root / spec.extract_to
        folder = base / _CONTENT[fmt].get(spec.name, "")
        _WRITERS[spec.format](packer, spec, base, folder)
        claimed |= {base / spec.name} if spec.format == "file" else set(folder.rglob("*"))
    stray = sorted(p for p in root.rglob("*") if p.is_file() and p not in claimed)
    if stray:
        raise ValueError(
            f"{stray[0]}: no file the publisher of {fmt} serves holds it ({len(stray)} such files)"
        )
    return packer.served


def test_registry(base_url: str, served: dict[str, Path], parts: int) -> dict[str, Any]:
    """The packaged registry, as a document to dump to YAML, pointed at a server of `package`'s files.

    Every URL moves under `base_url` (`<base_url>/<dataset>/<name>`; checkpoints `<base_url>/weights/<file>`),
    the checksums of the files in `served` become theirs, and split files get `parts` parts. Nothing else
    changes: SSv2 stays `access: manual`, files without a checksum stay without one.
    """
    base_url = base_url.rstrip("/")
    text = resources.files("vifi.data.acquire").joinpath("registry.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    for key, dataset in raw["datasets"].items():
        for entry in dataset["files"]:
            _retarget(entry, f"{key}/{entry['name']}", base_url, served)
            if entry["format"] == "split":
                entry["parts"] = parts
    for weights in raw["weights"].values():
        name = f"weights/{PurePosixPath(weights['url']).name}"
        _retarget(weights, name, base_url, served)
    parse_registry(raw, "test registry")
    return raw


test_registry.__test__ = False  # type: ignore[attr-defined]  # a helper: pytest must not collect it where imported


def _retarget(entry: dict[str, Any], name: str, base_url: str, served: dict[str, Path]) -> None:
    """Point one registry entry at `base_url/name` and, if it carries checksums and is served, at its bytes."""
    if entry.get("url"):
        entry["url"] = f"{base_url}/{name}"
    if name not in served:
        return
    for kind in ("sha256", "md5"):
        if entry.get(kind):
            entry[kind] = hashlib.new(kind, served[name].read_bytes()).hexdigest()
