"""`make setup` checks the disk before pip unpacks torch: too little space stops it at once, naming the folder,
the space it has and the space it needs; enough space lets it go on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "free_space.py"


def check(need_gib: float, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(need_gib), str(folder)], capture_output=True, text=True
    )


def test_too_little_space_stops_with_what_is_free_and_needed(tmp_path: Path) -> None:
    free_gib = shutil.disk_usage(tmp_path).free / 2**30
    done = check(free_gib * 4 + 1, tmp_path)
    assert done.returncode == 1
    assert str(tmp_path) in done.stderr and "GiB" in done.stderr
    has = float(re.search(r"it has ([0-9.]+) GiB", done.stderr).group(1))
    assert abs(has - free_gib) < 1.0


def test_enough_space_goes_on(tmp_path: Path) -> None:
    done = check(0.001, tmp_path)
    assert done.returncode == 0 and done.stderr == ""


def test_setup_checks_before_creating_the_environment() -> None:
    recipe = (ROOT / "Makefile").read_text().split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()[1:]]
    assert lines[0].startswith("python3 scripts/free_space.py $(MIN_FREE_GIB)")
    assert lines[1].startswith("python3 -m venv")
