"""Every example in README.md and docs/*.md works: params overrides validate, and every command shows --help.

A ```yaml block with top-level params keys is validated exactly as Snakemake sees it with `--configfile`:
params.yaml updated by the block (`snakemake.utils.update_config`), then `snakemake.utils.validate` against
the schema the Snakefile uses. Blocks of other files (a dvc.yaml's `stages:`, a profile's `cores:`) are not
params. Commands are found in code (inline spans and fenced blocks): `vifi <stage>` (also after
`python -m` or `torchrun ... -m`), `python -m vifi.<module>` and scripts under scripts/, benchmarks/ and .ci/.
"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate
from snakemake_interface_common.exceptions import WorkflowError

from tests.conftest import ROOT
from vifi.__main__ import STAGES
from vifi.__main__ import main as vifi_main

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCHEMA = ROOT / "workflow/schemas/params.schema.yaml"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
# Files whose YAML is not params: their own top-level keys say which.
NOT_PARAMS = {"stages", "cores"}
# Scripts the docs name that take no options at all: `.ci/run` is `make test`, so "--help" would run the suite.
NO_OPTIONS = {".ci/run"}


def blocks(doc: Path) -> list[tuple[str, int, str]]:
    """(language, line of the opening fence, body) of each fenced block."""
    text = doc.read_text(encoding="utf-8")
    return [(m[1], text.count("\n", 0, m.start()) + 1, m[2]) for m in FENCE.finditer(text)]


def code(doc: Path) -> list[str]:
    """Every inline code span (which may wrap lines) and the body of every fenced block that is not YAML."""
    text = doc.read_text(encoding="utf-8")
    spans = re.findall(r"`([^`]+)`", FENCE.sub("", text))
    return spans + [body for lang, _, body in blocks(doc) if lang != "yaml"]


def params_overrides() -> list:
    """`pytest.param(block, id=<file>:<line>)` for each YAML block whose top-level keys are params keys."""
    found = []
    for doc in DOCS:
        for lang, line, body in blocks(doc):
            data = yaml.safe_load(body) if lang == "yaml" else None
            if isinstance(data, dict) and not NOT_PARAMS & set(data):
                found.append(pytest.param(data, id=f"{doc.name}:{line}"))
    return found


def shown(pattern: str) -> list[str]:
    """The distinct first groups of `pattern` in the docs' code, sorted."""
    return sorted({m for doc in DOCS for text in code(doc) for m in re.findall(pattern, text)})


STAGE_COMMANDS = shown(r"(?<![\w./-])vifi ([a-z]\w*)")
MODULES = shown(r"-m (vifi(?:\.\w+)+)")
SCRIPTS = [s for s in shown(r"(?<![\w./-])((?:scripts|benchmarks|\.ci)/[\w./-]*\w)") if s not in NO_OPTIONS]


def test_the_docs_show_examples_of_every_kind() -> None:
    """The patterns still find the examples (a changed markup would otherwise skip them silently)."""
    assert params_overrides()
    assert {"predict", "train", "download", "flops"} <= set(STAGE_COMMANDS)
    assert {"vifi.stages.gpu_pool"} <= set(MODULES)
    assert {"scripts/system-deps.sh", "benchmarks/gpu_hours.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("override", params_overrides())
def test_params_examples_validate_as_snakemake_configfiles(override: dict) -> None:
    config = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    update_config(config, override)
    try:
        validate(config, str(SCHEMA))
    except WorkflowError as err:
        pytest.fail("\n".join(str(err).splitlines()[:2]), pytrace=False)


def help_text(run) -> str:
    """What `run()` prints before it exits with status 0, as `--help` does."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        run()
    assert exc.value.code in (0, None), out.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("stage", STAGE_COMMANDS)
def test_stage_commands_show_help(stage: str) -> None:
    assert stage in STAGES, f"the docs show `vifi {stage}`, which is no stage"
    assert help_text(lambda: vifi_main([stage, "--help"])).startswith(f"usage: vifi {stage} ")


@pytest.mark.parametrize("module", MODULES)
def test_modules_show_help(module: str, monkeypatch) -> None:
    """`python -m vifi.<module> --help`, run as `-m` runs it."""
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    text = help_text(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))
    assert text.startswith("usage: ")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_show_help(script: str, monkeypatch) -> None:
    """Python scripts run as `python <script> --help` runs them (their folder first on sys.path), shell ones
    by bash."""
    path = ROOT / script
    assert path.is_file(), f"the docs show {script}, which does not exist"
    if path.suffix == ".py":
        monkeypatch.setattr(sys, "argv", [str(path), "--help"])
        monkeypatch.syspath_prepend(str(path.parent))
        assert help_text(lambda: runpy.run_path(str(path), run_name="__main__")).startswith("usage: ")
        return
    proc = subprocess.run(["bash", str(path), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Usage: " in proc.stdout, proc.stdout + proc.stderr
