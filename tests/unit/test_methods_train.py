"""Each trained method runs through `vifi train` and `vifi evaluate` with its recipe and checkpoint layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_world, with_released_flags
from vifi.data.lists.splits import write_base2novel
from vifi.engine import train
from vifi.engine.train import TrainConfig
from vifi.models.factory import ModelSpec, build_model
from vifi.models.pretrained import WeightsError, read_state_dict
from vifi.stages import evaluate as evaluate_stage
from vifi.stages import train as train_stage
from vifi.stages.modelargs import config_from_args

EVL_RECIPE = [
    "--augment", "evl", "--sampling", "dense", "--stride", "2", "--normalize", "clip",
    "--betas", "0.9", "0.999", "--warmup-epochs", "0", "--min-lr-ratio", "0", "--label-smoothing", "0",
    "--weight-decay", "0.05",
]  # fmt: skip
PROMPTS = ["--n-ctx-vision", "4", "--n-ctx-text", "4", "--depth-vision", "2", "--depth-text", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """A 6-class synthetic dataset, its frame store, base-to-novel splits and a random tiny CLIP."""
    world = tiny_world(
        tmp_path_factory.mktemp("methods"), classes=6, train_per_class=(4, 4), height=48, width=64, frames=16
    )
    splits = world["root"] / "splits"
    write_base2novel(world["labels"], world["train"], world["val"], splits, shots=2, seeds=[1])
    return {"root": world["root"], "shard": world["shard"], "splits": splits, "weights": world["weights"]}


def run_train(data: dict, method: str, out: Path, *extra: str) -> Path:
    s = data["splits"]
    argv = [
        "--frames", str(data["shard"]), "--train-list", str(s / "fs_base_s1_train.txt"),
        "--labels", str(s / "base_labels.csv"), "--weights", str(data["weights"]), "--arch", "vifi-tiny",
        "--method", method, "--num-frames", "4", "--epochs", "2", "--warmup-epochs", "1", "--lr", "1e-3",
        "--batch-size", "2", "--effective-batch", "2", "--mixup", "0", "--cutmix", "0",
        "--out", str(out), "--log-csv", str(out.with_suffix(".csv")), *extra,
    ]  # fmt: skip
    assert train_stage.main(with_released_flags("train", argv)) == 0
    return out


def run_evaluate(data: dict, method: str, weights: Path, *extra: str) -> dict:
    s = data["splits"]
    out = weights.with_name(weights.stem + "-metrics.json")
    argv = [
        "--frames", str(data["shard"]), "--weights", str(weights), "--arch", "vifi-tiny", "--method", method,
        "--num-frames", "4", "--eval", "base", str(s / "base_val.txt"), str(s / "base_labels.csv"),
        "--eval", "novel", str(s / "novel_val.txt"), str(s / "novel_labels.csv"),
        "--protocol", "base2novel", "--dataset", "ucf101", "--run-name", "seed1", "--out", str(out),
        "--predictions", str(out.with_suffix(".csv")), *extra,
    ]  # fmt: skip
    assert evaluate_stage.main(with_released_flags("evaluate", argv)) == 0
    return json.loads(out.read_text())


def test_prompt_trains_only_prompts_and_evaluates(data, tmp_path):
    """Bridge weights stay bit-identical; the checkpoint adds exactly the configured prompt tensors."""
    out = run_train(data, "prompt", tmp_path / "prompt.pt", *PROMPTS, "--lr", "0.01")
    bridge, trained = read_state_dict(data["weights"]), read_state_dict(out)
    prompt_keys = sorted(k for k in trained if k.startswith("prompts."))
    assert prompt_keys == ["prompts.text.0", "prompts.text.1", "prompts.text.2", "prompts.vision.0",
                           "prompts.vision.1"]  # fmt: skip
    assert set(trained) - set(prompt_keys) == set(bridge)
    assert all(torch.equal(bridge[k], trained[k]) for k in bridge)
    metrics = run_evaluate(data, "prompt", out, *PROMPTS)
    assert metrics["metrics"]["novel"]["videos"] == 3


def test_evl_trains_decoder_only_with_its_recipe(data, tmp_path):
    """EVL saves backbone + decoder; the backbone is untouched and the LR ends at 0 (cosine, no warmup)."""
    out = run_train(data, "evl", tmp_path / "evl.pt", *EVL_RECIPE, "--evl-layers", "2")
    clip, trained = read_state_dict(data["weights"]), read_state_dict(out)
    assert any(k.startswith("decoder.") for k in trained)
    assert all(torch.equal(clip[k], trained[f"clip.{k}"]) for k in clip)
    lrs = [float(line.split(",")[3]) for line in out.with_suffix(".csv").read_text().splitlines()[1:]]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] < lrs[0] / 2
    metrics = run_evaluate(data, "evl", out, "--evl-layers", "2", "--sampling", "dense", "--stride", "2",
                           "--normalize", "clip")  # fmt: skip
    assert metrics["metrics"]["base"]["classes"] == 3


def test_evl_refuses_a_clip_checkpoint_as_trained_model(data):
    with pytest.raises(WeightsError, match="no EVL decoder"):
        build_model(ModelSpec("evl", "vifi-tiny", 4, {"evl_layers": 2}), data["weights"], trained=True)


def test_gradient_checkpointing_gives_the_same_weights(data, tmp_path):
    """Recomputing activations in backward must not change the training result."""
    plain = read_state_dict(run_train(data, "vifi", tmp_path / "plain.pt"))
    ckpt = read_state_dict(run_train(data, "vifi", tmp_path / "ckpt.pt", "--grad-checkpointing"))
    assert plain.keys() == ckpt.keys()
    for key in plain:
        torch.testing.assert_close(plain[key], ckpt[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.parametrize("method", ["evl", "prompt"])
def test_new_parameters_are_drawn_from_the_rng_seed(data, method):
    """EVL's decoder and the prompt vectors start the same in every run of one seed, differently for another."""
    extra = PROMPTS if method == "prompt" else []

    def initial(seed: int, draw_before: bool) -> dict[str, torch.Tensor]:
        if draw_before:
            torch.rand(7)  # whatever ran earlier in the process must not matter
        argv = [
            "--frames", str(data["shard"]), "--train-list", "x", "--labels", "y", "--out", "z",
            "--log-csv", "w", "--weights", str(data["weights"]), "--arch", "vifi-tiny", "--method", method,
            "--num-frames", "4", "--epochs", "1", "--lr", "1e-3", "--batch-size", "2", "--effective-batch", "2",
            "--rng-seed", str(seed), *extra,
        ]  # fmt: skip
        parsed = train_stage.parser().parse_args(with_released_flags("train", argv))
        return train.initial_model(config_from_args(TrainConfig, parsed)).state_dict()

    first, again, other = initial(1, False), initial(1, True), initial(2, False)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
