"""The default grid wires every method with its own weights and recipe (Snakemake dry runs, no jobs run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run


def shell_commands(*args: str) -> list[str]:
    """The shell commands of a forced dry run of the default target."""
    proc = run(["snakemake", "-n", "-F", "-p", *args], cwd=ROOT)
    return [line for line in proc.stdout.splitlines() if line.startswith("Shell command:")]


@pytest.fixture(scope="module")
def commands() -> list[str]:
    return shell_commands("all")


def runs_of(commands: list[str], method: str) -> list[str]:
    return [
        c
        for c in commands
        if "vifi train" in c and f"--method {method} " in c and "--out checkpoints/bridge" not in c
    ]


def test_every_method_of_the_grid_is_trained_or_evaluated(commands):
    evaluated = {m.group(1) for c in commands if (m := re.search(r"runs/base2novel/(\w+/\w+)/seed\d", c))}
    assert evaluated == {
        f"{d}/{m}" for d in ("k400", "ucf101") for m in ("vanilla", "image", "text", "vifi", "evl")
    } | {"ucf101/prompt"}, (
        "prompting must skip the bridge's own dataset, whose novel classes the bridge was trained on"
    )


def test_prompting_starts_from_the_bridge_trained_once(commands):
    bridge = [c for c in commands if "--out checkpoints/bridge/k400/model.pt" in c]
    assert len(bridge) == 1 and "--method vifi " in bridge[0] and "annotations/train1.txt" in bridge[0]
    prompt = runs_of(commands, "prompt")
    assert len(prompt) == 3
    assert all("--weights checkpoints/bridge/k400/model.pt" in c and "--n-ctx-text 8" in c for c in prompt)


def test_evl_runs_its_own_recipe_and_evaluates_with_its_sampling(commands):
    evl = runs_of(commands, "evl")
    assert len(evl) == 6
    for flag in ("--betas 0.9 0.999", "--warmup-epochs 0", "--min-lr-ratio 0.0", "--augment evl",
                 "--sampling dense", "--normalize clip", "--label-smoothing 0.0"):  # fmt: skip
        assert all(flag in c for c in evl), flag
    vifi = runs_of(commands, "vifi")
    assert all("--augment vifi" in c and "--betas 0.9 0.98" in c for c in vifi)
    evaluations = [c for c in commands if "vifi evaluate" in c and "--method evl " in c]
    assert evaluations and all("--sampling dense --stride 2" in c for c in evaluations)


def test_a_given_bridge_checkpoint_replaces_the_bridge_stage(tmp_path: Path):
    released = tmp_path / "k400-vifi.pt"
    released.touch()
    override = tmp_path / "bridge.yaml"
    override.write_text(yaml.safe_dump({"bridge": {"weights": str(released)}, "methods": ["prompt"]}))
    commands = [c for c in shell_commands("runs_all", "--configfile", str(override)) if "vifi train" in c]
    assert commands and all(f"--weights {released}" in c for c in commands)
    assert any("runs/base2novel/k400/prompt" in c for c in commands), "a foreign bridge allows k400 prompting"
