"""`vifi <stage>` runs each stage's entry point; every stage has --help; unknown stages are rejected."""

import importlib
from importlib.metadata import entry_points

import pytest

from vifi.__main__ import STAGES, main


def test_every_stage_resolves_to_a_callable():
    for module, func, _ in STAGES.values():
        assert callable(getattr(importlib.import_module(module), func))


def test_top_level_help_lists_every_stage(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: vifi <stage>")
    listed = [line.split()[0] for line in out.split("stages:\n")[1].split("\n\n")[0].splitlines()]
    assert listed == list(STAGES)
    assert main([]) == 2 and "stages:" in capsys.readouterr().err


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_has_help(stage, capsys):
    with pytest.raises(SystemExit) as exc:
        main([stage, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: vifi {stage} "), out.splitlines()[0]  # the command a user types


def test_console_script_runs_main():
    (script,) = entry_points(group="console_scripts", name="vifi")
    assert script.load() is main


def test_unknown_stage_is_rejected_with_usage(capsys):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert "unknown stage 'trian'" in err and "train" in err


def test_stage_arguments_are_validated(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["splits", "--labels", "x.csv"])
    assert exc.value.code == 2
    assert "--train-list" in capsys.readouterr().err
