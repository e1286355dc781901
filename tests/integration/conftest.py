"""The smoke repository of the integration tests: built once per session, copied for each test module.

`dvc repro` on the smoke config is the slow part. Every module gets its own copy of the built repository, so
one module's experiments or edits never reach another's assertions. The copy keeps mtimes, git history, the
DVC cache and Snakemake's metadata, so both tools see it as up to date.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run


def copy_checkout(dest: Path) -> None:
    """Copy what a fresh clone would hold (tracked plus new, non-ignored files) into `dest`."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.fixture(scope="session")
def built_smoke_repo(tmp_path_factory) -> Path:
    """The checkout with `smoke.yaml` as params.yaml, committed, after one `dvc repro`. Never modified."""
    repo = tmp_path_factory.mktemp("smoke-build") / "repo"
    copy_checkout(repo)
    shutil.copy(ROOT / "tests/integration/smoke.yaml", repo / "params.yaml")
    run(["git", "init", "-q"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "smoke"], cwd=repo)
    run(["dvc", "repro"], cwd=repo, timeout=900)
    return repo


@pytest.fixture(scope="module")
def smoke_repo(built_smoke_repo: Path, tmp_path_factory) -> Path:
    """A private copy of the built smoke repository for one test module."""
    repo = tmp_path_factory.mktemp("smoke") / "repo"
    shutil.copytree(built_smoke_repo, repo, symlinks=True)
    return repo
