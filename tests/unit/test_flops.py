"""FLOP counting: the counter's convention, linearity in frames, EVL's cost split, and what training costs."""

import copy
import json

import pytest
import torch
from torch import nn

from tests.conftest import TINY
from vifi.flops import count_flops, forward_flops, measure, meta_model, train_flops
from vifi.models.evl import EVLConfig, OpenVocabEVL
from vifi.models.factory import ModelSpec
from vifi.models.pretrained import build_clip
from vifi.models.vificlip import VideoCLIP
from vifi.stages.flops import main

ARCH = "vifi-tiny"  # 32 px, patch 8: 16 patches + CLS; 4 blocks; widths in TINY
TINY_OPTIONS = {
    "prompt": {"n_ctx_vision": 4, "n_ctx_text": 4, "depth_vision": 2, "depth_text": 2},
    "evl": {"evl_layers": 2},
}


def _inputs(frames: int, classes: int = 3, device: str = "meta") -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(1, frames, 3, 32, 32, device=device), torch.zeros(classes, TINY.joint, device=device)


def test_a_linear_layer_counts_two_flops_per_multiply_add():
    layer, batch = nn.Linear(24, 10), 3
    assert count_flops(lambda: layer(torch.zeros(batch, 24))).get_total_flops() == 2 * 24 * 10 * batch


def test_vifi_clip_flops_are_linear_in_frames():
    model = meta_model(ModelSpec("vifi", ARCH, 4))
    short, long = (forward_flops(model, *_inputs(frames)) for frames in (4, 8))
    assert long / short == pytest.approx(2.0, rel=0.01)


def test_evl_costs_its_backbone_per_frame_plus_a_decoder():
    """Every counted FLOP of an EVL view is accounted for: T frames of the image tower minus its output
    projection (EVL reads the residual stream), the q/k re-projection `backbone_features` does for each
    decoder block, the decoder, and the query's projection into the joint space plus the logits."""
    frames, classes, layers = 4, 3, 2
    width, tokens, joint = TINY.width, 17, TINY.joint
    model = meta_model(ModelSpec("evl", ARCH, frames, {"evl_layers": layers}))
    video, text = _inputs(frames, classes)
    total = forward_flops(model, video, text)
    decoder = forward_flops(model, video, text, within="decoder")
    per_frame = count_flops(lambda: model.clip.visual(video[:, 0])).get_total_flops()
    output_projection = 2 * width * joint
    query_key = layers * 2 * tokens * width * 2 * width
    assert decoder > 0
    assert total - decoder == (
        frames * (per_frame - output_projection + query_key) + output_projection + 2 * joint * classes
    )


@pytest.mark.parametrize(
    "model_fn",
    [
        lambda clip, tok: VideoCLIP(clip, tok, "vifi"),
        lambda clip, tok: OpenVocabEVL(clip, tok, EVLConfig(num_frames=4), "a photo of a {}."),
    ],
    ids=["vifi", "evl"],
)
def test_counts_on_a_real_device_in_eval_mode_match_meta(model_fn):
    """Fused attention kernels (MHA's inference path, CPU flash SDPA) would hide FLOPs from the counter."""
    torch.manual_seed(0)
    model = model_fn(*build_clip(ARCH)).eval()
    on_meta = copy.deepcopy(model).to("meta")
    with torch.no_grad():
        real = forward_flops(model, *_inputs(4, device="cpu"))
    assert real == forward_flops(on_meta, *_inputs(4))


@pytest.mark.parametrize(
    ("method", "low", "high"),
    [
        ("vifi", 2.9, 3.1),  # weights and activations of the whole image tower get gradients
        ("text", 1.0, 1.01),  # frozen image tower: only the logits' backward into the text features
        ("prompt", 1.8, 2.2),  # input gradients through every block, no weight gradients
        ("evl", 1.0, 1.5),  # frozen backbone under no_grad, backward through the decoder only
    ],
)
def test_training_cost_depends_on_what_trains(method, low, high):
    cost = measure(ModelSpec(method, ARCH, 4, TINY_OPTIONS.get(method, {})))
    assert low <= cost.train / cost.forward <= high
    assert cost.text_trains == (method != "evl")


def test_frozen_text_has_no_training_text_cost():
    model = meta_model(ModelSpec("image", ARCH, 4))
    video, text = _inputs(4)
    assert not model.text_trains
    assert measure(ModelSpec("image", ARCH, 4)).text_train == 0
    assert train_flops(model, video, text) > 2.9 * forward_flops(model, video, text)


def test_cli_prints_gflops_per_view(capsys):
    assert main(["--arch", ARCH, "--method", "vifi", "--num-frames", "4"]) == 0
    assert "vifi vifi-tiny 4 frames:" in capsys.readouterr().out


def test_cli_json_holds_the_printed_gflops_per_view(tmp_path, capsys):
    """The fully supervised table's compute column reads this file."""
    out = tmp_path / "flops.json"
    assert (
        main(["--arch", ARCH, "--method", "evl", "--num-frames", "4", "--evl-layers", "2", "--json", str(out)])
        == 0
    )
    ((method, gflops),) = json.loads(out.read_text()).items()
    assert method == "evl" and f"{gflops:.1f} GFLOPs/view" in capsys.readouterr().out


def test_cli_counts_each_method_section_as_if_alone(tmp_path):
    """One call for the fully supervised table's methods: each `--method` with its own flags and frames."""
    alone = {}
    for method, extra in [("vifi", ["--num-frames", "4"]), ("evl", ["--num-frames", "2", "--evl-layers", "2"])]:
        main(["--arch", ARCH, "--method", method, *extra, "--json", str(tmp_path / f"{method}.json")])
        alone |= json.loads((tmp_path / f"{method}.json").read_text())
    out = tmp_path / "both.json"
    sections = [
        "--method",
        "vifi",
        "--num-frames",
        "4",
        "--method",
        "evl",
        "--num-frames",
        "2",
        "--evl-layers",
        "2",
    ]
    assert main(["--arch", ARCH, "--json", str(out), *sections]) == 0
    assert json.loads(out.read_text()) == alone
    assert alone["vifi"] != alone["evl"]
