"""The command lines are one thin layer over the library: only `vifi.stages` parses arguments, imports go from
the stages to the library and never back, and every `vifi <stage>` is a stage module of its own name.

Imports are read with `ast` (anywhere in a module, function bodies included), not by importing the modules, so
a lazy `import argparse` inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT
from vifi.__main__ import STAGES

PACKAGE = ROOT / "src" / "vifi"
STAGES_PACKAGE = "vifi.stages"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str) -> set[str]:
    """Every module an `import` or `from ... import` of `source` names, and each `from a import b` as `a.b` too
    (`from vifi import stages` imports the module `vifi.stages`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules() -> dict[str, set[str]]:
    """Each module of the package and what it imports."""
    return {module_name(p): imported(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def in_stages(name: str) -> bool:
    return name == STAGES_PACKAGE or name.startswith(f"{STAGES_PACKAGE}.")


def test_imports_are_found_wherever_they_are_written() -> None:
    """The reader sees what the layer checks look for, so that an empty answer means none, not a blind spot."""
    source = (
        "import os\ndef f():\n    import argparse\nfrom vifi import stages\nfrom vifi.stages.train import run\n"
    )
    assert imported(source) == {
        "os",
        "argparse",
        "vifi",
        "vifi.stages",
        "vifi.stages.train",
        "vifi.stages.train.run",
    }


def test_the_package_is_read_in_full() -> None:
    found = modules()
    assert {"vifi.engine.train", "vifi.stages.train", "vifi.stages.argtypes", "vifi.__main__"} <= set(found)
    assert "argparse" in found["vifi.stages.train"]


def test_only_the_stages_import_argparse() -> None:
    library = sorted(name for name, names in modules().items() if not in_stages(name) and "argparse" in names)
    assert library == []


def test_the_library_never_imports_the_stages() -> None:
    upward = {
        name: sorted(m for m in names if in_stages(m))
        for name, names in modules().items()
        if not in_stages(name) and any(in_stages(m) for m in names)
    }
    assert upward == {}


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_is_a_stage_module_of_its_name(stage: str) -> None:
    """`vifi <stage>` runs a function of `vifi.stages.<stage>` (`-` spelled `_`); a module may serve a second,
    related stage (`stills` is `vifi.stages.synthesize`), as long as one of its stages gives it its name."""
    module, func, _ = STAGES[stage]
    assert module.startswith(f"{STAGES_PACKAGE}."), f"vifi {stage} runs {module}, outside {STAGES_PACKAGE}"
    named_for = {name.replace("-", "_") for name, (other, _, _) in STAGES.items() if other == module}
    assert module.rsplit(".", 1)[1] in named_for
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    defined = {
        n.name for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.FunctionDef)
    }
    assert func in defined, f"{module} defines no function {func}"
