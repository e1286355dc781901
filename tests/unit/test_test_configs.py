"""The integration tests' configs are small overrides of params.yaml, not copies of it.

A copy drifts: a key added to params.yaml (or a changed default) would silently not reach the tests. So each
file under tests/integration/ holds only the keys whose values differ from what it is applied over, and the
merge (Snakemake's, as `--configfile` does it) still validates against the schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from tests.conftest import ROOT
from tests.integration.conftest import merged_params, write_params

SCHEMA = ROOT / "workflow/schemas/params.schema.yaml"
PAPER = ROOT / "workflow/configs/paper.yaml"
# Each test config and the files applied over params.yaml before it, in the order its tests apply them.
CONFIGS = {
    "smoke.yaml": [],
    "every_protocol.yaml": [],
    "paper_miniature.yaml": [PAPER],
}


def repeated(base: dict, override: dict, prefix: str = "") -> list[str]:
    """The dotted keys of `override` whose values `base` already has (mappings are compared key by key)."""
    found = []
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            found += repeated(base[key], value, f"{prefix}{key}.")
        elif key in base and base[key] == value:
            found.append(prefix + key)
    return found


def test_every_test_config_is_listed() -> None:
    assert sorted(p.name for p in (ROOT / "tests/integration").glob("*.yaml")) == sorted(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_a_test_config_repeats_no_value_of_what_it_overrides(name: str) -> None:
    override = yaml.safe_load((ROOT / "tests/integration" / name).read_text(encoding="utf-8"))
    assert repeated(merged_params(*CONFIGS[name]), override) == []


@pytest.mark.parametrize("name", CONFIGS)
def test_a_test_config_merged_over_params_validates(name: str) -> None:
    validate(merged_params(*CONFIGS[name], ROOT / "tests/integration" / name), str(SCHEMA))


def test_repeated_finds_a_copied_value() -> None:
    base = {"train": {"lr": 0.1, "epochs": 3}, "protocols": ["a"]}
    assert repeated(base, {"train": {"lr": 0.1, "epochs": 4}, "protocols": ["a", "b"]}) == ["train.lr"]


def test_written_params_keep_comments_and_equal_the_merge(tmp_path: Path) -> None:
    """The smoke checkout's params.yaml: DVC's only params file, so it is the merge itself, comments kept."""
    write_params(tmp_path, ROOT / "tests/integration/smoke.yaml")
    text = (tmp_path / "params.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text) == merged_params(ROOT / "tests/integration/smoke.yaml")
    assert yaml.safe_load(text)["protocols"] == ["base2novel"]
    assert "# The paper's four protocols" in text and "[" not in text  # block style, as `dvc exp run -S` needs
