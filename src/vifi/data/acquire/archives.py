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

Extraction also refuses to fill the disk: before anything is written, the sizes the archive declares (zip and
RAR headers; a tar's own size, since a compressed tar's content is only known while streaming) must fit into
the destination's free space with a margin to spare, and so must each member before it is written. An archive
that ends early, such as a split archive whose last part was cut short, is reported as truncated, naming the
part, and a missing part is named before anything is read.

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
# Left free after any extraction: a full disk breaks every other job on the machine. The 1% covers file system
# overhead (each file's last block, directories), which the declared sizes do not include.
SPACE_MARGIN = 64 << 20
SPACE_SLACK_PERCENT = 1
_RAR_MAGIC = b"Rar!\x1a\x07"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_DRIVE = re.compile(r"[A-Za-z]:")


class ArchiveError(RuntimeError):
    """An archive cannot be read or extracted; the message names the archive and, where known, the entry."""


class UnsafeArchiveError(ArchiveError):
    """An entry would write or point outside the extraction directory, or is a device node."""


class InsufficientSpaceError(ArchiveError):
    """What an archive declares does not fit into the destination's free space; names both byte counts."""


class TruncatedArchiveError(ArchiveError):
    """The archive (for a split archive: its joined parts) ends before its last entry or its end marker."""


class MissingPartError(ArchiveError):
    """A part of a split archive is absent; the message names each missing part's path."""


@dataclass(frozen=True)
class _Entry:
    """One archive member, format-neutral. `chunks` yields the content of files and is read exactly once."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink" or "special"
    link: str = ""
    chunks: Iterable[bytes] = ()
    size: int = 0  # what the archive's header declares for a file's content


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
            chunks = _chunks(functools.partial(tf.extractfile, member))
            yield _Entry(member.name, "file", chunks=chunks, size=member.size)
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
            chunks = _chunks(functools.partial(zf.open, info))
            yield _Entry(info.filename, "file", chunks=chunks, size=info.file_size)


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
                    yield _Entry(name, "file", chunks=entry.get_blocks(), size=entry.size or 0)
                else:
                    yield _Entry(name, "special")
    except libarchive.ArchiveError as err:
        message = str(err.msg)  # str(err) appends libarchive's return codes and a C pointer
        kind = TruncatedArchiveError if "truncated" in message.lower() else ArchiveError
        raise kind(message) from err


@contextlib.contextmanager
def _open_entries(path: Path) -> Iterator[Iterator[_Entry]]:
    fmt = detect_format(path)
    if fmt == "rar":
        yield _libarchive_entries(path)
        return
    with contextlib.ExitStack() as stack:
        try:
            if fmt == "zip":
                entries = _zip_entries(stack.enter_context(zipfile.ZipFile(path)))
            else:
                entries = _tar_entries(stack.enter_context(tarfile.open(path, mode="r:*")))
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
            raise ArchiveError(f"{path}: {err}") from err
        yield entries


def free_space(path: str | os.PathLike[str]) -> int:
    """Bytes free for an unprivileged writer on the file system holding `path`."""
    return shutil.disk_usage(path).free


def _human(size: int) -> str:
    """`size` in binary units, for messages that give the exact byte count too."""
    for exponent, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 1 << exponent:
            return f"{size / (1 << exponent):.1f} {unit}"
    return f"{size} B"


def _check_space(needed: int, root: Path, what: str) -> None:
    """Refuse to write `needed` bytes under `root` unless they fit with the margin and slack to spare."""
    spare = SPACE_MARGIN + needed * SPACE_SLACK_PERCENT // 100
    free = free_space(root)
    if needed + spare > free:
        raise InsufficientSpaceError(
            f"{what} needs {needed:,} bytes ({_human(needed)}) plus {_human(spare)} to spare, but only "
            f"{free:,} bytes ({_human(free)}) are free in {root}"
        )


def _declared_bytes(archive: Path) -> int:
    """What extracting `archive` writes, as far as is known before writing: the members' sizes from zip and
    RAR headers; for a tar, its own size, as a compressed tar's content is only known while it streams (each
    member is checked before it is written). Videos do not compress, so a tar of them holds about its size."""
    if detect_format(archive) == "tar":
        return archive.stat().st_size
    try:
        with _open_entries(archive) as entries:
            return sum(entry.size for entry in entries)
    except ArchiveError as err:
        raise type(err)(f"{archive}: {err}") from err


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


def _ends_early(err: BaseException) -> bool:
    """Whether reading stopped because the data ran out: gzip/bz2/xz streams raise EOFError, and tarfile this
    ReadError when a member's content is cut short."""
    return isinstance(err, EOFError) or (
        isinstance(err, tarfile.ReadError) and "unexpected end of data" in str(err)
    )


def _write_entries(entries: Iterable[_Entry], root: Path, source: object) -> list[Path]:
    """Write every entry under `root`, checking the free space before each file; errors name `source`."""
    root = Path(os.path.realpath(root))
    written: list[Path] = []
    current = None
    try:
        for entry in entries:
            current = entry.name
            if entry.kind == "file":
                _check_space(entry.size, root, f"entry {entry.name!r}")
            path = _write_entry(root, entry)
            if path is not None:
                written.append(path)
            current = None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError) as err:
        if _ends_early(err):
            where = f"in the middle of entry {current!r}" if current else f"after {len(written)} files"
            raise TruncatedArchiveError(f"{source}: ends {where} (truncated)") from err
        raise ArchiveError(f"{source}: {err}") from err
    except ArchiveError as err:
        raise type(err)(f"{source}: {err}") from err
    return written


def _extract_checked(archive: Path, root: Path) -> list[Path]:
    """Extract one archive into `root` once its declared size has passed the free-space check."""
    _check_space(_declared_bytes(archive), root, f"{archive}: extracting it")
    with _open_entries(archive) as entries:
        return _write_entries(entries, root, archive)


def _extract_nested(files: Sequence[Path], suffixes: Sequence[str]) -> list[Path]:
    """Extract archives found inside an archive next to where they lie, then delete them (one level only)."""
    written: list[Path] = []
    for path in files:
        if path.name.endswith(tuple(suffixes)):
            written += _extract_checked(path, path.parent)
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
    Raises InsufficientSpaceError before writing anything if the archive does not fit (see the module notes).
    """
    written = _extract_checked(Path(archive), Path(root))
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


class _EndAwareInfo(tarfile.TarInfo):
    """A TarInfo that notes on its TarFile (`stopped_by`) which header error ended the reading.

    tarfile ends an archive quietly where a header is missing or cut short, just as at the end-of-archive
    marker, so a joined archive whose data runs out between two members would otherwise lose the rest unseen.
    """

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tf)
        except tarfile.HeaderError as err:
            tf.stopped_by = err  # type: ignore[attr-defined]
            raise


def _part_size(path: Path) -> int:
    """Bytes one part contributes to the joined archive (a `.zip` wrapper: its member's size)."""
    if path.suffix != ".zip":
        return path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as err:
        raise ArchiveError(f"{path}: not a readable zip-wrapped part: {err}") from err


def _joined_tar(paths: Sequence[Path], root: Path, label: str) -> list[Path]:
    openers = [functools.partial(open_part, p) for p in paths]
    try:
        with (
            io.BufferedReader(_ConcatReader(openers), CHUNK) as stream,
            tarfile.open(fileobj=stream, mode="r|*", tarinfo=_EndAwareInfo) as tf,
        ):
            written = _write_entries(_tar_entries(tf), root, label)
            stop = getattr(tf, "stopped_by", None)
    except tarfile.TarError as err:  # only opening can raise it: `_write_entries` converts the rest
        raise ArchiveError(f"{label}: not a tar archive when joined: {err}") from err
    if isinstance(stop, tarfile.InvalidHeaderError):
        raise ArchiveError(f"{label}: an invalid header after {len(written)} files ({stop})")
    if not isinstance(stop, tarfile.EOFHeaderError):
        raise TruncatedArchiveError(
            f"{label}: ends after {len(written)} files, before its end-of-archive marker"
        )
    return written


def _joined_zip(paths: Sequence[Path], root: Path, label: str) -> list[Path]:
    """A zip needs random access, so the parts are first joined into a temporary file next to `root`."""
    with tempfile.NamedTemporaryFile(prefix=".joined-", suffix=".zip", dir=root.parent) as joined:
        with _ConcatReader([functools.partial(open_part, p) for p in paths]) as stream:
            shutil.copyfileobj(stream, joined, CHUNK)
        joined.flush()
        try:
            zf = zipfile.ZipFile(joined.name)
        except zipfile.BadZipFile as err:
            raise TruncatedArchiveError(
                f"{label}: ends without the zip directory that closes it ({err})"
            ) from err
        with zf:
            _check_space(sum(info.file_size for info in zf.infolist()), root, f"{label}: extracting it")
            return _write_entries(_zip_entries(zf), root, label)


def _short_parts(paths: Sequence[Path], sizes: Sequence[int]) -> str:
    """Parts are cut to one size, except the last; a smaller part before it was most likely cut short."""
    short = [f"{p} ({s:,} bytes)" for p, s in zip(paths[1:-1], sizes[1:-1], strict=True) if s < sizes[0]]
    if not short:
        return ""
    return f"; smaller than the first part ({sizes[0]:,} bytes), so probably truncated: {', '.join(short)}"


def extract_parts(
    parts: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str], *, nested: Sequence[str] = ()
) -> list[Path]:
    """Extract the archive formed by concatenating `parts` (in order) into the existing directory `root`.

    A joined tar (compressed or not) is streamed, so the 19 GB of SSv2 are never written twice; its members are
    checked against the free space as they arrive, after an up-front check of the parts' total size. A joined
    zip needs random access, so it is assembled first in a temporary file next to `root`, removed afterwards.
    A missing part raises MissingPartError before anything is read; data that ends early raises
    TruncatedArchiveError naming the last part, the one that looks truncated.
    """
    paths = [Path(p) for p in parts]
    if not paths:
        raise ArchiveError("no parts given")
    missing = [f"{p} (part {i + 1} of {len(paths)})" for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        raise MissingPartError(f"split archive: missing {', '.join(missing)}")
    root = Path(root)
    label = f"the archive joined from {paths[0]} .. {paths[-1].name} ({len(paths)} parts)"
    sizes = [_part_size(p) for p in paths]
    _check_space(sum(sizes), root, f"{label}: joining and extracting it")
    try:
        if _sniff_parts(paths[0]) == "tar":
            written = _joined_tar(paths, root, label)
        else:
            written = _joined_zip(paths, root, label)
    except TruncatedArchiveError as err:
        raise TruncatedArchiveError(
            f"{err}. Its last part, {paths[-1]}, looks truncated, or parts after it are missing: "
            "obtain it again"
        ) from err
    except ArchiveError as err:
        if type(err) is not ArchiveError:
            raise
        raise ArchiveError(f"{err}{_short_parts(paths, sizes)}") from err
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
