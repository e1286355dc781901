"""`--arch openai`: an OpenAI-format CLIP of any size loads by its path alone, in every stage that builds one.

The source model is an open_clip CLIP of a size open_clip does not ship (width 64, 2 blocks, 8-pixel patches
on 32-pixel images, 16 text positions). open_clip's own CLIPs use OpenAI's key names, so its state dict, cast
to float16 as OpenAI's files are, is an OpenAI-format checkpoint; the same model traced is a TorchScript one.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest
import torch
from torch import nn

from tests.conftest import tiny_world, with_released_flags
from vifi import flops
from vifi.data.lists.splits import write_base2novel
from vifi.embeddings import load_embeddings
from vifi.models.factory import ModelSpec, build_model, saved_module
from vifi.models.pretrained import (
    OPENAI_ARCH,
    WeightsError,
    build_clip,
    load_weights,
    openai_config,
    read_state_dict,
    save_weights,
)
from vifi.stages import embed as embed_stage
from vifi.stages import evaluate as evaluate_stage
from vifi.stages import flops as flops_stage
from vifi.stages import predict as predict_stage
from vifi.stages import train as train_stage

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2},
}
NAMES = ["red circle moving left", "blue square growing", "green triangle"]
OPTIONS = {
    "prompt": {"n_ctx_vision": 2, "n_ctx_text": 2, "depth_vision": 1, "depth_text": 2},
    "evl": {"evl_layers": 1},
}


@pytest.fixture(scope="module")
def source() -> nn.Module:
    """The source CLIP, its weights rounded to float16 so that the float16 file holds them exactly."""
    torch.manual_seed(0)
    model = open_clip.CLIP(**CONFIG).eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.5)
        for param in model.parameters():
            param.copy_(param.half().float())
    return model


@pytest.fixture(scope="module")
def state_dict_file(source: nn.Module, tmp_path_factory) -> Path:
    """A plain OpenAI state dict: float16 tensors and the three scalars OpenAI stores beside them."""
    state = {k: v.half() for k, v in source.state_dict().items()}
    state |= {
        "input_resolution": torch.tensor(32),
        "context_length": torch.tensor(16),
        "vocab_size": torch.tensor(49408),
    }
    path = tmp_path_factory.mktemp("openai") / "ViT-tiny-64.pt"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def torchscript_file(source: nn.Module, tmp_path_factory) -> Path:
    """The source model traced and saved as a TorchScript archive, the format of OpenAI's released files."""
    traced = torch.jit.trace_module(source, {"encode_image": torch.randn(1, 3, 32, 32)}, check_trace=False)
    path = tmp_path_factory.mktemp("openai") / "ViT-tiny-64-jit.pt"
    torch.jit.save(traced, str(path))
    return path


def outputs(model: nn.Module, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Image features of two fixed images and text features of the class names."""
    images = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(tokenizer(NAMES))


@pytest.mark.parametrize("checkpoint", ["state_dict_file", "torchscript_file"])
def test_build_and_load_by_path_give_the_source_model(checkpoint: str, source: nn.Module, request) -> None:
    path = request.getfixturevalue(checkpoint)
    assert openai_config(read_state_dict(path), str(path)) == CONFIG
    model, tokenizer = build_clip(OPENAI_ARCH, path)
    load_weights(model, path)
    assert tokenizer(NAMES).shape == (3, 16)
    got = outputs(model.eval(), tokenizer)
    expected = outputs(source, open_clip.tokenizer.SimpleTokenizer(context_length=16))
    for g, e in zip(got, expected, strict=True):
        assert torch.equal(g, e)
    assert model.logit_scale.item() == 2.5


def test_every_method_builds_from_the_file_and_from_its_own_checkpoints(
    state_dict_file: Path, tmp_path
) -> None:
    """Trained checkpoints hold the CLIP at the top (prompts beside it) or under EVL's `clip.`."""
    video = torch.linspace(0, 1, 2 * 3 * 3 * 32 * 32).reshape(2, 3, 3, 32, 32)
    for method in ("vanilla", "vifi", "prompt", "evl"):
        spec = ModelSpec(method, OPENAI_ARCH, 3, OPTIONS.get(method, {}))
        initial = build_model(spec, state_dict_file).eval()
        saved = tmp_path / f"{method}.pt"
        save_weights(saved_module(initial), saved)
        trained = build_model(spec, saved, trained=method != "vanilla").eval()
        with torch.no_grad():
            text = initial.encode_text(initial.tokenize(NAMES))
            torch.testing.assert_close(trained(video, text), initial(video, text), rtol=0, atol=0, msg=method)


def test_flops_count_the_checkpoint_architecture(state_dict_file: Path, capsys) -> None:
    vifi_tiny_64 = flops.measure(ModelSpec("vifi", OPENAI_ARCH, 2), state_dict_file)
    reference = flops.measure(ModelSpec("vifi", "vifi-tiny", 2))
    assert 0 < vifi_tiny_64.forward < reference.forward  # width 64 x 2 blocks vs 128 x 4 blocks, same tokens
    out = state_dict_file.with_name("flops.json")
    argv = ["--arch", OPENAI_ARCH, "--weights", str(state_dict_file), "--json", str(out), "--method", "vifi",
            "--num-frames", "2"]  # fmt: skip
    assert flops_stage.main(argv) == 0
    assert json.loads(out.read_text()) == {"vifi": vifi_tiny_64.forward / flops.GIGA}
    with pytest.raises(SystemExit) as exc:
        flops_stage.main(["--arch", OPENAI_ARCH, "--method", "vifi", "--num-frames", "2"])
    assert exc.value.code == 2 and "reads the architecture from a checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("visual.proj"), r"no `visual.proj`: a ResNet image tower"),
        (lambda s: s.pop("text_projection"), r"no `text_projection`: not an OpenAI-format CLIP"),
        (lambda s: s.__setitem__("positional_embedding", torch.ones(16, 48)), r"text tower width 48 is not a"),
        (lambda s: s.__setitem__("visual.conv1.weight", torch.ones(96, 3, 8, 8)), r"image tower width 96"),
        (lambda s: s.__setitem__("token_embedding.weight", torch.ones(100, 64)), r"vocabulary of 100 tokens"),
        (lambda s: s.__setitem__("visual.positional_embedding", torch.ones(16, 64)), r"16 visual positions"),
    ],
)
def test_checkpoints_whose_architecture_cannot_be_read_are_named(source, tmp_path, change, message) -> None:
    state = dict(source.state_dict())
    change(state)
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=rf"odd\.pt: .*{message}"):
        build_clip(OPENAI_ARCH, path)


def test_openai_arch_needs_weights() -> None:
    with pytest.raises(WeightsError, match="reads the architecture from a checkpoint; none was given"):
        build_clip(OPENAI_ARCH)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """4 synthetic classes at 48x64, their frame store, base-to-novel splits (2 base classes)."""
    world = tiny_world(
        tmp_path_factory.mktemp("openai"),
        classes=4,
        train_per_class=(2, 2),
        height=48,
        width=64,
        frames=16,
    )
    splits = world["root"] / "splits"
    write_base2novel(world["labels"], world["train"], world["val"], splits, shots=2, seeds=[1])
    return world | {"splits": splits}


def stage_args(world: dict, weights: Path, method: str, *extra: str) -> list[str]:
    return ["--frames", str(world["shard"]), "--weights", str(weights), "--arch", OPENAI_ARCH, "--method",
            method, "--num-frames", "2", *extra]  # fmt: skip


def run_train(world: dict, weights: Path, method: str, out: Path, *extra: str) -> Path:
    s = world["splits"]
    argv = [
        *stage_args(world, weights, method, *extra), "--train-list", str(s / "fs_base_s1_train.txt"),
        "--labels", str(s / "base_labels.csv"), "--epochs", "1", "--warmup-epochs", "0", "--lr", "1e-3",
        "--batch-size", "2", "--effective-batch", "2", "--mixup", "0", "--cutmix", "0",
        "--out", str(out), "--log-csv", str(out.with_suffix(".csv")),
    ]  # fmt: skip
    assert train_stage.main(with_released_flags("train", argv)) == 0
    return out


def run_evaluate(world: dict, weights: Path, method: str, *extra: str) -> dict:
    s, out = world["splits"], weights.with_suffix(".json")
    argv = [
        *stage_args(world, weights, method, *extra), "--eval", "novel", str(s / "novel_val.txt"),
        str(s / "novel_labels.csv"), "--protocol", "base2novel", "--dataset", "ucf101", "--run-name", "seed1",
        "--out", str(out), "--predictions", str(out.with_name(out.stem + "-predictions.csv")),
    ]  # fmt: skip
    assert evaluate_stage.main(with_released_flags("evaluate", argv)) == 0
    return json.loads(out.read_text())["metrics"]["novel"]


def test_train_evaluate_embed_and_predict_run_on_openai_weights(
    world: dict, state_dict_file: Path, torchscript_file: Path, tmp_path: Path, capsys
) -> None:
    """ViFi-CLIP from the state dict, prompting from that model (the bridge), EVL from the TorchScript file."""
    vifi = run_train(world, state_dict_file, "vifi", tmp_path / "vifi.pt")
    prompts = ["--n-ctx-vision", "2", "--n-ctx-text", "2", "--depth-vision", "1", "--depth-text", "1"]
    prompt = run_train(world, vifi, "prompt", tmp_path / "prompt.pt", *prompts)
    evl = run_train(world, torchscript_file, "evl", tmp_path / "evl.pt", "--evl-layers", "1")
    added = sorted(k for k in read_state_dict(prompt) if k.startswith("prompts."))
    assert added == ["prompts.text.0", "prompts.vision.0"]
    assert any(k.startswith("clip.") for k in read_state_dict(evl))
    scored = [
        run_evaluate(world, vifi, "vifi"),
        run_evaluate(world, prompt, "prompt", *prompts),
        run_evaluate(world, evl, "evl", "--evl-layers", "1"),
    ]
    assert [(m["videos"], m["classes"]) for m in scored] == [(2, 2)] * 3

    embeddings = tmp_path / "vifi.npz"
    listed = [
        "--list",
        str(world["splits"] / "novel_val.txt"),
        "--labels",
        str(world["splits"] / "novel_labels.csv"),
    ]
    embed_stage.main(
        with_released_flags("embed", [*stage_args(world, vifi, "vifi"), *listed, "--out", str(embeddings)])
    )
    assert load_embeddings(embeddings).vectors.shape == (2, 32)

    videos = [str(world["raw"] / "videos" / k) for k in world["keys"][:1]]
    argv = [*videos, "--checkpoint", str(vifi), "--arch", OPENAI_ARCH, "--num-frames", "2", "--labels", "a,b"]
    assert predict_stage.main([*argv, "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["video"] == videos[0] and len(record["top"]) == 2
