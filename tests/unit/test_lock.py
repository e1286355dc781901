"""The environment is locked: every package, transitive ones included, pinned with hashes; the lock agrees with
pyproject.toml's pins and with what is installed; `make setup` installs it verifying the hashes; its hash is
part of every record."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
import tomllib

from tests.conftest import ROOT
from vifi import provenance

LOCK = ROOT / "requirements.lock"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, list[str]]]:
    """Package -> (version, hashes) of every requirement in the lock."""
    found = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        head = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if head:
            found[normalise(head.group(1))] = (
                head.group(2),
                re.findall(r"--hash=sha256:([0-9a-f]{64})", block),
            )
    return found


def test_every_locked_package_is_pinned_with_hashes() -> None:
    packages = locked()
    assert len(packages) > 150  # the direct pins are 22; torch, dvc and snakemake bring the rest
    assert all(hashes for _, hashes in packages.values())
    requirement_lines = [line for line in LOCK.read_text().splitlines() if re.match(r"[A-Za-z0-9]", line)]
    assert len(requirement_lines) == len(packages) and all("==" in line for line in requirement_lines)


def test_the_lock_keeps_pyproject_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    packages = locked()
    for pin in pins:
        name, version = pin.split("==")
        assert packages[normalise(name)][0] == version, pin


def test_the_installed_environment_is_the_lock() -> None:
    installed = {normalise(d.metadata["Name"]): d.version for d in md.distributions()}
    for name, (version, _) in locked().items():
        assert installed.get(name, "").split("+")[0] == version, name


def test_make_installs_the_lock_by_hash() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile and "LOCK := requirements.lock" in makefile
    assert "pip-compile --quiet --generate-hashes" in makefile  # `make lock` refreshes it


def test_records_name_the_lock_by_hash() -> None:
    record = provenance.lock_record()
    assert record == {"path": "requirements.lock", "sha256": hashlib.sha256(LOCK.read_bytes()).hexdigest()}
