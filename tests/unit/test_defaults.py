"""One home for every default: a stage flag that changes a result is required, or its default is the value
params.yaml gives it; the model code and the optimiser keep no defaults of their own that could disagree."""

from __future__ import annotations

import argparse
import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from vifi.__main__ import STAGES
from vifi.engine import schedule
from vifi.models.factory import ModelSpec
from vifi.models.prompts import PromptedCLIP

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
# How a model sees a video: the recipe keys that embedding and prediction share with training.
VIEW = ("num_frames", "normalize", "sampling", "stride")
# The params.yaml values each stage's flags carry (`model` holds the architecture).
VALUES = {
    "download": PARAMS["data"],
    "synthesize": PARAMS["synthetic"],
    "stills": PARAMS["synthetic"],
    "extract": PARAMS["extract"],
    "pretrain": PARAMS["pretrain"],
    "train": PARAMS["train"] | PARAMS["model"],
    "evaluate": {k: PARAMS["train"][k] for k in VIEW} | PARAMS["evaluate"] | PARAMS["model"],
    "embed": {k: PARAMS["train"][k] for k in VIEW} | PARAMS["model"],
    "render": PARAMS["report"],
    "predict": {k: PARAMS["train"][k] for k in VIEW} | PARAMS["model"],
}
# Defaults of values that params.yaml does not hold, each for a reason: how fast a job runs, where a file is by
# default, or a stage's fixed convention.
NOT_IN_PARAMS = {
    "threads": "speed",
    "workers": "speed: data-loader processes",
    "grad_checkpointing": "memory: activations recomputed in backward, where nothing is trained",
    "batch_size": "embed: speed (the scores do not depend on it)",
    "num_clips": "evaluate: one temporal view (METHODS §5.1) except where fullsup passes its own",
    "num_crops": "evaluate: one spatial view, as num_clips",
    "crf": "synthesize: the H.264 quality of the stand-in videos, fixed so that they are byte-reproducible",
    "list": "download: a listing switch",
    "pool": "lists: a switch the rule sets from the grid",
    "published": "packaged file",
    "claims": "packaged file",
    "templates": "packaged folder",
    "audits": "render: the lists' audits, none by default",
    "tables": "index/paper: inputs",
    "figures": "index/paper: inputs",
    "metrics": "index: inputs",
    "snippets": "paper: inputs",
    "perplexity": "figures: t-SNE's own setting",
    "seed": "figures: t-SNE's seed",
    "method": "predict: which model a file holds, read from it where recorded",
    "top_k": "predict: output size",
    "json": "predict: output format",
}


class Parsed(Exception):
    """Raised in place of parsing, carrying the parser a stage built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def stage_parser(stage: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser a stage's main builds, caught at its first parse."""

    def catch(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise Parsed(self)

    for name in ("parse_args", "parse_known_args", "parse_intermixed_args"):
        monkeypatch.setattr(argparse.ArgumentParser, name, catch)
    module, func, _ = STAGES[stage]
    with pytest.raises(Parsed) as caught:
        getattr(importlib.import_module(module), func)([])
    return caught.value.parser


def plain(value: object) -> object:
    """Tuples as lists and paths as text, as they appear in YAML."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def defaults(parser: argparse.ArgumentParser) -> dict[str, object]:
    """Each optional flag's default, where it has one."""
    return {
        a.dest: a.default
        for a in parser._actions
        if not a.required and a.default not in (None, argparse.SUPPRESS) and a.dest != "help"
    }


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_defaults_are_params_values(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`warmup_epochs 5, mixup 0.8, cutmix 1.0, hflip 0.5` in train and `--batch-size 16` in evaluate disagreed
    with params.yaml; now every default is either the params value or one params.yaml does not hold."""
    values = VALUES.get(stage, {})
    for dest, default in defaults(stage_parser(stage, monkeypatch)).items():
        if dest in values:
            assert plain(default) == values[dest], f"vifi {stage} --{dest.replace('_', '-')}"
        else:
            assert dest in NOT_IN_PARAMS, (
                f"vifi {stage} --{dest.replace('_', '-')}: a default params.yaml lacks"
            )


def test_the_training_recipe_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key of params.yaml's `train` section but the speed knobs is a required flag of `vifi train`."""
    parser = stage_parser("train", monkeypatch)
    required = {a.dest for a in parser._actions if a.required}
    speed = {"workers", "grad_checkpointing", "resume_interval", "device_augment"}
    assert set(PARAMS["train"]) - speed <= required
    assert {"weight_decay", "mixup", "hflip", "warmup_epochs", "rng_seed", "betas"} <= required


def test_model_code_keeps_no_recipe_of_its_own() -> None:
    """Prompt counts and depths have no defaults (16/16/9/9 disagreed with the demo's 8/8/3/3); a spec of one
    method carries no setting of another."""
    signature = inspect.signature(PromptedCLIP).parameters
    options = ("n_ctx_vision", "n_ctx_text", "depth_vision", "depth_text")
    assert all(signature[name].default is inspect.Parameter.empty for name in options)
    assert ModelSpec("vifi", "vifi-tiny", 8).options == ()
    with pytest.raises(ValueError, match=r"prompt needs the options \['depth_text'"):
        ModelSpec("prompt", "vifi-tiny", 8)
    with pytest.raises(ValueError, match=r"evl needs the options \['evl_layers'\], got none"):
        ModelSpec("evl", "vifi-tiny", 8)
    with pytest.raises(ValueError, match=r"vifi needs the options none, got \['evl_layers'\]"):
        ModelSpec("vifi", "vifi-tiny", 8, {"evl_layers": 2})


def test_optimiser_defaults_are_the_released_recipe_of_params() -> None:
    """Pretraining relies on the optimiser's defaults; they are params.yaml's released-code values."""
    adamw = inspect.signature(schedule.adamw).parameters
    cosine = inspect.signature(schedule.cosine).parameters
    assert list(adamw["betas"].default) == PARAMS["train"]["betas"]
    assert adamw["exclude_from_decay"].default == PARAMS["train"]["decay_exclusions"]
    assert cosine["warmup_jump"].default == PARAMS["train"]["warmup_jump"]
    assert cosine["min_lr_ratio"].default == PARAMS["train"]["min_lr_ratio"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "prompt", "--n-ctx-vision", "8"], "--method prompt needs --n-ctx-text --depth-vision"),
        (["--method", "vifi", "--evl-layers", "4"], "--evl-layers only applies to --method evl, not vifi"),
        (["--method", "evl"], "--method evl needs --evl-layers"),
    ],
)
def test_model_flags_of_the_wrong_method_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import with_released_flags
    from vifi.stages import train

    base = ["--frames", "f", "--train-list", "l", "--labels", "c", "--weights", "w", "--arch", "vifi-tiny"]
    base += ["--num-frames", "8", "--epochs", "1", "--lr", "1", "--batch-size", "2", "--effective-batch", "2"]
    base += ["--out", "o", "--log-csv", "c"]
    full = with_released_flags("train", [*base, *argv])
    if "--method" in argv and argv[argv.index("--method") + 1] == "evl":
        full.remove("--evl-layers")
        full.remove("4")
    with pytest.raises(SystemExit) as exit_info:
        train.main(full)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
