"""The methods of the catalog (`methods.yaml`; what a method's model class provides: `vifi.catalog`)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vifi.catalog import CatalogError, lookup, read_entries

METHODS_FILE = Path(__file__).with_name("methods.yaml")
STARTS = ("pretrained", "bridge")


@dataclass(frozen=True)
class Method:
    """One method's entry (see methods.yaml for what each field means)."""

    code: str
    name: str
    model: str
    trains: tuple[str, ...]
    template: str
    starts_from: str = "pretrained"
    options: Mapping[str, str] = field(default_factory=dict)
    published: str | None = None
    sections: Mapping[str, str] = field(default_factory=dict)
    table: Mapping[str, str] = field(default_factory=dict)
    versus: str | None = None

    @property
    def trained(self) -> bool:
        """Whether `vifi train` fine-tunes it; a method that trains nothing is evaluated as loaded."""
        return bool(self.trains)

    def model_class(self) -> type:
        """The model class `model` names, imported on first use (torch loads only where a model is built)."""
        module, _, name = self.model.partition(":")
        return getattr(importlib.import_module(module), name)


def _check_methods(methods: dict[str, Method]) -> None:
    for m in methods.values():
        where = f"{METHODS_FILE}: entry {m.code!r}"
        if m.starts_from not in STARTS:
            raise CatalogError(f"{where}: starts_from {m.starts_from!r}; expected one of {STARTS}")
        if ":" not in m.model:
            raise CatalogError(f"{where}: model {m.model!r} must be module:Class")
        if "{}" not in m.template:
            raise CatalogError(f"{where}: template {m.template!r} has no {{}} for the class name")
        if m.versus is not None and m.versus not in methods:
            raise CatalogError(f"{where}: versus {m.versus!r} is not a method")
        if any("." not in key for key in m.options.values()):
            raise CatalogError(
                f"{where}: options map flags to params keys `section.key`, got {dict(m.options)}"
            )


@functools.cache
def methods() -> Mapping[str, Method]:
    """Every method, in table order."""
    return read_entries(METHODS_FILE, Method, _check_methods)


def method(code: str) -> Method:
    """The entry of method `code`; a `CatalogError` lists the known ones."""
    return lookup(methods(), code, "method", METHODS_FILE)


def trained_methods() -> tuple[str, ...]:
    """The methods `vifi train` fine-tunes."""
    return tuple(code for code, m in methods().items() if m.trained)


def model_modules() -> tuple[str, ...]:
    """The modules that hold the methods' model classes (imported by name, so import scans cannot see them)."""
    return tuple(dict.fromkeys(m.model.partition(":")[0] for m in methods().values()))
