"""Deep VL prompting around open_clip: parameter counts, freezing, token positions and checkpoint flow."""

import copy
import functools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import TINY
from vifi.models.pretrained import WeightsError, build_clip, read_state_dict, save_weights
from vifi.models.prompts import PLACEHOLDER, PromptedCLIP, load_prompted_weights, prompt_parameter_count
from vifi.models.vificlip import VideoCLIP

BASE = ["red_circle moving left", "blue square"]
NOVEL = ["green triangle shrinking slowly to nothing", "dot", "yellow_star spinning"]


@functools.cache
def random_clip(seed: int) -> tuple[torch.nn.Module, object]:
    """A seeded random vifi-tiny CLIP, built once per seed: building costs more than most tests."""
    torch.manual_seed(seed)
    return build_clip("vifi-tiny")


def tiny(n_v: int = 3, n_t: int = 4, d_v: int = 2, d_t: int = 3, seed: int = 0) -> PromptedCLIP:
    """A prompted copy of vifi-tiny (4 layers each side, 32 px frames, 16 patches), reproducible per seed."""
    clip, tok = random_clip(seed)
    torch.manual_seed(seed)
    return PromptedCLIP(
        copy.deepcopy(clip), tok, n_ctx_vision=n_v, n_ctx_text=n_t, depth_vision=d_v, depth_text=d_t
    )


def trainable(model: PromptedCLIP) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def train_step(model: PromptedCLIP, classnames: list[str]) -> None:
    """One AdamW step over *all* parameters with weight decay, as the paper's single parameter group does."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.001)
    video = torch.randn(2, 2, 3, 32, 32)
    logits = model(video, model.encode_text(model.tokenize(classnames)))
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    optimizer.step()


def block_inputs(blocks, run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """`run()`'s result and the sequence each block received during it, recorded by forward pre-hooks."""
    seen: list[torch.Tensor] = []

    def record(_: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0].detach().clone())

    handles = [b.register_forward_pre_hook(record) for b in blocks]
    try:
        with torch.no_grad():
            return run(), seen
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize(("n_v", "n_t", "d_v", "d_t"), [(3, 4, 2, 3), (1, 2, 4, 1), (0, 5, 0, 4), (6, 0, 4, 0)])
def test_only_prompts_train_and_their_count_follows_the_formula(n_v, n_t, d_v, d_t):
    model = tiny(n_v, n_t, d_v, d_t)
    params = trainable(model)
    assert all(name.startswith("clip.prompts.") for name in params)
    assert sum(p.numel() for p in params.values()) == prompt_parameter_count(
        TINY.width, TINY.width, n_v, n_t, d_v, d_t
    )
    assert not model.clip.logit_scale.requires_grad and not model.clip.token_embedding.weight.requires_grad
    assert model.text_trains == (n_t > 0)


def test_vit_b16_prompt_counts_match_the_shipped_settings():
    clip, tok = build_clip("ViT-B-16")
    assert (clip.visual.transformer.width, clip.transformer.width) == (768, 512)
    for (n, d), expected in [((16, 9), 184_320), ((10, 12), 153_600)]:
        model = PromptedCLIP(clip, tok, n_ctx_vision=n, n_ctx_text=n, depth_vision=d, depth_text=d)
        assert sum(p.numel() for p in trainable(model).values()) == expected
        assert prompt_parameter_count(768, 512, n, n, d, d) == expected


def test_a_training_step_changes_the_prompts_and_no_frozen_bit():
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_step(model, BASE)
    after = model.state_dict()
    prompts = [k for k in before if k.startswith("clip.prompts.")]
    assert len(prompts) == 5
    assert all(not torch.equal(before[k], after[k]) for k in prompts)
    assert all(torch.equal(before[k], after[k]) for k in before if k not in prompts)
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


def test_without_prompts_the_code_path_equals_open_clip():
    """n_ctx = 0 runs the same block-by-block path with nothing inserted: it must be open_clip's forward."""
    model = tiny(0, 0, 0, 0).eval()
    plain = VideoCLIP(model.clip, model.tokenizer, "vanilla")
    video = torch.randn(2, 3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_video(video), plain.encode_video(video), rtol=0, atol=0)
        text = model.encode_text(model.tokenize(NOVEL))
        reference = model.clip.encode_text(model.tokenizer([f"{n.replace('_', ' ')}." for n in NOVEL]))
    torch.testing.assert_close(text, reference, rtol=0, atol=0)


def test_shallow_text_context_set_to_the_placeholder_embedding_reproduces_open_clip():
    """With depth 1 and ctx = embedding of `X`, the prompted text path is plain CLIP on `"X … X {class}."`.

    Class names of different lengths put EOT at different positions, so this also checks the pooling.
    """
    model = tiny(n_t=4, d_t=1).eval()
    tokens = model.tokenize(NOVEL)
    assert len(set(tokens.argmax(dim=-1).tolist())) == len(NOVEL)
    x_id = model.tokenizer([PLACEHOLDER])[0, 1]
    with torch.no_grad():
        model.prompts.text[0].copy_(model.clip.token_embedding.weight[x_id].expand(4, -1))
        torch.testing.assert_close(model.encode_text(tokens), model.clip.encode_text(tokens))


def test_vision_prompts_are_appended_after_the_patches_and_replaced_per_layer():
    n_v, d_v = 3, 2
    model = tiny(n_v=n_v, d_v=d_v).eval()
    visual, vision = model.clip.visual, model.prompts.vision
    frames = torch.randn(2, 3, 32, 32)
    blocks = visual.transformer.resblocks
    pooled, seen = block_inputs(blocks, lambda: model.encode_image(frames))
    with torch.no_grad():
        embedded, first_prompts = visual._embeds(frames), visual.ln_pre(vision[0])
        outputs = [blk(x) for blk, x in zip(blocks, seen, strict=True)]
        expected_pooled = visual.ln_post(outputs[-1][:, 0]) @ visual.proj
    assert [x.shape[1] for x in seen] == [1 + 16 + n_v] * 4
    torch.testing.assert_close(seen[0][:, :-n_v], embedded)
    torch.testing.assert_close(seen[0][:, -n_v:], first_prompts.expand(2, -1, -1))
    torch.testing.assert_close(seen[1][:, -n_v:], vision[1].detach().expand(2, -1, -1))
    torch.testing.assert_close(seen[1][:, :-n_v], outputs[0][:, :-n_v])
    for i in range(d_v, 4):
        torch.testing.assert_close(seen[i], outputs[i - 1])
    torch.testing.assert_close(pooled, expected_pooled)


def test_text_prompts_replace_positions_1_to_n_before_each_prompted_block():
    n_t, d_t = 4, 3
    model = tiny(n_t=n_t, d_t=d_t).eval()
    clip, text = model.clip, model.prompts.text
    tokens = model.tokenize(BASE)
    blocks = clip.transformer.resblocks
    _, seen = block_inputs(blocks, lambda: model.encode_text(tokens))
    with torch.no_grad():
        outputs = [blk(x, attn_mask=clip.attn_mask) for blk, x in zip(blocks, seen, strict=True)]
        frozen = clip.token_embedding(tokens) + clip.positional_embedding
    slot = slice(1, 1 + n_t)
    torch.testing.assert_close(
        seen[0][:, slot], (text[0] + clip.positional_embedding[slot]).detach().expand(2, -1, -1)
    )
    torch.testing.assert_close(seen[0][:, :1], frozen[:, :1])
    torch.testing.assert_close(seen[0][:, 1 + n_t :], frozen[:, 1 + n_t :])
    for i in range(1, d_t):
        torch.testing.assert_close(seen[i][:, slot], text[i].detach().expand(2, -1, -1))
        torch.testing.assert_close(seen[i][:, :1], outputs[i - 1][:, :1])
        torch.testing.assert_close(seen[i][:, 1 + n_t :], outputs[i - 1][:, 1 + n_t :])
    torch.testing.assert_close(seen[d_t], outputs[d_t - 1])


def test_tokenize_fills_the_template_and_foreign_tokens_are_refused():
    model = tiny(n_t=2)
    torch.testing.assert_close(model.tokenize(["red_circle"]), model.tokenizer(["X X red circle."]))
    with pytest.raises(ValueError, match="placeholders"):
        model.encode_text(model.tokenizer(["a photo of a red circle."]))


@pytest.mark.parametrize(("n_v", "d_v"), [(4, 0), (0, 2), (4, 5), (-1, 0)])
def test_inconsistent_prompt_settings_are_rejected(n_v, d_v):
    with pytest.raises(ValueError, match="vision"):
        tiny(n_v=n_v, d_v=d_v)


def test_shapes_for_video_input():
    model = tiny().eval()
    with torch.no_grad():
        text = model.encode_text(model.tokenize(NOVEL))
        video = model.encode_video(torch.randn(2, 5, 3, 32, 32))
        logits = model(torch.randn(2, 5, 3, 32, 32), text)
    assert text.shape == (3, TINY.joint) and video.shape == (2, TINY.joint) and logits.shape == (2, 3)


def test_novel_classes_after_training_on_base_survive_a_checkpoint_round_trip(tmp_path):
    model = tiny()
    with torch.no_grad():
        untrained = model.encode_text(model.tokenize(NOVEL))
    train_step(model, BASE)
    save_weights(model.clip, tmp_path / "prompted.pt", arch="vifi-tiny")
    reloaded = tiny(seed=1)
    assert load_prompted_weights(reloaded, tmp_path / "prompted.pt") == []
    with torch.no_grad():
        novel = model.encode_text(model.tokenize(NOVEL))
        torch.testing.assert_close(reloaded.encode_text(reloaded.tokenize(NOVEL)), novel)
    assert novel.shape == (3, TINY.joint) and not torch.allclose(novel, untrained)


def test_bridge_checkpoint_loads_with_only_the_prompt_keys_missing(tmp_path):
    bridge, _ = random_clip(2)
    save_weights(bridge, tmp_path / "bridge.pt", arch="vifi-tiny")
    model = tiny()
    fresh = {k: v.clone() for k, v in model.prompts.state_dict().items()}
    missing = load_prompted_weights(model, tmp_path / "bridge.pt")
    assert missing == sorted(f"prompts.{k}" for k in fresh)
    for key, value in bridge.state_dict().items():
        assert torch.equal(model.clip.state_dict()[key], value)
    assert all(torch.equal(model.prompts.state_dict()[k], v) for k, v in fresh.items())

    state = read_state_dict(tmp_path / "bridge.pt")
    state.pop("ln_final.weight")
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match=r"broken.pt.*1 missing \['ln_final.weight'\]"):
        load_prompted_weights(model, tmp_path / "broken.pt")


def prompt_gradients(checkpointing: bool, training: bool = True) -> tuple[list[torch.Tensor], int]:
    """Prompt gradients of one loss, and how often the first vision and text blocks ran to produce them."""
    model = tiny().train(training)
    model.clip.set_grad_checkpointing(checkpointing)
    first_blocks = [model.clip.visual.transformer.resblocks[0], model.clip.transformer.resblocks[0]]
    runs = []
    handles = [b.register_forward_pre_hook(lambda *_: runs.append(1)) for b in first_blocks]
    torch.manual_seed(0)
    logits = model(torch.randn(2, 2, 3, 32, 32), model.encode_text(model.tokenize(BASE)))
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    for handle in handles:
        handle.remove()
    return [p.grad for p in model.prompts.parameters()], len(runs)


def test_gradient_checkpointing_recomputes_blocks_and_keeps_prompt_gradients():
    plain, plain_runs = prompt_gradients(False)
    checkpointed, checkpointed_runs = prompt_gradients(True)
    assert (plain_runs, checkpointed_runs) == (2, 4)  # backward re-runs each checkpointed block once
    assert len(plain) == 5 and all(g is not None and g.abs().sum() > 0 for g in plain)
    for expected, actual in zip(plain, checkpointed, strict=True):
        torch.testing.assert_close(actual, expected)
    assert prompt_gradients(True, training=False)[1] == 2  # evaluation never checkpoints
