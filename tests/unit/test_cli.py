"""`python -m vifi <stage>` dispatches to each stage's entry point and rejects unknown stages."""

import importlib

import pytest

from vifi.__main__ import STAGES, main


def test_every_stage_resolves_to_a_callable():
    for module, func, _ in STAGES.values():
        assert callable(getattr(importlib.import_module(module), func))


def test_unknown_stage_is_rejected_with_usage(capsys):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert "unknown stage 'trian'" in err and "train" in err


def test_stage_arguments_are_validated(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["splits", "--labels", "x.csv"])
    assert exc.value.code == 2
    assert "--train-list" in capsys.readouterr().err
