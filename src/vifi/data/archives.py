"""Safe extraction of the archive formats the datasets ship in.

UCF-101 is a RAR, HMDB-51 a RAR of 51 RARs, Kinetics a set of tar.gz parts, and Something-Something v2 a
tar.gz cut into numbered parts (each possibly wrapped in a zip). Archives from the internet can carry entries
that write outside the target (`../x`, `/etc/x`, a symlink to `/` followed by `link/x`) or device nodes, and
`tarfile`, `zipfile` and libarchive each guard against a different subset. So every format is read as a
plain stream of entries and one writer does all the checking and writing:

- names must be relative and free of `..`; device nodes, FIFOs and sockets are refused;
- symlinks and hardlinks must resolve inside the target, and every directory is entered only after checking
  that its real path is inside the target, so nothing reaches outside through a link created earlier;
- file contents are written with `O_NOFOLLOW | O_EXCL`, never through an existing link.

`extract` writes into a temporary sibling directory and renames it over the target only when complete.
RAR support comes from libarchive (the `libarchive-c` binding and the system library, Debian `libarchive13`);
tar and zip need only the standard library.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import stat
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1 << 20
_RAR_MAGIC = b"Rar!\x1a\x07"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_DRIVE = re.compile(r"[A-Za-z]:")


class ArchiveError(RuntimeError):
    """An archive cannot be read or extracted; the message names the archive and, where known, the entry."""


class UnsafeArchiveError(ArchiveError):
    """An entry would write or point outside the extraction directory, or is a device node."""


@dataclass(frozen=True)
class _Entry:
    """One archive member, format-neutral. `chunks` yields the content of files and is read exactly once."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink" or "special"
    link: str = ""
    chunks: Iterable[bytes] = ()


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return "rar", "zip" or "tar" from the file's content, since names (`.tgz`, no suffix) are unreliable."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_RAR_MAGIC):
        return "rar"
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise ArchiveError(f"{path}: not a RAR, zip or tar archive (first bytes {head!r})")


def _chunks(opener: Callable[[], IO[bytes] | None]) -> Iterator[bytes]:
    """Content of one member, opened only when the writer starts reading it (and closed when done)."""
    fh = opener()
    if fh is None:
        return
    with fh:
        yield from iter(lambda: fh.read(CHUNK), b"")


def _tar_entries(tf: tarfile.TarFile) -> Iterator[_Entry]:
    for member in tf:
        if member.isdir():
            yield _Entry(member.name, "dir")
        elif member.issym():
            yield _Entry(member.name, "symlink", member.linkname)
        elif member.islnk():
            yield _Entry(member.name, "hardlink", member.linkname)
        elif member.isreg():
            yield _Entry(member.name, "file", chunks=_chunks(functools.partial(tf.extractfile, member)))
        else:
            yield _Entry(member.name, "special")


def _zip_entries(zf: zipfile.ZipFile) -> Iterator[_Entry]:
    """Zip has no link type: Unix tools store a symlink as S_IFLNK mode bits with the target as content."""
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if info.is_dir() or stat.S_ISDIR(mode):
            yield _Entry(info.filename, "dir")
        elif stat.S_ISLNK(mode):
            yield _Entry(info.filename, "symlink", zf.read(info).decode("utf-8"))
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            yield _Entry(info.filename, "special")
        else:
            yield _Entry(info.filename, "file", chunks=_chunks(functools.partial(zf.open, info)))


def _libarchive_entries(path: Path) -> Iterator[_Entry]:
    try:
        import libarchive
    except (ImportError, OSError) as err:  # OSError: the binding is there but the C library is not
        raise ArchiveError(
            "RAR extraction needs the libarchive-c package and the libarchive C library "
            f"(Debian/Ubuntu: apt-get install libarchive13): {err}"
        ) from err
    try:
        with libarchive.file_reader(str(path)) as archive:
            for entry in archive:
                name = entry.pathname or ""
                if entry.isdir:
                    yield _Entry(name, "dir")
                elif entry.issym:
                    yield _Entry(name, "symlink", entry.linkpath or "")
                elif entry.islnk:
                    yield _Entry(name, "hardlink", entry.linkpath or "")
                elif entry.isreg:
                    yield _Entry(name, "file", chunks=entry.get_blocks())
                else:
                    yield _Entry(name, "special")
    except libarchive.ArchiveError as err:
        raise ArchiveError(str(err)) from err


@contextlib.contextmanager
def _open_entries(path: Path) -> Iterator[Iterator[_Entry]]:
    fmt = detect_format(path)
    if fmt == "rar":
        yield _libarchive_entries(path)
    elif fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            yield _zip_entries(zf)
    else:
        with tarfile.open(path, mode="r:*") as tf:
            yield _tar_entries(tf)


def _safe_relpath(name: str) -> PurePosixPath | None:
    """The entry name as a path relative to the target, or None for the target itself (`./`).

    Backslashes count as separators: archives made on Windows use them, and `..\\x` must not slip through.
    """
    if "\x00" in name:
        raise UnsafeArchiveError(f"entry {name!r}: NUL byte in name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise UnsafeArchiveError(f"entry {name!r}: absolute path")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"entry {name!r}: path traversal ('..')")
    return PurePosixPath(*parts) if parts else None


def _inside(path: str | os.PathLike[str], root: Path) -> bool:
    return Path(path) == root or root in Path(path).parents


def _ensure_dir(root: Path, rel: PurePosixPath, name: str) -> Path:
    """Create `root/rel` one component at a time and return its real path.

    Each existing component is resolved before it is entered, so a symlink made by an earlier entry cannot
    lead a later one outside `root` (`os.makedirs` would follow it blindly).
    """
    current = root
    for part in rel.parts:
        current = current / part
        if current.is_symlink() or current.exists():
            real = Path(os.path.realpath(current))
            if not _inside(real, root):
                raise UnsafeArchiveError(f"entry {name!r}: {current.relative_to(root)} leads outside")
            if not real.is_dir():
                raise ArchiveError(f"entry {name!r}: {current.relative_to(root)} exists and is not a directory")
            current = real
        else:
            current.mkdir()
    return current


def _clear(dest: Path, name: str) -> None:
    """Make room for a later entry of the same name, as tar does, but never replace a directory."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        raise ArchiveError(f"entry {name!r}: a directory of that name already exists")


def _write_file(dest: Path, chunks: Iterable[bytes]) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)


def _write_symlink(root: Path, parent: Path, dest: Path, entry: _Entry) -> None:
    target = entry.link
    if not target or target.startswith("/") or _DRIVE.match(target) or "\x00" in target:
        raise UnsafeArchiveError(f"entry {entry.name!r}: symlink to absolute or empty target {target!r}")
    if not _inside(os.path.realpath(parent / target), root):
        raise UnsafeArchiveError(f"entry {entry.name!r}: symlink target {target!r} is outside the target")
    os.symlink(target, dest)


def _write_hardlink(root: Path, dest: Path, entry: _Entry) -> None:
    """A hardlink names, relative to the archive root (not to the link), a file extracted before it."""
    try:
        rel = _safe_relpath(entry.link)
    except UnsafeArchiveError:
        rel = None
    source = Path(os.path.realpath(root / rel)) if rel else None
    if source is None or not _inside(source, root):
        raise UnsafeArchiveError(f"entry {entry.name!r}: hardlink target {entry.link!r} is outside the target")
    if not source.is_file():
        raise ArchiveError(f"entry {entry.name!r}: hardlink target {entry.link!r} was not extracted before it")
    os.link(source, dest)


def _write_entry(root: Path, entry: _Entry) -> Path | None:
    """Write one entry under `root` (a real path); return the path of a regular file written, else None."""
    rel = _safe_relpath(entry.name)
    if entry.kind == "special":
        raise UnsafeArchiveError(f"entry {entry.name!r}: device nodes, FIFOs and sockets are not extracted")
    if rel is None:
        return None
    if entry.kind == "dir":
        _ensure_dir(root, rel, entry.name)
        return None
    parent = _ensure_dir(root, rel.parent, entry.name)
    dest = parent / rel.name
    _clear(dest, entry.name)
    if entry.kind == "symlink":
        _write_symlink(root, parent, dest, entry)
        return None
    if entry.kind == "hardlink":
        _write_hardlink(root, dest, entry)
        return None
    _write_file(dest, entry.chunks)
    return dest


def _write_entries(entries: Iterable[_Entry], root: Path, source: object) -> list[Path]:
    root = Path(os.path.realpath(root))
    written: list[Path] = []
    try:
        for entry in entries:
            path = _write_entry(root, entry)
            if path is not None:
                written.append(path)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{source}: {err}") from err
    except ArchiveError as err:
        raise type(err)(f"{source}: {err}") from err
    return written


def _extract_nested(files: Sequence[Path], suffixes: Sequence[str]) -> list[Path]:
    """Extract archives found inside an archive next to where they lie, then delete them (one level only)."""
    written: list[Path] = []
    for path in files:
        if path.name.endswith(tuple(suffixes)):
            with _open_entries(path) as entries:
                written += _write_entries(entries, path.parent, path)
            path.unlink()
        else:
            written.append(path)
    return written


def extract_into(
    archive: str | os.PathLike[str], root: str | os.PathLike[str], *, nested: Sequence[str] = ()
) -> list[Path]:
    """Extract `archive` into the existing directory `root`; return the regular files written.

    Archives inside it whose names end with one of `nested` are extracted in place and removed. This writes
    straight into `root`: callers that need all-or-nothing extract into a temporary directory (see `extract`).
    """
    archive = Path(archive)
    with _open_entries(archive) as entries:
        written = _write_entries(entries, Path(root), archive)
    return _extract_nested(written, nested) if nested else written


class _ConcatReader(io.RawIOBase):
    """Read several streams back to back, opening each only when the previous one is exhausted."""

    def __init__(self, openers: Sequence[Callable[[], IO[bytes]]]) -> None:
        super().__init__()
        self._openers = list(openers)
        self._current: IO[bytes] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        while True:
            if self._current is None:
                if not self._openers:
                    return 0
                self._current = self._openers.pop(0)()
            data = self._current.read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


def open_part(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open one part of a split archive; a `.zip` part is a wrapper whose single member is the part itself.

    Qualcomm ships Something-Something v2 as `20bn-something-something-v2-NN.zip`, each holding the bare part
    `20bn-something-something-v2-NN` that the original TwentyBN download served directly.
    """
    path = Path(path)
    if path.suffix != ".zip":
        return open(path, "rb")
    zf = zipfile.ZipFile(path)
    members = [info for info in zf.infolist() if not info.is_dir()]
    if len(members) != 1:
        zf.close()
        raise ArchiveError(f"{path}: expected a zip holding one part, found {len(members)} members")
    inner = zf.open(members[0])
    zf.close()  # the member stream keeps the file open until it is closed itself
    return inner


def _sniff_parts(first: Path) -> str:
    with open_part(first) as fh:
        head = fh.read(512)
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if head.startswith(_RAR_MAGIC):
        raise ArchiveError(f"{first}: parts that join into a RAR are not supported (multi-volume RAR)")
    return "tar"


def extract_parts(
    parts: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str], *, nested: Sequence[str] = ()
) -> list[Path]:
    """Extract the archive formed by concatenating `parts` (in order) into the existing directory `root`.

    A joined tar (compressed or not) is streamed, so the 19 GB of SSv2 are never written twice. A joined zip
    needs random access, so it is assembled first in a temporary file next to `root`, removed afterwards.
    """
    paths = [Path(p) for p in parts]
    if not paths:
        raise ArchiveError("no parts given")
    root = Path(root)
    openers = [functools.partial(open_part, p) for p in paths]
    label = f"{paths[0]} (+{len(paths) - 1} parts)"
    if _sniff_parts(paths[0]) == "tar":
        try:
            with (
                io.BufferedReader(_ConcatReader(openers), CHUNK) as stream,
                tarfile.open(fileobj=stream, mode="r|*") as tf,
            ):
                written = _write_entries(_tar_entries(tf), root, label)
        except tarfile.TarError as err:  # only opening can raise it: `_write_entries` converts the rest
            raise ArchiveError(f"{label}: not a tar archive when joined: {err}") from err
    else:
        with tempfile.NamedTemporaryFile(prefix=".joined-", suffix=".zip", dir=root.parent) as joined:
            with _ConcatReader(openers) as stream:
                shutil.copyfileobj(stream, joined, CHUNK)
            joined.flush()
            with zipfile.ZipFile(joined.name) as zf:
                written = _write_entries(_zip_entries(zf), root, label)
    return _extract_nested(written, nested) if nested else written


def check_links(root: str | os.PathLike[str]) -> None:
    """Refuse a tree holding any symlink that resolves outside `root`.

    Each link is checked when written, but a later link can redirect an earlier one (`a -> b/..` written
    before `b -> .`), so a finished tree gets one last look before it is published.
    """
    root = Path(os.path.realpath(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            if path.is_symlink() and not _inside(os.path.realpath(path), root):
                raise UnsafeArchiveError(
                    f"{path.relative_to(root)} -> {os.readlink(path)} resolves outside {root}"
                )


def publish_dir(tmp: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Move the finished directory `tmp` onto `dest`, replacing any old `dest` only once `tmp` is complete."""
    tmp, dest = Path(tmp), Path(dest)
    os.chmod(tmp, 0o755)  # mkdtemp made it private; the published tree should read like any other output
    if dest.exists() or dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex}")
        os.rename(dest, old)
        os.rename(tmp, dest)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
    else:
        os.rename(tmp, dest)


@contextlib.contextmanager
def staging_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling of `dest` that is published onto `dest` if the block succeeds, else removed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        check_links(tmp)
        publish_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def extract(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, nested: Sequence[str] = ()
) -> Path:
    """Extract `archive` to the directory `dest`, which appears (or is replaced) only once complete."""
    with staging_dir(dest) as tmp:
        extract_into(archive, tmp, nested=nested)
    return Path(dest)
