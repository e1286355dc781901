"""Typed, validated access to `registry.yaml`: where each real dataset and each CLIP checkpoint comes from.

The registry is data so that a moved URL or a newly published checksum is a one-line change, but data that is
only read at download time fails late: a typo in a key would surface hours into a K400 download. So the whole
file is validated when loaded, every error names the entry and key, and unknown keys are errors too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

ARCHIVE_FORMATS = ("rar", "zip", "tar", "tar.gz")
FORMATS = (*ARCHIVE_FORMATS, "file", "url-list", "split")
ROLES = ("videos", "annotations", "splits")
ACCESS = ("download", "manual")

_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}
_SHA256_IN_PATH = re.compile(r"/([0-9a-f]{64})/")
_FILE_KEYS = {
    "name", "url", "sha256", "md5", "checksum_source", "format", "role",
    "extract_to", "nested", "member_format", "parts", "part_suffixes",
}  # fmt: skip
_DATASET_KEYS = {"title", "homepage", "licence", "access", "notes", "files"}
_WEIGHT_KEYS = {"arch", "url", "sha256", "licence"}


class RegistryError(ValueError):
    """The registry is malformed; the message names the entry and key."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset as distributed: where it comes from, how to check it, what to do with it."""

    name: str
    url: str | None
    sha256: str | None
    md5: str | None
    format: str
    role: str
    extract_to: str = "."
    nested: tuple[str, ...] = ()
    member_format: str | None = None
    parts: int = 0
    part_suffixes: tuple[str, ...] = ("",)
    checksum_source: str | None = None

    def part_names(self) -> list[str]:
        """Names of the parts of a `split` file, in concatenation order (`<name>-00`, `<name>-01`, ...)."""
        width = max(2, len(str(self.parts - 1)))
        return [f"{self.name}-{i:0{width}d}" for i in range(self.parts)]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's provenance: files, licence, and whether it can be fetched without an account."""

    key: str
    title: str
    homepage: str
    licence: str
    access: str
    notes: str
    files: tuple[FileSpec, ...]


@dataclass(frozen=True)
class WeightSpec:
    """A pretrained checkpoint: one file, always with a sha256."""

    key: str
    arch: str
    url: str
    sha256: str
    licence: str

    @property
    def file_name(self) -> str:
        """The name the publisher gives the file (the last URL component), used for manual placement."""
        return PurePosixPath(urlsplit(self.url).path).name


@dataclass(frozen=True)
class Registry:
    datasets: dict[str, DatasetSpec]
    weights: dict[str, WeightSpec]

    def dataset(self, key: str) -> DatasetSpec:
        """The dataset `key`, or a RegistryError listing the known keys."""
        return _lookup(self.datasets, key, "dataset")

    def weight(self, key: str) -> WeightSpec:
        """The checkpoint `key`, or a RegistryError listing the known keys."""
        return _lookup(self.weights, key, "weights")


def _lookup(table: dict[str, Any], key: str, what: str) -> Any:
    if key not in table:
        raise RegistryError(f"unknown {what} {key!r}; the registry has: {', '.join(sorted(table))}")
    return table[key]


def _fail(where: str, message: str) -> RegistryError:
    return RegistryError(f"registry {where}: {message}")


def _mapping(value: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    """Check that `value` is a mapping with only `allowed` keys and all `required` ones."""
    if not isinstance(value, dict):
        raise _fail(where, f"expected a mapping, found {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(value))
    if missing:
        raise _fail(where, f"missing key(s) {missing}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"expected a non-empty string, found {value!r}")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(where, f"expected one of {list(choices)}, found {value!r}")
    return value


def _url(value: Any, where: str) -> str:
    """Only https: a registry URL is fetched unattended, so a downgrade must never be configured in."""
    url = _text(value, where)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise _fail(where, f"expected an https:// URL, found {url!r}")
    return url


def _optional_url(value: Any, where: str) -> str | None:
    return None if value is None else _url(value, where)


def _checksum(value: Any, where: str, kind: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX[kind].fullmatch(value):
        raise _fail(where, f"expected a lower-case hex {kind} or null, found {value!r}")
    return value


def _relpath(value: Any, where: str) -> str:
    """A path inside the cache or output directory: relative, without `..`, so it cannot point elsewhere."""
    path = _text(value, where)
    if path.startswith("/") or "\\" in path or ".." in PurePosixPath(path).parts:
        raise _fail(where, f"expected a relative path without '..', found {path!r}")
    return path


def _parse_file(raw: Any, where: str) -> FileSpec:
    raw = _mapping(raw, where, _FILE_KEYS, {"name", "format", "role"})
    fmt = _choice(raw["format"], f"{where}.format", FORMATS)
    spec = FileSpec(
        name=_relpath(raw["name"], f"{where}.name"),
        url=_optional_url(raw.get("url"), f"{where}.url"),
        sha256=_checksum(raw.get("sha256"), f"{where}.sha256", "sha256"),
        md5=_checksum(raw.get("md5"), f"{where}.md5", "md5"),
        format=fmt,
        role=_choice(raw["role"], f"{where}.role", ROLES),
        extract_to=_relpath(raw.get("extract_to", "."), f"{where}.extract_to"),
        nested=tuple(_text(s, f"{where}.nested") for s in raw.get("nested", [])),
        member_format=raw.get("member_format"),
        parts=raw.get("parts", 0),
        part_suffixes=tuple(raw.get("part_suffixes", [""])),
        checksum_source=_optional_text(raw.get("checksum_source"), f"{where}.checksum_source"),
    )
    _check_format_fields(spec, raw, where)
    return spec


def _check_format_fields(spec: FileSpec, raw: dict[str, Any], where: str) -> None:
    """Keys that only make sense for some formats must appear exactly there, so none is silently ignored."""
    if (spec.sha256 or spec.md5) and not spec.checksum_source:
        raise _fail(where, "a checksum needs checksum_source (who published it)")
    if spec.nested and spec.format not in ARCHIVE_FORMATS:
        raise _fail(f"{where}.nested", f"only archives can hold nested archives, format is {spec.format!r}")
    if spec.format == "url-list":
        _choice(spec.member_format, f"{where}.member_format", ARCHIVE_FORMATS)
    elif "member_format" in raw:
        raise _fail(f"{where}.member_format", "only allowed with format url-list")
    if spec.format == "split":
        if not isinstance(spec.parts, int) or isinstance(spec.parts, bool) or spec.parts < 2:
            raise _fail(f"{where}.parts", f"expected an integer >= 2, found {spec.parts!r}")
        if not spec.part_suffixes or not all(isinstance(s, str) for s in spec.part_suffixes):
            raise _fail(f"{where}.part_suffixes", f"expected a list of strings, found {spec.part_suffixes!r}")
        if spec.sha256 or spec.md5 or spec.url:
            raise _fail(where, "a split file has no single url or checksum (its parts are placed by hand)")
    elif "parts" in raw or "part_suffixes" in raw:
        raise _fail(where, "parts/part_suffixes are only allowed with format split")


def _parse_dataset(key: str, raw: Any) -> DatasetSpec:
    where = f"datasets.{key}"
    raw = _mapping(raw, where, _DATASET_KEYS, _DATASET_KEYS - {"notes"})
    if not isinstance(raw["files"], list) or not raw["files"]:
        raise _fail(f"{where}.files", "expected a non-empty list")
    files = tuple(_parse_file(f, f"{where}.files[{i}]") for i, f in enumerate(raw["files"]))
    names = [f.name for f in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _fail(f"{where}.files", f"duplicate names {duplicates}")
    access = _choice(raw["access"], f"{where}.access", ACCESS)
    if access == "download":
        no_url = [f.name for f in files if f.url is None]
        if no_url:
            raise _fail(where, f"access is download but {no_url} have no url")
    return DatasetSpec(
        key=key,
        title=_text(raw["title"], f"{where}.title"),
        homepage=_url(raw["homepage"], f"{where}.homepage"),
        licence=_text(raw["licence"], f"{where}.licence"),
        access=access,
        notes=_optional_text(raw.get("notes"), f"{where}.notes") or "",
        files=files,
    )


def _parse_weight(key: str, raw: Any) -> WeightSpec:
    where = f"weights.{key}"
    raw = _mapping(raw, where, _WEIGHT_KEYS, _WEIGHT_KEYS)
    sha256 = _checksum(raw["sha256"], f"{where}.sha256", "sha256")
    if sha256 is None:
        raise _fail(f"{where}.sha256", "weights must carry a sha256")
    spec = WeightSpec(
        key=key,
        arch=_text(raw["arch"], f"{where}.arch"),
        url=_url(raw["url"], f"{where}.url"),
        sha256=sha256,
        licence=_text(raw["licence"], f"{where}.licence"),
    )
    embedded = _SHA256_IN_PATH.search(urlsplit(spec.url).path)
    if embedded and embedded.group(1) != spec.sha256:
        raise _fail(f"{where}.sha256", f"differs from the sha256 embedded in the URL ({embedded.group(1)})")
    return spec


def parse_registry(raw: Any, source: str = "registry.yaml") -> Registry:
    """Validate a parsed registry document; errors name `source`, the entry and the key."""
    try:
        raw = _mapping(raw, "top level", {"datasets", "weights"}, {"datasets", "weights"})
        for section in ("datasets", "weights"):
            if not isinstance(raw[section], dict) or not raw[section]:
                raise _fail(section, "expected a non-empty mapping")
        datasets = {k: _parse_dataset(k, v) for k, v in raw["datasets"].items()}
        weights = {k: _parse_weight(k, v) for k, v in raw["weights"].items()}
    except RegistryError as err:
        raise RegistryError(f"{source}: {err}") from None
    return Registry(datasets, weights)


@functools.cache
def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate the packaged registry (or the file at `path`)."""
    if path is None:
        text = resources.files("vifi.data.acquire").joinpath("registry.yaml").read_text(encoding="utf-8")
        source = "vifi/data/acquire/registry.yaml"
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RegistryError(f"{source}: not valid YAML: {err}") from None
    return parse_registry(raw, source)
