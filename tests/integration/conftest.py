"""The smoke repository of the integration tests: built once per run, copied for each test module.

`dvc repro` on the smoke config is the slow part. Every module gets its own copy of the built repository, so
one module's experiments or edits never reach another's assertions. The copy keeps mtimes, git history, the
DVC cache and Snakemake's metadata, so both tools see it as up to date.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from filelock import FileLock
from ruamel.yaml import YAML
from snakemake.utils import update_config

from tests.conftest import ROOT, run

PARAMS = ROOT / "params.yaml"
SMOKE = ROOT / "tests/integration/smoke.yaml"


def copy_checkout(dest: Path) -> None:
    """Copy what a fresh clone would hold (tracked plus new, non-ignored files) into `dest`."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def merged_params(*overrides: Path) -> dict:
    """params.yaml with each override file applied in order, as `snakemake --configfile` applies them."""
    config = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    for override in overrides:
        update_config(config, yaml.safe_load(override.read_text(encoding="utf-8")))
    return config


def _apply(target: dict, override: dict) -> None:
    """Snakemake's merge on round-trip mappings: nested mappings merge, anything else replaces."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _apply(target[key], value)
        else:
            target[key] = value


def write_params(repo: Path, override: Path) -> None:
    """`repo`/params.yaml as params.yaml with `override` applied, in block style, its comments kept (but for
    those ruamel.yaml attaches to a value the override replaces).

    A test checkout needs the merged file itself, not a `--configfile`: `dvc repro` runs Snakemake on
    params.yaml alone and `dvc exp run -S` rewrites it, keeping the comments the ablation test looks for.
    """
    rt = YAML()
    rt.indent(mapping=2, sequence=4, offset=2)
    config = rt.load(PARAMS.read_text(encoding="utf-8"))
    _apply(config, rt.load(override.read_text(encoding="utf-8")))
    with (repo / "params.yaml").open("w", encoding="utf-8") as fh:
        rt.dump(config, fh)
    written = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    if written != merged_params(override):
        raise AssertionError(f"{override}: the written params.yaml differs from Snakemake's merge")


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory all of this run's pytest-xdist workers see (their base temp dirs' parent), or this session's
    own where there is one process."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="session")
def built_smoke_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout with params.yaml narrowed by `smoke.yaml`, committed, after one `dvc repro`. Never
    modified. Built once per run: under `make test`'s two workers, the first to need it builds it while the
    other waits on the lock, and a build that failed is tried again by the next."""
    shared = shared_dir(tmp_path_factory, "smoke-build")
    shared.mkdir(parents=True, exist_ok=True)
    repo, done = shared / "repo", shared / "built"
    with FileLock(shared / "lock"):
        if not done.exists():
            shutil.rmtree(repo, ignore_errors=True)
            copy_checkout(repo)
            write_params(repo, SMOKE)
            run(["git", "init", "-q"], cwd=repo)
            run(["git", "add", "-A"], cwd=repo)
            run(["git", "commit", "-qm", "smoke"], cwd=repo)
            run(["dvc", "repro"], cwd=repo, timeout=900)
            done.touch()
    return repo


@pytest.fixture(scope="module")
def smoke_repo(built_smoke_repo: Path, tmp_path_factory) -> Path:
    """A private copy of the built smoke repository for one test module."""
    repo = tmp_path_factory.mktemp("smoke") / "repo"
    shutil.copytree(built_smoke_repo, repo, symlinks=True)
    return repo
