"""Paper mode's download stage: fetch or locate the real datasets and CLIP weights, verify, extract.

Multi-gigabyte downloads from university servers drop, so a transfer continues where it stopped (HTTP Range on
a `.part` file, kept across runs) and connection errors and 5xx answers are retried with exponential backoff;
a 404 is final. Nothing appears at a final path before its checksum is verified, and a download whose checksum
differs is deleted, so a corrupted file is never mistaken for a good one on the next run.

Some data cannot be fetched unattended (SSv2 needs an account; a user may already hold the Kinetics tarballs
or be behind a firewall). Every file is therefore looked for first in the archive cache, then in a directory
of files placed by hand (`--manual-dir`), and downloaded only if the registry allows it. What is still missing
is reported in one error that names each file and where to put it (`vifi download`: `vifi.stages.download`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import requests

from vifi.data.acquire.archives import extract_into, extract_parts, staging_dir
from vifi.data.acquire.registry import DatasetSpec, FileSpec, WeightSpec
from vifi.io import atomic_path
from vifi.progress import progress_bar

log = logging.getLogger(__name__)

CHUNK = 1 << 16
DEFAULT_CACHE = Path("data/archives")
_HEADERS = {
    "User-Agent": "vifi-repro-download",
    "Accept-Encoding": "identity",
}  # identity: byte ranges stay raw


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL and why."""


class ChecksumError(DownloadError):
    """A file's content differs from its published checksum; the message names file, expected and actual."""


class ManualPlacementError(RuntimeError):
    """Files must be placed by hand; the message lists each file name and the directory to put it in."""


class _Transient(Exception):
    """A failure worth retrying: the server had a problem (5xx, 429) or the transfer ended early."""


def check_url(url: str, allow_insecure: Collection[str] = ()) -> None:
    """Accept https URLs, and plain http only for the hosts in `allow_insecure` (tests use 127.0.0.1)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in allow_insecure:
        return
    raise DownloadError(f"{url}: only https:// URLs are downloaded")


def file_digests(path: Path, kinds: Collection[str]) -> dict[str, str]:
    """Hex digests of `path` for each hash name in `kinds`, in one pass over the file."""
    hashers = {kind: hashlib.new(kind) for kind in kinds}
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(block)
    return {kind: hasher.hexdigest() for kind, hasher in hashers.items()}


def verify_file(
    path: str | os.PathLike[str], *, sha256: str | None = None, md5: str | None = None, label: str | None = None
) -> None:
    """Raise ChecksumError unless `path` matches every checksum given (none given: nothing to check).

    The error names the file as `label` (default: the path), expected and actual digests.
    """
    path = Path(path)
    expected = {kind: value for kind, value in (("sha256", sha256), ("md5", md5)) if value}
    if not expected:
        return
    actual = file_digests(path, expected)
    for kind, value in expected.items():
        if actual[kind] != value.lower():
            raise ChecksumError(f"{label or path}: {kind} mismatch: expected {value}, actual {actual[kind]}")


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header such as `bytes 100-199/1000` or `bytes */1000`."""
    if not header or not header.startswith("bytes "):
        return None, None
    span, _, total = header[6:].partition("/")
    first = span.partition("-")[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def _raise_for_status(response: requests.Response, url: str) -> None:
    code = response.status_code
    if code == 429 or code >= 500:
        raise _Transient(f"HTTP {code} {response.reason}")
    if code == 404:
        raise DownloadError(f"{url}: not found (HTTP 404); the registry URL may be outdated")
    if code >= 400:
        raise DownloadError(f"{url}: HTTP {code} {response.reason}")


def _transfer(
    session: requests.Session, url: str, part: Path, timeout: float, allow_insecure: Collection[str]
) -> None:
    """One attempt: append to `part` from its current size, or start over if the server cannot resume."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {**_HEADERS, **({"Range": f"bytes={offset}-"} if offset else {})}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        check_url(response.url, allow_insecure)  # a redirect must not downgrade to plain http
        if response.status_code == 416 and offset:
            if _content_range(response.headers.get("Content-Range"))[1] == offset:
                return  # the previous run had received everything
            part.unlink()
            raise _Transient("the server refused to resume the partial download; starting over")
        _raise_for_status(response, url)
        resumed = response.status_code == 206
        if resumed and _content_range(response.headers.get("Content-Range"))[0] != offset:
            part.unlink()
            raise _Transient("the server resumed at the wrong offset; starting over")
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length and length.isdigit() else None
        label = part.name.removesuffix(".part")
        bar = progress_bar(total=expected, initial=start, unit="B", unit_scale=True, desc=label, disable=None)
        with open(part, "ab" if resumed else "wb") as fh, bar:
            for chunk in response.iter_content(CHUNK):
                fh.write(chunk)  # a connection closed before Content-Length bytes raises in iter_content
                bar.update(len(chunk))


def _finish(part: Path, dest: Path, url: str, sha256: str | None, md5: str | None) -> None:
    """Verify the complete `.part` and only then rename it onto `dest`; a mismatching file is deleted."""
    try:
        verify_file(part, sha256=sha256, md5=md5, label=str(dest))
    except ChecksumError as err:
        part.unlink()
        raise ChecksumError(f"{err} (downloaded from {url}; the download was deleted)") from None
    if not (sha256 or md5):
        log.warning("%s: no published checksum; only the transfer length was checked", dest.name)
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, dest)


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    allow_insecure: Collection[str] = (),
) -> Path:
    """Download `url` to `dest`, resuming `dest.part` if an earlier run left one; return `dest`.

    Connection errors, early ends and 5xx/429 answers are retried `retries` times, waiting `backoff * 2**k`
    seconds before retry k; the `.part` file is kept after the last failure so the next run resumes it.
    """
    check_url(url, allow_insecure)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with requests.Session() as session:
        for attempt in range(retries + 1):
            try:
                _transfer(session, url, part, timeout, allow_insecure)
                break
            except requests.exceptions.SSLError as err:
                raise DownloadError(f"{url}: TLS verification failed: {err}") from err
            except (
                _Transient,
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as err:
                if attempt == retries:
                    kept = f" (the partial download {part} is kept for the next run)" if part.exists() else ""
                    raise DownloadError(
                        f"{url}: giving up after {retries + 1} attempts; last error: {err}{kept}"
                    ) from err
                delay = backoff * 2**attempt
                log.warning("%s: %s; retry %d/%d in %.1f s", url, err, attempt + 1, retries, delay)
                time.sleep(delay)
    _finish(part, dest, url, sha256, md5)
    return dest


@dataclass(frozen=True)
class _Unit:
    """One file to obtain: its path in the cache, the names accepted when placed by hand, its source."""

    name: str
    candidates: tuple[str, ...]
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None


def _file_unit(spec: FileSpec) -> _Unit:
    return _Unit(spec.name, (spec.name,), spec.url, spec.sha256, spec.md5)


def _part_units(spec: FileSpec) -> list[_Unit]:
    return [_Unit(p, tuple(p + s for s in spec.part_suffixes)) for p in spec.part_names()]


def _member_units(spec: FileSpec, url_list: Path, allow_insecure: Collection[str]) -> list[_Unit]:
    """The files a URL list names, each kept next to the list under the last component of its URL."""
    folder = PurePosixPath(spec.name).parent
    units = []
    for line in url_list.read_text(encoding="utf-8").splitlines():
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        check_url(url, allow_insecure)
        base = PurePosixPath(urlsplit(url).path).name
        if not base or base in (".", ".."):
            raise DownloadError(f"{url_list}: cannot name a file after {url!r}")
        name = str(folder / base)
        units.append(_Unit(name, (name,), url))
    if not units:
        raise DownloadError(f"{url_list}: the URL list is empty")
    return units


@dataclass
class _Resolver:
    """Finds each file in the cache (trusted: only verified files land there), then among the files placed by
    hand (verified now), then downloads it into the cache if allowed; remembers what it could not find."""

    cache: Path | None
    manual: Path | None
    may_download: bool
    allow_insecure: Collection[str] = ()
    missing: list[_Unit] = field(default_factory=list)

    def obtain(self, unit: _Unit) -> Path | None:
        if self.cache is not None:
            for name in unit.candidates:
                if (self.cache / name).is_file():
                    return self.cache / name
        if self.manual is not None:
            for name in unit.candidates:
                if (self.manual / name).is_file():
                    return self._check_placed(self.manual / name, unit)
        if self.may_download and unit.url and self.cache is not None:
            return self._download(unit, unit.url, self.cache / unit.name)
        self.missing.append(unit)
        return None

    def _check_placed(self, path: Path, unit: _Unit) -> Path:
        if path.stat().st_size == 0:
            raise ManualPlacementError(f"{path} is empty; replace it with the real {unit.name}")
        if unit.sha256 or unit.md5:
            log.info("verifying %s", path)
            verify_file(path, sha256=unit.sha256, md5=unit.md5)
        else:
            log.warning("%s: no published checksum; using the file as placed", path)
        return path

    def _download(self, unit: _Unit, url: str, dest: Path) -> Path:
        try:
            return download(url, dest, sha256=unit.sha256, md5=unit.md5, allow_insecure=self.allow_insecure)
        except DownloadError as err:
            hint = f"To use a copy obtained elsewhere, place it as <DIR>/{unit.name} and pass --manual-dir DIR."
            raise type(err)(f"{err}\n{hint}") from err


def _resolve_file(spec: FileSpec, resolver: _Resolver) -> list[Path]:
    """Local paths for one registry file: one path, the parts of a split file, or the members of a URL list."""
    if spec.format == "split":
        found = [resolver.obtain(unit) for unit in _part_units(spec)]
    elif spec.format == "url-list":
        url_list = resolver.obtain(_file_unit(spec))
        if url_list is None:
            return []
        found = [resolver.obtain(unit) for unit in _member_units(spec, url_list, resolver.allow_insecure)]
    else:
        found = [resolver.obtain(_file_unit(spec))]
    return [path for path in found if path is not None]


def _placement_error(
    title: str, units: Sequence[_Unit], manual: Path | None, extra: str
) -> ManualPlacementError:
    where = str(manual) if manual is not None else "a directory of your choice, DIR"
    lines = [
        f"{title}: {len(units)} file(s) missing. Put them under {where}, keeping these relative paths, "
        f"then run again with --manual-dir {manual if manual is not None else 'DIR'}:"
    ]
    for unit in units:
        alternatives = " or ".join(unit.candidates)
        lines.append(f"  {alternatives}" + (f"    (from {unit.url})" if unit.url else ""))
    if extra:
        lines.append(extra)
    return ManualPlacementError("\n".join(lines))


def _dataset_help(spec: DatasetSpec) -> str:
    return f"Source: {spec.homepage}\n{spec.notes}\nLicence: {spec.licence}".strip()


def fetch_dataset(
    spec: DatasetSpec,
    cache: str | os.PathLike[str],
    manual: str | os.PathLike[str] | None = None,
    *,
    allow_insecure: Collection[str] = (),
) -> dict[str, list[Path]]:
    """Obtain every file of `spec`; return registry file name -> local paths, or raise ManualPlacementError."""
    resolver = _Resolver(
        Path(cache), Path(manual) if manual else None, spec.access == "download", allow_insecure=allow_insecure
    )
    found = {f.name: _resolve_file(f, resolver) for f in spec.files}
    if resolver.missing:
        raise _placement_error(spec.title, resolver.missing, resolver.manual, _dataset_help(spec))
    return found


def locate_manual(entry: DatasetSpec | WeightSpec, search_dir: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Find and verify the files of `entry` placed by hand in `search_dir`, downloading nothing.

    Returns registry file name -> local paths, as `fetch_dataset` does (a checkpoint maps its file name to its
    one path). If anything is missing, ManualPlacementError names every missing file and where to put it.
    """
    resolver = _Resolver(cache=None, manual=Path(search_dir), may_download=False)
    if isinstance(entry, WeightSpec):
        path = resolver.obtain(_weight_unit(entry))
        found = {entry.file_name: [path] if path else []}
        title, extra = entry.arch, f"Licence: {entry.licence}"
    else:
        found = {f.name: _resolve_file(f, resolver) for f in entry.files}
        title, extra = entry.title, _dataset_help(entry)
    if resolver.missing:
        raise _placement_error(title, resolver.missing, resolver.manual, extra)
    return found


def _install_file(spec: FileSpec, paths: Sequence[Path], root: Path) -> None:
    target = root / spec.extract_to
    target.mkdir(parents=True, exist_ok=True)
    log.info("%s: extracting %d file(s) into %s", spec.name, len(paths), target)
    if spec.format == "file":
        dest = target / spec.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths[0], dest)
    elif spec.format == "split":
        extract_parts(paths, target, nested=spec.nested)
    else:
        for path in paths:
            extract_into(path, target, nested=spec.nested)


def install_dataset(spec: DatasetSpec, found: dict[str, list[Path]], out: str | os.PathLike[str]) -> Path:
    """Extract (or copy) every file into `out`, which appears only once all of them are in place."""
    with staging_dir(out) as root:
        for file_spec in spec.files:
            _install_file(file_spec, found[file_spec.name], root)
    return Path(out)


def _weight_unit(spec: WeightSpec) -> _Unit:
    return _Unit(spec.file_name, (spec.file_name,), spec.url, spec.sha256)


def fetch_weights(
    spec: WeightSpec,
    out: str | os.PathLike[str],
    cache: str | os.PathLike[str],
    manual: str | os.PathLike[str] | None = None,
) -> Path:
    """Obtain the checkpoint (cache, placed by hand, or download) and copy it to `out` atomically."""
    resolver = _Resolver(Path(cache), Path(manual) if manual else None, may_download=True)
    source = resolver.obtain(_weight_unit(spec))
    if source is None:  # a checkpoint always has a URL, so this needs a registry built by hand without one
        raise _placement_error(spec.arch, resolver.missing, resolver.manual, f"Licence: {spec.licence}")
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
    return Path(out)
