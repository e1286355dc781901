"""The package files a workflow rule's command runs or reads, derived from the code rather than kept by hand.

A rule declares these files as inputs so that editing any of them makes its jobs stale (Snakemake's mtime
trigger). Hand-kept lists drifted from the code: a stage that imports 17 modules listed 6, so edits to the other
11 left its outputs silently stale. Here the list is computed when the DAG is built: the transitive closure of
the `vifi.*` imports of the rule's entry modules, read with `ast` (importing them would load torch on every
parse), with the model modules the catalog names (the factory imports them by name), plus every
packaged data file that a module of the closure names beside itself (`published.yaml`,
`registry.yaml`, the label CSVs, the model configs, the templates).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "vifi"
PACKAGE_DIR = Path(__file__).resolve().parent
# `python -m vifi <stage>` runs this module first, which imports the stage's module.
ENTRY = "vifi.__main__"
FACTORY = "vifi.models.factory"


class UnknownModuleError(LookupError):
    """A name that is neither a `vifi` module nor a `vifi` stage."""


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source file of module `name` (`vifi.a.b`), a package's `__init__.py`, or None if there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    """The packages Python initialises before `name`: `vifi`, `vifi.a` for `vifi.a.b`."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@functools.cache
def direct_imports(name: str, package_dir: Path = PACKAGE_DIR) -> frozenset[str]:
    """The `vifi` modules that module `name` imports anywhere in its body (function-level imports included).

    `from vifi.engine import train` names a module, `from vifi.metrics import topk` a function: a name is a
    module when it has a source file, otherwise the import is of the package it comes from. Cached like the
    parse itself: every rule's closure passes through the same modules, and a parse of the workflow computes
    about thirty closures.
    """
    path = module_file(name, package_dir)
    if path is None:
        raise UnknownModuleError(f"{name}: no module of that name under {package_dir}")
    found: set[str] = set()
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    found.update(_named_modules(name))
    return frozenset(m for m in found if module_file(m, package_dir) is not None)


def _named_modules(name: str) -> tuple[str, ...]:
    """Modules a module imports by name at run time: the factory builds the catalog's model classes."""
    if name != FACTORY:
        return ()
    from vifi.catalog.methods import model_modules

    return model_modules()


def closure(entries: Iterable[str], package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Every `vifi` module that importing `entries` executes: their imports, transitively, and the packages
    (`__init__.py`) on the way, sorted."""
    todo = list(entries)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [*direct_imports(name, package_dir), *_parents(name)]
    return sorted(seen)


def _data_under(path: Path) -> list[Path]:
    """The packaged data files at `path`: the file itself, or every non-Python file below a folder."""
    if path.is_file():
        return [path] if path.suffix != ".py" else []
    if (path / "__init__.py").exists():  # a subpackage named in a string (`"report"`) is code, not data
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc"))


def data_files(modules: Iterable[str], package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The packaged data files the modules read: each string constant in a module's source that names a file
    or folder beside it (`Path(__file__).with_name("published.yaml")`, `resources.files(...) / "labels"`)."""
    found: set[Path] = set()
    for name in modules:
        path = module_file(name, package_dir)
        if path is None:
            raise UnknownModuleError(f"{name}: no module of that name under {package_dir}")
        found |= _named_data(path, package_dir)
    return sorted(found)


@functools.cache
def _named_data(path: Path, package_dir: Path) -> frozenset[Path]:
    """The packaged data files module `path` names (cached, as `direct_imports`)."""
    found: set[Path] = set()
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _plain_name(node.value):
            target = path.parent / node.value
            if target.exists() and target.resolve().is_relative_to(package_dir.resolve()):
                found.update(_data_under(target))
    return frozenset(found)


def _plain_name(text: str) -> bool:
    """A relative file or folder name, not a message, a format string or a path out of the package."""
    return bool(text) and text.strip() == text and not any(c in text for c in " \n{}%*:\\") and ".." not in text


def stage_modules(names: Iterable[str]) -> list[str]:
    """Entry modules: a stage name (`train`) is `vifi.__main__` plus the stage's command-line module
    (`vifi.stages.train`), whose imports lead to the library it calls; a dotted name (`vifi.stages.gpu_pool`) is
    a module run with `python -m`."""
    from vifi.__main__ import STAGES

    modules: list[str] = []
    for name in names:
        if name in STAGES:
            modules += [ENTRY, STAGES[name][0]]
        elif name.startswith(f"{PACKAGE}."):
            modules.append(name)
        else:
            raise UnknownModuleError(f"{name!r} is neither a `vifi` stage ({', '.join(STAGES)}) nor a module")
    return modules


def rule_code(names: Iterable[str], root: str | Path, *, declared: Iterable[str] = ()) -> list[str]:
    """A rule's code inputs, as paths under `root` (the package folder as the workflow sees it, `src/vifi`).

    `names` are what the rule's command runs (stages or modules). `declared` are data paths relative to the
    package (`report/templates`) that the rule declares per job itself, so that editing one table's template
    re-renders that table only; they are left out here.
    """
    modules = closure(stage_modules(names))
    skip = [PACKAGE_DIR / d for d in declared]
    files = [module_file(m) for m in modules] + [
        f for f in data_files(modules) if not any(f.is_relative_to(s) for s in skip)
    ]
    return sorted(str(Path(root) / f.relative_to(PACKAGE_DIR)) for f in files if f is not None)
