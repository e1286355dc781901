"""The curated mutants of benchmarks/mutants.py still apply: each snippet is in its module exactly once, so a
refactor cannot silently turn the mutation check into a no-op."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from mutants import MUTANTS, apply

sys.path.pop(0)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_changes_its_module_once(mutant) -> None:
    source = (ROOT / mutant.path).read_text(encoding="utf-8")
    mutated = apply(source, mutant)
    assert mutated != source
    compile(mutated, mutant.path, "exec")  # a mutant is a bug, not a syntax error
    assert all((ROOT / t).exists() for t in mutant.tests if t.startswith("tests/"))


def test_the_four_survivors_of_issue_18_are_in_the_list() -> None:
    names = {m.name for m in MUTANTS}
    survivors = {"label_smoothing_dropped", "evl_conv_replaces_features", "text_cached_while_training"}
    assert survivors | {"accumulation_off_by_one"} <= names
