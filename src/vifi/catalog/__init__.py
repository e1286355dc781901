"""The catalog of methods and datasets: one declarative entry each, in `methods.yaml` and `datasets.yaml`.

Every place that needs to know which methods or datasets exist reads them from here (`vifi.catalog.methods`,
`vifi.catalog.datasets`; `vifi.catalog.config` checks a params config against both): the config check that
follows the schema, Snakemake's wildcard constraints and targets, display names, published-number keys, model
construction and FLOP counting, table rows. Method codes were hard-coded in ten lists across eight files, and
dataset facts in seven tables, so adding either meant finding them all; now it is one entry and one module.

A method's `model` names a class (`module:Class`) with this interface, which `vifi.models.factory` uses:

- `Class.build(clip, tokenizer, spec, method)`: the model around an open_clip CLIP, with `method.trains`
  trainable (the class says which parameter groups it has) and `method.template` for its prompts;
- `model.load(path, trained=...)`: the starting weights (`trained=False`) or a checkpoint of `vifi train`;
- `model.checkpoint_module()`: the module whose state dict is the method's checkpoint;
- `tokenize`, `encode_text`, `encode_video`, `forward(video, text_features)` and `text_trains`, which the
  training and evaluation loops call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml


class CatalogError(ValueError):
    """A catalog entry, or a config naming one, that is missing or malformed; the message names file and key."""


Entry = TypeVar("Entry")


def read_entries(
    path: Path, kind: type[Entry], check: Callable[[dict[str, Entry]], None]
) -> Mapping[str, Entry]:
    """Each entry of a catalog file as `kind`, with errors that name the file, entry and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise CatalogError(f"{path}: cannot read the catalog: {err}") from err
    if not isinstance(raw, dict) or not raw:
        raise CatalogError(f"{path}: expected a mapping of entries")
    names = {f.name for f in fields(kind)} - {"code"}
    required = {f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING} - {
        "code"
    }
    entries = {}
    for code, entry in raw.items():
        where = f"{path}: entry {code!r}"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: expected a mapping of fields")
        if unknown := sorted(set(entry) - names):
            raise CatalogError(f"{where}: unknown field(s) {unknown}; known: {sorted(names)}")
        if missing := sorted(required - set(entry)):
            raise CatalogError(f"{where}: missing field(s) {missing}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        entries[code] = kind(code=code, **values)
    check(entries)
    return MappingProxyType(entries)


def lookup(entries: Mapping[str, Entry], code: str, what: str, path: Path) -> Entry:
    """The entry `code`; a `CatalogError` names the catalog file and lists the known ones."""
    if code not in entries:
        raise CatalogError(f"unknown {what} {code!r}; the catalog ({path}) has {', '.join(entries)}")
    return entries[code]


# Each kind lives in a module of its own that reads only its own file, so that the workflow (which makes a
# stage's jobs stale when a file its code reads changes) re-runs the data stages for a new dataset only, and
# nothing but model stages for a new method.
