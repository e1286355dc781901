"""The datasets of the catalog (`datasets.yaml`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vifi.catalog import CatalogError, lookup, read_entries

DATASETS_FILE = Path(__file__).with_name("datasets.yaml")
PROTOCOLS = ("zeroshot", "zeroshot-source", "base2novel", "fewshot", "fullsup")


@dataclass(frozen=True)
class Dataset:
    """One dataset's entry (see datasets.yaml for what each field means)."""

    code: str
    name: str
    format: str
    folds: int
    protocols: tuple[str, ...]
    labels: str | None = None
    published: str | None = None
    official: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def label_prefix(self) -> str | None:
        """The name of its label CSV without `_labels.csv`, as the release names its other label files."""
        return None if self.labels is None else self.labels.removesuffix("_labels.csv")


def _check_datasets(datasets: dict[str, Dataset]) -> None:
    for d in datasets.values():
        where = f"{DATASETS_FILE}: entry {d.code!r}"
        if unknown := sorted(set(d.protocols) - set(PROTOCOLS)):
            raise CatalogError(f"{where}: unknown protocol(s) {unknown}; known: {PROTOCOLS}")
        if not isinstance(d.folds, int) or d.folds < 1:
            raise CatalogError(f"{where}: folds must be a positive integer, got {d.folds!r}")


@functools.cache
def datasets() -> Mapping[str, Dataset]:
    """Every dataset, in table order."""
    return read_entries(DATASETS_FILE, Dataset, _check_datasets)


def dataset(code: str) -> Dataset:
    """The entry of dataset `code`; a `CatalogError` lists the known ones."""
    return lookup(datasets(), code, "dataset", DATASETS_FILE)


def official_files(protocol: str) -> dict[str, Mapping[str, str]]:
    """Per dataset with released `protocol` files, where the release keeps them (datasets.yaml `official`)."""
    return {code: d.official[protocol] for code, d in datasets().items() if protocol in d.official}
