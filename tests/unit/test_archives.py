"""Safe extraction: every official format extracts, and no hostile entry writes or points outside the target.

RAR archives cannot be created with the tools available here (no `rar` program), so `make_rar` writes RAR 4.x
archives with stored (uncompressed) members directly from the block layout of the RAR 4.x technical note:
that is enough to exercise the real RAR reader (libarchive) on names, links, device nodes and nesting, but
not its decompression of the compressed members that real UCF-101/HMDB-51 archives contain.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from vifi.data.acquire import archives
from vifi.data.acquire import download as dl
from vifi.data.acquire.archives import (
    SPACE_MARGIN,
    SPACE_SLACK_PERCENT,
    ArchiveError,
    InsufficientSpaceError,
    MissingPartError,
    TruncatedArchiveError,
    UnsafeArchiveError,
    check_links,
    detect_format,
    extract,
    extract_into,
    extract_parts,
)
from vifi.data.acquire.registry import DatasetSpec, FileSpec
from vifi.stages import download as download_stage

# One member: (name, content, mode, link target). Link targets only matter for symlinks and hardlinks.
Member = tuple[str, bytes, int, str]
REG, DIR, SYM = stat.S_IFREG | 0o644, stat.S_IFDIR | 0o755, stat.S_IFLNK | 0o777
HARD = 0  # a marker: tar's hardlink type carries no file-type bits of its own


def file_(name: str, data: bytes = b"data") -> Member:
    return (name, data, REG, "")


def symlink(name: str, target: str) -> Member:
    return (name, b"", SYM, target)


def make_tar(path: Path, members: list[Member], compression: str = "gz") -> Path:
    with tarfile.open(path, f"w:{compression}") as tf:
        for name, data, mode, link in members:
            info = tarfile.TarInfo(name)
            if mode == HARD:
                info.type, info.linkname = tarfile.LNKTYPE, link
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, link
            elif stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISCHR(mode):
                info.type = tarfile.CHRTYPE
            elif stat.S_ISBLK(mode):
                info.type = tarfile.BLKTYPE
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
            info.mode, info.size = stat.S_IMODE(mode), len(data) if stat.S_ISREG(mode) else 0
            tf.addfile(info, io.BytesIO(data) if stat.S_ISREG(mode) else None)
    return path


def make_zip(path: Path, members: list[Member]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode, link in members:
            info = zipfile.ZipInfo(name + ("/" if stat.S_ISDIR(mode) else ""))
            info.external_attr = (mode & 0xFFFF) << 16
            zf.writestr(info, link.encode() if stat.S_ISLNK(mode) else data)
    return path


def _rar_block(kind: int, flags: int, body: bytes, data: bytes = b"") -> bytes:
    header = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header + data


def make_rar(path: Path, members: list[Member]) -> Path:
    """A RAR 4.x archive of stored members made on Unix (host OS 3, so the mode bits are Unix modes).

    Names use backslashes, as WinRAR writes them; a symlink's content is its target, as `rar` stores it.
    """
    out = b"Rar!\x1a\x07\x00" + _rar_block(0x73, 0, struct.pack("<HI", 0, 0))  # marker, archive header
    for name, data, mode, link in members:
        content = link.encode() if stat.S_ISLNK(mode) else data
        encoded = name.replace("/", "\\").encode()
        flags = 0x8000 | (0xE0 if stat.S_ISDIR(mode) else 0)  # 0x8000: sizes follow; 0xE0: directory
        body = struct.pack(
            "<IIBIIBBHI",
            len(content),  # packed size
            len(content),  # unpacked size: the same, as members are stored
            3,  # host OS: Unix
            zlib.crc32(content),
            0x00210000,  # DOS date and time: 1980-01-01 00:00
            20,  # RAR version needed to extract: 2.0
            0x30,  # method: store
            len(encoded),
            mode,  # attributes: Unix mode bits, since the host OS is Unix
        )
        out += _rar_block(0x74, flags, body + encoded, content)
    path.write_bytes(out + _rar_block(0x7B, 0x4000, b""))
    return path


MAKERS: dict[str, Callable[[Path, list[Member]], Path]] = {
    "tar.gz": lambda p, m: make_tar(p.with_suffix(".tar.gz"), m),
    "zip": lambda p, m: make_zip(p.with_suffix(".zip"), m),
    "rar": lambda p, m: make_rar(p.with_suffix(".rar"), m),
}


def tree(root: Path) -> dict[str, bytes | str]:
    """Every path under `root`: file content, `-> target` for links, `dir` for directories."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A work directory with a neighbour `outside/` holding a secret, to prove nothing escapes into it."""
    (tmp_path / "work").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"secret")
    return tmp_path / "work"


def assert_untouched(site: Path, archive: Path) -> None:
    """Nothing was published and no temporary directory was left; the neighbour is unchanged."""
    assert sorted(p.name for p in site.iterdir()) == [archive.name]
    assert tree(site.parent / "outside") == {"secret": b"secret"}


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_benign_archive_extracts(site: Path, fmt: str) -> None:
    members = [(f"UCF-101/Cls{i}/", b"", DIR, "") for i in range(2)] + [
        file_("UCF-101/Cls0/v_Cls0_g01_c01.avi", b"\x00video0" * 1000),
        file_("UCF-101/Cls1/v_Cls1_g01_c01 (copy)+!.avi", b"video1"),
        symlink("UCF-101/latest.avi", "Cls0/v_Cls0_g01_c01.avi"),
    ]
    archive = MAKERS[fmt](site / "a", members)
    out = extract(archive, site / "out")
    assert tree(out) == {
        "UCF-101": "dir",
        "UCF-101/Cls0": "dir",
        "UCF-101/Cls0/v_Cls0_g01_c01.avi": b"\x00video0" * 1000,
        "UCF-101/Cls1": "dir",
        "UCF-101/Cls1/v_Cls1_g01_c01 (copy)+!.avi": b"video1",
        "UCF-101/latest.avi": "-> Cls0/v_Cls0_g01_c01.avi",
    }
    assert sorted(p.name for p in site.iterdir()) == sorted([archive.name, "out"])


HOSTILE: dict[str, list[Member]] = {
    "traversal": [file_("ok.txt"), file_("../outside/evil")],
    "nested traversal": [file_("a/b/../../../outside/evil")],
    "backslash traversal": [file_("..\\outside\\evil")],
    "absolute": [file_("/tmp/vifi-absolute-evil")],
    "symlink escape then write through it": [symlink("link", "../outside"), file_("link/evil")],
    "symlink to absolute target": [symlink("link", "/etc")],
    "symlink deep escape": [("d/", b"", DIR, ""), symlink("d/link", "../../outside/secret")],
    "char device": [("dev", b"", stat.S_IFCHR | 0o644, "")],
    "block device": [("ok.txt", b"data", REG, ""), ("sda", b"", stat.S_IFBLK | 0o660, "")],
    "fifo": [("fifo", b"", stat.S_IFIFO | 0o644, "")],
}


# tar keeps a backslash as part of the name (only zip and RAR writers use it as a separator)
@pytest.mark.parametrize(
    ("fmt", "case"),
    [(f, c) for f in sorted(MAKERS) for c in sorted(HOSTILE) if (f, c) != ("tar.gz", "backslash traversal")],
)
def test_hostile_entries_are_refused(site: Path, fmt: str, case: str) -> None:
    archive = MAKERS[fmt](site / "a", HOSTILE[case])
    with pytest.raises(UnsafeArchiveError, match=r"outside|absolute|traversal|device"):
        extract(archive, site / "out")
    assert_untouched(site, archive)
    assert not Path("/tmp/vifi-absolute-evil").exists()


@pytest.mark.parametrize("target", ["../outside/secret", "{outside}/secret", "a/../../outside/secret"])
def test_tar_hardlink_escape_is_refused(site: Path, target: str) -> None:
    target = target.format(outside=site.parent / "outside")
    archive = make_tar(site / "a.tar", [file_("a/x"), ("h", b"", HARD, target)], "")
    with pytest.raises(UnsafeArchiveError, match=r"hardlink target .* outside"):
        extract(archive, site / "out")
    assert_untouched(site, archive)


def test_tar_hardlink_inside_is_kept(site: Path) -> None:
    archive = make_tar(site / "a.tar", [file_("a/x", b"payload"), ("b/y", b"", HARD, "a/x")], "")
    out = extract(archive, site / "out")
    assert (out / "b/y").read_bytes() == b"payload"
    assert (out / "b/y").stat().st_ino == (out / "a/x").stat().st_ino


def test_symlink_redirected_by_a_later_link_is_refused(site: Path) -> None:
    """`a -> b/..` is inside when written (b does not exist yet); `b -> .` then makes it point above root."""
    archive = make_tar(site / "a.tar", [symlink("a", "b/.."), symlink("b", ".")], "")
    with pytest.raises(UnsafeArchiveError, match="resolves outside"):
        extract(archive, site / "out")
    assert_untouched(site, archive)


REDIRECT = [symlink("x", "y/.."), symlink("y", "z/.."), symlink("z", ".")]  # x ends two levels above the root


@pytest.mark.parametrize(
    ("last", "message"),
    [
        (file_("x/evil"), "entry 'x/evil': x leads outside"),
        (("x/evil/", b"", DIR, ""), "entry 'x/evil': x leads outside"),
        (("h", b"", HARD, "x/outside/secret"), "hardlink target 'x/outside/secret' is outside"),
    ],
    ids=["file", "dir", "hardlink"],
)
def test_nothing_is_written_through_a_redirected_link(site: Path, last: Member, message: str) -> None:
    """Each link is inside when written, yet `x` ends up above the root: entries through it are refused."""
    archive = make_tar(site / "a.tar", [*REDIRECT, last], "")
    with pytest.raises(UnsafeArchiveError, match=re.escape(message)):
        extract(archive, site / "out")
    assert_untouched(site, archive)
    assert sorted(p.name for p in site.parent.iterdir()) == ["outside", "work"]


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_escaping_symlink_is_refused_before_it_is_created(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    archive = MAKERS[fmt](tmp_path / "a", [symlink("up", "../..")])
    with pytest.raises(UnsafeArchiveError, match=r"symlink target '\.\./\.\.' is outside"):
        extract_into(archive, root)
    assert list(root.iterdir()) == []


def test_check_links_accepts_internal_links(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "l").symlink_to("..")
    check_links(tmp_path)
    (tmp_path / "d" / "bad").symlink_to("../..")
    with pytest.raises(UnsafeArchiveError, match="d/bad"):
        check_links(tmp_path)


def test_writing_through_an_internal_symlink_stays_inside(site: Path) -> None:
    archive = make_tar(
        site / "a.tar", [("real/", b"", DIR, ""), symlink("alias", "real"), file_("alias/f", b"x")]
    )
    out = extract(archive, site / "out")
    assert (out / "real" / "f").read_bytes() == b"x"


def test_extract_replaces_an_existing_directory_atomically(site: Path) -> None:
    first = extract(make_zip(site / "one.zip", [file_("old.txt")]), site / "out")
    assert tree(first) == {"old.txt": b"data"}
    extract(make_zip(site / "two.zip", [file_("new.txt", b"new")]), site / "out")
    assert tree(site / "out") == {"new.txt": b"new"}
    assert sorted(p.name for p in site.iterdir()) == ["one.zip", "out", "two.zip"]


def test_corrupt_archive_is_an_archive_error_and_publishes_nothing(site: Path) -> None:
    good = make_tar(site / "a", [file_("x", os.urandom(200_000))])
    broken = site / "broken.tar.gz"
    broken.write_bytes(good.read_bytes()[:5000])
    good.unlink()
    with pytest.raises(ArchiveError, match=r"broken\.tar\.gz"):
        extract(broken, site / "out")
    assert_untouched(site, broken)


def test_detect_format_by_content(tmp_path: Path) -> None:
    assert detect_format(make_rar(tmp_path / "x.bin", [file_("a")])) == "rar"
    assert detect_format(make_zip(tmp_path / "y.rar", [file_("a")])) == "zip"
    assert detect_format(make_tar(tmp_path / "z", [file_("a")], "bz2")) == "tar"
    (tmp_path / "junk").write_bytes(b"not an archive at all")
    with pytest.raises(ArchiveError, match="not a RAR, zip or tar"):
        detect_format(tmp_path / "junk")


@pytest.mark.parametrize("fmt", ["rar", "zip"])
def test_nested_archives_are_extracted_in_place(site: Path, fmt: str) -> None:
    """HMDB-51's layout: an outer archive of per-class archives, each holding `<class>/<video>.avi`."""
    make = MAKERS[fmt]
    inner = {
        c: make(site / c, [file_(f"{c}/{c}_{i}.avi", f"{c}{i}".encode()) for i in range(2)])
        for c in ("hug", "run")
    }
    outer = make(site / "hmdb51_org", [file_(p.name, p.read_bytes()) for p in inner.values()])
    out = extract(outer, site / "out", nested=[f".{fmt}"])
    assert tree(out) == {
        "hug": "dir",
        "hug/hug_0.avi": b"hug0",
        "hug/hug_1.avi": b"hug1",
        "run": "dir",
        "run/run_0.avi": b"run0",
        "run/run_1.avi": b"run1",
    }


def test_nested_archive_cannot_escape(site: Path) -> None:
    inner = make_rar(site / "inner", [file_("../../outside/evil")])
    outer = make_rar(site / "outer", [file_("cls/inner.rar", inner.read_bytes())])
    inner.unlink()
    with pytest.raises(UnsafeArchiveError, match="traversal"):
        extract(outer, site / "out", nested=[".rar"])
    assert_untouched(site, outer)


def test_extract_into_returns_files_and_merges(tmp_path: Path) -> None:
    """Kinetics: many tarballs extract into one split directory."""
    root = tmp_path / "train"
    root.mkdir()
    for i in range(3):
        written = extract_into(make_tar(tmp_path / f"part_{i}", [file_(f"v{i}.mp4", b"%d" % i)]), root)
        assert written == [root.resolve() / f"v{i}.mp4"]
    assert tree(root) == {"v0.mp4": b"0", "v1.mp4": b"1", "v2.mp4": b"2"}


def split_bytes(data: bytes, folder: Path, stem: str, n: int) -> list[Path]:
    size = -(-len(data) // n)
    parts = []
    for i in range(n):
        parts.append(folder / f"{stem}-{i:02d}")
        parts[-1].write_bytes(data[i * size : (i + 1) * size])
    return parts


@pytest.mark.parametrize("joined", ["zip", "tar.gz"])
def test_split_parts_are_reassembled(site: Path, joined: str) -> None:
    members = [file_(f"20bn-something-something-v2/{i}.webm", os.urandom(30_000)) for i in range(5)]
    whole = MAKERS[joined](site / "whole", members)
    parts = split_bytes(whole.read_bytes(), site, "20bn-something-something-v2", 4)
    whole.unlink()
    root = site / "out"
    root.mkdir()
    extract_parts(parts, root)
    assert tree(root) == {"20bn-something-something-v2": "dir"} | {m[0]: m[1] for m in members}
    assert sorted(p.name for p in site.iterdir()) == sorted([*(p.name for p in parts), "out"])


def test_zip_wrapped_parts_as_qualcomm_ships_them(site: Path) -> None:
    members = [file_(f"v/{i}.webm", os.urandom(20_000)) for i in range(3)]
    parts = split_bytes(make_tar(site / "whole", members).read_bytes(), site, "ssv2", 3)
    wrapped = [make_zip(p.with_name(p.name + ".zip"), [file_(p.name, p.read_bytes())]) for p in parts[1:]]
    root = site / "out"
    root.mkdir()
    extract_parts([parts[0], *wrapped], root)  # a mix of bare and wrapped parts, as a user may hold them
    assert tree(root) == {"v": "dir"} | {m[0]: m[1] for m in members}


def test_split_parts_keep_the_safety_checks(site: Path) -> None:
    whole = make_tar(site / "whole", [file_("ok"), file_("../outside/evil")])
    parts = split_bytes(whole.read_bytes(), site, "p", 2)
    root = site / "out"
    root.mkdir()
    with pytest.raises(UnsafeArchiveError, match="traversal"):
        extract_parts(parts, root)
    assert tree(site.parent / "outside") == {"secret": b"secret"}


def test_parts_in_the_wrong_order_fail_cleanly(site: Path) -> None:
    parts = split_bytes(make_tar(site / "whole", [file_("x", os.urandom(50_000))]).read_bytes(), site, "p", 3)
    root = site / "out"
    root.mkdir()
    with pytest.raises(ArchiveError):
        extract_parts(parts[::-1], root)


# --- free space -----------------------------------------------------------------------------------------------


def spare(needed: int) -> int:
    """What extraction keeps free on top of `needed` bytes: the fixed margin and 1% slack."""
    return SPACE_MARGIN + needed * SPACE_SLACK_PERCENT // 100


def fake_free_space(monkeypatch: pytest.MonkeyPatch, free: int) -> list[Path]:
    """Report `free` bytes for every path, whatever the disk holds; returns the paths asked about."""
    asked: list[Path] = []

    def free_space(path: Path) -> int:
        asked.append(Path(path))
        return free

    monkeypatch.setattr(archives, "free_space", free_space)
    return asked


# Three files of 128,000 bytes.
SIZED = [file_(f"UCF-101/Cls{i}/v_Cls{i}_g01_c01.avi", bytes(range(256)) * 500) for i in range(3)]


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_an_archive_that_does_not_fit_is_refused_before_anything_is_written(
    site: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zip and RAR headers declare 384,000 bytes; a tar is taken at its own size, its content being unknown."""
    archive = MAKERS[fmt](site / "a", SIZED)
    needed = archive.stat().st_size if fmt == "tar.gz" else 384_000
    free = needed + spare(needed) - 1
    fake_free_space(monkeypatch, free)
    with pytest.raises(InsufficientSpaceError) as err:
        extract(archive, site / "out")
    assert str(err.value).startswith(f"{archive}: extracting it needs {needed:,} bytes (")
    assert f"but only {free:,} bytes (64." in str(err.value)
    assert_untouched(site, archive)


def test_an_archive_that_just_fits_is_extracted(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(site / "a.zip", SIZED)
    asked = fake_free_space(monkeypatch, 384_000 + spare(384_000))
    out = extract(archive, site / "out")
    assert len(tree(out)) == 7  # 3 files, their 3 class folders and UCF-101/
    assert len(asked) == 4  # up front, then before each of the 3 files
    assert all(path.parent == site and path.name.startswith(".out.") for path in asked)  # the staging dir


def used(root: Path, *, besides: Path | None = None) -> int:
    """Bytes of the files under `root`, for a fake disk whose free space shrinks as extraction writes."""
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and f != besides)


def test_nested_archives_are_checked_against_what_they_declare(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HMDB-51: the outer RAR holds a RAR per class, each checked before it is extracted next to itself."""
    inner = make_rar(site / "hug.rar", [file_("hug/a.avi", b"x" * 300_000)])
    outer = make_rar(site / "outer.rar", [file_("hug.rar", inner.read_bytes())])
    size = inner.stat().st_size
    inner.unlink()
    disk = size + spare(size)  # room for the inner RAR, but not for its content next to it
    monkeypatch.setattr(archives, "free_space", lambda path: disk - used(site, besides=outer))
    with pytest.raises(InsufficientSpaceError, match=r"hug\.rar: extracting it needs 300,000 bytes"):
        extract(outer, site / "out", nested=[".rar"])
    assert_untouched(site, outer)


def test_a_streamed_tar_checks_each_member_as_it_arrives(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A joined tar.gz of zeros compresses to almost nothing: the up-front check passes, member 2 does not."""
    members = [file_(f"v/{i}.webm", bytes(200_000)) for i in range(3)]
    whole = make_tar(site / "whole", members)
    parts = split_bytes(whole.read_bytes(), site, "p", 2)
    whole.unlink()
    root = site / "out"
    root.mkdir()
    disk = 250_000 + spare(200_000)  # room for one member
    monkeypatch.setattr(archives, "free_space", lambda path: disk - used(root))
    with pytest.raises(InsufficientSpaceError) as err:
        extract_parts(parts, root)
    message = str(err.value)
    assert "(2 parts): entry 'v/1.webm' needs 200,000 bytes (195.3 KiB) plus 64.0 MiB to spare" in message
    assert f"but only {disk - 200_000:,} bytes" in message
    assert tree(root) == {"v": "dir", "v/0.webm": bytes(200_000)}  # written before the disk filled


def test_split_parts_that_do_not_fit_are_refused_before_reading(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = make_tar(site / "whole", [file_("v/0.webm", bytes(range(256)) * 400)], "")
    parts = split_bytes(whole.read_bytes(), site, "p", 3)
    whole.unlink()
    root = site / "out"
    root.mkdir()
    size = sum(p.stat().st_size for p in parts)
    fake_free_space(monkeypatch, size + spare(size) - 1)
    with pytest.raises(
        InsufficientSpaceError, match=rf"\(3 parts\): joining and extracting it needs {size:,} bytes"
    ):
        extract_parts(parts, root)
    assert list(root.iterdir()) == []


# --- missing and truncated parts ------------------------------------------------------------------------------


def ssv2_parts(site: Path, joined: str = "tar.gz", n: int = 3) -> list[Path]:
    """A joined archive of five 30,000-byte videos in `n` parts; seeded, so each cut falls in the same place."""
    rng = np.random.default_rng(0)
    members = [file_(f"20bn-something-something-v2/{i}.webm", rng.bytes(30_000)) for i in range(5)]
    whole = MAKERS[joined](site / "whole", members)
    parts = split_bytes(whole.read_bytes(), site, "20bn-something-something-v2", n)
    whole.unlink()
    (site / "out").mkdir()
    return parts


def test_a_missing_part_is_named_before_anything_is_read(site: Path) -> None:
    parts = ssv2_parts(site)
    parts[1].unlink()
    with pytest.raises(MissingPartError) as err:
        extract_parts(parts, site / "out")
    assert str(err.value) == f"split archive: missing {parts[1]} (part 2 of 3)"
    assert list((site / "out").iterdir()) == []


@pytest.mark.parametrize("joined", ["tar.gz", "zip"])
def test_a_truncated_last_part_is_named(site: Path, joined: str) -> None:
    parts = ssv2_parts(site, joined)
    parts[-1].write_bytes(parts[-1].read_bytes()[:-20_000])
    with pytest.raises(TruncatedArchiveError) as err:
        extract_parts(parts, site / "out")
    message = str(err.value)
    assert message.startswith(
        f"the archive joined from {parts[0]} .. 20bn-something-something-v2-02 (3 parts): ends"
    )
    assert message.endswith(
        f"Its last part, {parts[-1]}, looks truncated, or parts after it are missing: obtain it again"
    )
    if joined == "tar.gz":  # the zip loses its closing directory, the tar a member
        assert "ends in the middle of entry '20bn-something-something-v2/4.webm' (truncated)" in message


def test_a_bare_tar_cut_between_members_is_truncated_too(site: Path) -> None:
    """tarfile takes a missing header for the end of the archive; the end-of-archive marker tells them apart."""
    members = [file_(f"v/{i}.webm", bytes(range(256)) * 4) for i in range(3)]  # 1,024 bytes: no padding
    data = make_tar(site / "whole", members, "").read_bytes()
    (site / "whole").unlink()
    parts = split_bytes(data[: 2 * (512 + 1024)], site, "p", 2)  # the third member and the marker are gone
    (site / "out").mkdir()
    with pytest.raises(
        TruncatedArchiveError, match=r"\(2 parts\): ends after 2 files, before its end-of-archive"
    ):
        extract_parts(parts, site / "out")


def test_a_short_part_in_the_middle_is_pointed_out(site: Path) -> None:
    parts = ssv2_parts(site, n=4)
    parts[1].write_bytes(parts[1].read_bytes()[:-100])
    with pytest.raises(ArchiveError) as err:
        extract_parts(parts, site / "out")
    size = parts[0].stat().st_size
    assert type(err.value) is ArchiveError
    short = f"{parts[1]} ({size - 100:,} bytes)"
    assert str(err.value).endswith(
        f"; smaller than the first part ({size:,} bytes), so probably truncated: {short}"
    )


def test_a_truncated_single_archive_names_the_entry_it_stops_in(site: Path) -> None:
    rng = np.random.default_rng(0)
    data = make_tar(site / "a", [file_("x", rng.bytes(200_000))]).read_bytes()
    (site / "a.tar.gz").write_bytes(data[:100_000])
    with pytest.raises(
        TruncatedArchiveError, match=r"a\.tar\.gz: ends in the middle of entry 'x' \(truncated\)$"
    ):
        extract(site / "a.tar.gz", site / "out")


def ssv2_like(parts: int) -> DatasetSpec:
    return DatasetSpec(
        key="ssv2",
        title="SSv2",
        homepage="https://example.org/register",
        licence="research only",
        access="manual",
        notes="",
        files=(
            FileSpec("20bn-something-something-v2", None, None, None, "split", "videos", "videos", parts=parts),
        ),
    )


def test_a_truncated_part_reaches_the_download_stage_by_name(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parts = ssv2_parts(site)
    parts[-1].write_bytes(parts[-1].read_bytes()[:-20_000])
    found = dl.locate_manual(ssv2_like(3), site)
    with pytest.raises(TruncatedArchiveError, match=re.escape(f"Its last part, {parts[-1]}, looks truncated")):
        dl.install_dataset(ssv2_like(3), found, site / "raw")
    assert not (site / "raw").exists()
    registry = site.parent / "registry.yaml"
    split = {"name": "20bn-something-something-v2", "format": "split", "parts": 3, "role": "videos"}
    weights = {"arch": "ViT-T/1", "url": "https://example.org/ViT-T.pt", "sha256": "0" * 64, "licence": "MIT"}
    dataset = {"title": "SSv2", "homepage": "https://example.org", "licence": "research", "access": "manual"}
    registry.write_text(
        yaml.safe_dump({"datasets": {"ssv2": {**dataset, "files": [split]}}, "weights": {"T": weights}})
    )
    argv = [*("--dataset", "ssv2", "--registry", str(registry), "--out", str(site / "raw")), "--manual-dir"]
    assert download_stage.main([*argv, str(site), "--cache", str(site.parent / "cache")]) == 1
    assert f"Its last part, {parts[-1]}, looks truncated" in caplog.text
    assert not (site / "raw").exists()


def test_a_missing_part_reaches_the_download_stage_by_name(site: Path) -> None:
    parts = ssv2_parts(site)
    parts[1].unlink()
    with pytest.raises(dl.ManualPlacementError) as err:
        dl.locate_manual(ssv2_like(3), site)
    assert f"1 file(s) missing. Put them under {site}," in str(err.value)
    assert "\n  20bn-something-something-v2-01\n" in str(err.value)
